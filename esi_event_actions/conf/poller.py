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
"""[poller] options: the tenant-mode source, esi-leap's event history."""

from oslo_config import cfg

from esi_event_actions import optiontypes as types

group = cfg.OptGroup('poller', title='Event history poller options')

opts = [
    cfg.Opt('poll_interval', type=types.Float(min=1, max=types.DAY),
            default=30.0,
            help='Seconds between two reads of the event history.'),
    cfg.ListOpt('event_types',
                default=[],
                help='Ask esi-leap only for these event types (its '
                     'event_type filter takes one: with several, every '
                     'type is asked for in turn). Empty: all, and rules '
                     'choose.'),
    cfg.StrOpt('resource_type',
               help='Ask only for events about this resource type, such as '
                    'ironic_node.'),
    cfg.StrOpt('resource_uuid',
               help='Ask only for events about this node.'),
    cfg.StrOpt('project',
               help='Ask only for events whose lessee or owner is this '
                    'project id (esi-leap\'s lessee_or_owner_id). Useful '
                    'for an admin; a tenant only sees its own anyway.'),
    cfg.Opt('start_from',
            type=types.ChoiceOrId(('now', 'beginning')),
            default='now',
            help='Where a poller with no checkpoint yet begins: "now" '
                 '(the newest event; nothing old is acted on), '
                 '"beginning" (every event esi-leap still has), or an '
                 'event id to start after.'),
    cfg.IntOpt('lookback',
               default=50, min=0, max=1000000,
               help='How many ids below the checkpoint are read again on '
                    'each poll, to catch events whose ids were committed '
                    'out of order. Events already handled are recognised '
                    'and skipped.'),
    cfg.Opt('max_backoff', type=types.Float(min=1, max=types.DAY),
            default=300.0,
            help='Longest wait between polls after errors. Failed '
                 'polls are retried with exponential backoff up to '
                 'this.'),
    cfg.StrOpt('checkpoint_name',
               default='esi-leap',
               help='Name of this poller\'s checkpoint in the journal, '
                    'for several pollers (different clouds) sharing one '
                    'journal.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return opts
