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
"""[DEFAULT] options (the legacy listener's keys are in conf.legacy)."""

from oslo_config import cfg

from esi_event_actions.conf import legacy


opts = [
    cfg.StrOpt('state_path',
               default='/var/lib/esi-event-actions',
               help='Top-level directory for maintaining the service\'s '
                    'state, such as the journal database.'),
]


def register_opts(conf):
    conf.register_opts(opts)


def list_opts():
    return opts + legacy.list_opts()
