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
"""Configuration of esi-event-actions, one module per option group."""

from oslo_config import cfg

from esi_event_actions.conf import default
from esi_event_actions.conf import email_keystone
from esi_event_actions.conf import esi_leap
from esi_event_actions.conf import journal
from esi_event_actions.conf import legacy
from esi_event_actions.conf import listener
from esi_event_actions.conf import metrics
from esi_event_actions.conf import poller
from esi_event_actions.conf import worker

CONF = cfg.CONF


def register_opts(conf):
    for module in (default, legacy, listener, worker, journal, poller,
                   metrics, esi_leap, email_keystone):
        module.register_opts(conf)


register_opts(CONF)
