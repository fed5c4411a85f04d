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
"""[journal] options: the durable store of jobs."""

from oslo_config import cfg

from esi_event_actions import optiontypes as types

group = cfg.OptGroup('journal', title='Journal options')

opts = [
    cfg.StrOpt('connection',
               default='sqlite:///$state_path/journal.sqlite',
               secret=True,
               help='SQLAlchemy URL of the journal database.'),
    cfg.StrOpt('sqlite_synchronous',
               default='FULL',
               choices=[('FULL', 'a committed job survives power loss'),
                        ('NORMAL', 'a committed job survives a crash of '
                                   'the service, not of the host')],
               help='SQLite synchronous level (SQLite journals only). A '
                    'notification is acknowledged once its jobs are '
                    'committed, so this decides what a power cut can '
                    'lose.'),
    cfg.Opt('done_retention_days', type=types.Float(min=0, max=36500),
            default=7.0,
            help='Days a done or skipped job is kept before it is '
                 'deleted. 0 keeps them for ever. Dead jobs are kept '
                 'until an operator retries or purges them.'),
    cfg.Opt('context_max_bytes', type=types.Integer(min=2, max=1048576),
            default=16384,
            help='Largest context of one lease, in bytes of its JSON text. '
                 'An action whose writes would make it larger fails, and '
                 'its writes are not kept.'),
    cfg.Opt('context_retention_days', type=types.Float(min=0, max=36500),
            default=7.0,
            help='Days a lease\'s context is kept after the lease ended '
                 '(after a job of its delete event ended), once no job of '
                 'the lease is left to run. 0 keeps them for ever.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return opts
