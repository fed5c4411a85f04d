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
"""The original pika listener's configuration keys, still understood.

A file written for it keeps working: ``user``, ``password``, ``host`` and
``port`` in [DEFAULT] build the transport URL when none is configured, and
``queues`` names the topics when [listener] topics is left alone.
"""

import urllib.parse

from oslo_config import cfg

from esi_event_actions import optiontypes as types

_LEGACY_REASON = ('Kept so that configuration files written for the original '
                  'pika listener work unchanged. Use transport_url and '
                  '[listener] topics instead.')

opts = [
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


def list_opts():
    return opts


def _is_set(conf, name, group=None):
    """Whether an option was given, rather than left at its default."""
    location = conf.get_location(name, group)
    if location is None:
        # oslo.config cannot locate a value that was never set anywhere.
        return bool((conf[group] if group else conf)[name])
    return location.location not in (cfg.Locations.opt_default,
                                     cfg.Locations.set_default)


def transport_url(conf):
    """A transport URL from the legacy user/password/host/port keys.

    Used only when no transport URL is configured, so a file written for
    the original listener connects where it always did.
    """
    if (_is_set(conf, 'transport_url', 'oslo_messaging_notifications')
            or _is_set(conf, 'transport_url') or not conf.host):
        return None
    quote = urllib.parse.quote
    auth = ''
    if conf.user:
        auth = quote(conf.user, safe='')
        if conf.password:
            auth += ':' + quote(conf.password, safe='')
        auth += '@'
    host = conf.host
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host
    port = ':%d' % conf.port if conf.port else ''
    return 'rabbit://%s%s%s/' % (auth, host, port)


def topics(conf):
    """Topics to consume; the legacy "queues" key names them too."""
    configured = conf.listener.topics
    if conf.queues and configured == ['esi_leap_versioned_notifications']:
        found = []
        for queue in conf.queues:
            topic = queue.rsplit('.', 1)[0] if queue.endswith(
                ('.info', '.error')) else queue
            if topic not in found:
                found.append(topic)
        return found
    return configured
