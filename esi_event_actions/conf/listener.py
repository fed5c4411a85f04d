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
"""[listener] options: where esi-leap's notifications are consumed."""

from oslo_config import cfg

from esi_event_actions import optiontypes as types

group = cfg.OptGroup('listener', title='Notification listener options')

opts = [
    cfg.ListOpt('topics',
                default=['esi_leap_versioned_notifications'],
                help='Notification topics esi-leap publishes on (its '
                     '[notification] versioned_notifications_topics). The '
                     'listener consumes <topic>.info and <topic>.error.'),
    cfg.StrOpt('exchange',
               default='openstack',
               help='Exchange esi-leap publishes to (its control_exchange).'),
    cfg.StrOpt('pool',
               help='Listener pool name. Instances sharing a pool share '
                    'the work; instances in different pools each receive '
                    'every notification. Unset: consume the topic queues '
                    'themselves, as the legacy listener did.'),
    cfg.IntOpt('batch_size',
               default=64, min=1, max=10000,
               help='Most notifications handled, and journalled in one '
                    'transaction, at a time.'),
    cfg.Opt('batch_timeout', type=types.Float(min=0, max=types.HOUR),
            default=0.0,
            help='Seconds to wait, after the first notification of a '
                 'batch, for more to arrive. 0: a batch is what has '
                 'arrived already, with no added latency; under load '
                 'batches fill from what the broker has delivered.'),
    cfg.Opt('requeue_delay', type=types.Float(min=0, max=types.HOUR),
            default=1.0,
            help='Seconds to wait before handing a batch back to the '
                 'broker when the journal cannot store it, so that a '
                 'broken journal does not spin through the queue.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return opts
