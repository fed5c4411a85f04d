# Copyright 2026 esi-event-actions authors
#
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
"""[DEFAULT] options, including the legacy listener's connection keys."""

from oslo_config import cfg

from esi_event_actions.conf import types

_LEGACY_REASON = ('Kept so that configuration files written for the original '
                  'pika listener work unchanged. Use transport_url and '
                  '[listener] topics instead.')

opts = [
    cfg.StrOpt('state_path',
               default='/var/lib/esi-event-actions',
               help='Top-level directory for maintaining the service\'s '
                    'state, such as the journal database.'),
]

legacy_opts = [
    cfg.Opt('user', type=types.String(),
            deprecated_for_removal=True, deprecated_reason=_LEGACY_REASON,
            help='RabbitMQ user name. Used with password, host and port to '
                 'build the transport URL when transport_url is not set.'),
    cfg.Opt('password', type=types.String(), secret=True,
            deprecated_for_removal=True, deprecated_reason=_LEGACY_REASON,
            help='RabbitMQ password; see user.'),
    cfg.Opt('host', type=types.String(),
            deprecated_for_removal=True, deprecated_reason=_LEGACY_REASON,
            help='RabbitMQ host name or address; see user.'),
    cfg.Opt('port', type=types.Integer(min=1, max=65535),
            deprecated_for_removal=True, deprecated_reason=_LEGACY_REASON,
            help='RabbitMQ port; see user.'),
    cfg.Opt('queues', type=types.List(item_type=types.String()),
            deprecated_for_removal=True, deprecated_reason=_LEGACY_REASON,
            help='Queues to consume, such as '
                 'esi_leap_versioned_notifications.info. The topic is the '
                 'queue name without its priority suffix; when set and '
                 '[listener] topics is left at its default, these topics '
                 'are used.'),
]


def register_opts(conf):
    conf.register_opts(opts)
    conf.register_opts(legacy_opts)


def list_opts():
    return opts + legacy_opts
