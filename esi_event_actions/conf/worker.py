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
"""[worker] options: the pool that runs actions from the journal."""

from oslo_config import cfg

from esi_event_actions import optiontypes as types

group = cfg.OptGroup('worker', title='Action worker options')

opts = [
    cfg.IntOpt('workers',
               default=8, min=1, max=1024,
               help='Actions run at once. Jobs about one node always run '
                    'one after the other in arrival order; jobs about '
                    'different nodes run in parallel up to this number.'),
    cfg.IntOpt('output_limit',
               default=4096, min=0, max=1024 * 1024,
               help='Characters of an action\'s output (standard output, '
                    'then standard error) kept in the journal.'),
    cfg.IntOpt('max_attempts',
               default=5, min=1, max=1000, mutable=True,
               help='Attempts at a job whose action fails in a way that '
                    'may pass later (a script\'s non-zero exit, a '
                    'timeout) before the job is dead. A rule may set its '
                    'own.'),
    cfg.Opt('retry_base_delay', type=types.Float(min=0, max=types.DAY),
            default=10.0, mutable=True,
            help='Seconds before the first retry. Each later retry '
                 'waits twice as long, plus random jitter of up to '
                 'this much. A rule may set its own.'),
    cfg.Opt('retry_max_delay', type=types.Float(min=0, max=types.WEEK),
            default=600.0, mutable=True,
            help='Longest wait between two attempts. A rule may set '
                 'its own.'),
    cfg.BoolOpt('dead_blocks_node',
                default=False,
                help='Whether a dead job holds back the later jobs about '
                     'the same node until an operator retries or purges '
                     'it. By default later jobs go ahead: the order is '
                     'kept among the jobs that run.'),
    cfg.Opt('lease_timeout', type=types.Float(min=1, max=types.DAY),
            default=60.0,
            help='Seconds a worker\'s claim on a job lasts unless '
                 'renewed. Running jobs are renewed every third of '
                 'this; the jobs of an instance that died are claimed '
                 'by another instance sharing the journal once their '
                 'lease has expired.'),
    cfg.Opt('poll_interval', type=types.Float(min=0.05, max=types.HOUR),
            default=1.0,
            help='Seconds between looks at the journal for jobs that '
                 'nobody announced: retries falling due and jobs '
                 'added by other instances.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return opts
