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

group = cfg.OptGroup('worker', title='Action worker options')

opts = [
    cfg.IntOpt('workers',
               default=8, min=1,
               help='Actions run at once. Jobs about one node always run '
                    'one after the other in arrival order; jobs about '
                    'different nodes run in parallel up to this number.'),
    cfg.IntOpt('output_limit',
               default=4096, min=0,
               help='Bytes of an action\'s output kept in the journal.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return opts
