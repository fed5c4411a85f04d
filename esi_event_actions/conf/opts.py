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
"""Option listing for oslo-config-generator and the documentation."""

from esi_event_actions.conf import default
from esi_event_actions.conf import esi_leap
from esi_event_actions.conf import journal
from esi_event_actions.conf import listener
from esi_event_actions.conf import metrics
from esi_event_actions.conf import poller
from esi_event_actions.conf import rule
from esi_event_actions.conf import worker

# A finite prefetch keeps one consumer from hoarding a backlog and bounds what
# a crash hands back to the broker.
DEFAULT_PREFETCH = 64


def service_opts():
    """The service's own option groups (rules excluded)."""
    return [
        ('DEFAULT', default.list_opts()),
        (listener.group, listener.list_opts()),
        (worker.group, worker.list_opts()),
        (journal.group, journal.list_opts()),
        (poller.group, poller.list_opts()),
        (metrics.group, metrics.list_opts()),
    ]


def list_opts():
    return service_opts() + [
        # keystoneauth registers the auth plugin's own options only when
        # it loads the plugin, so these are listed but not checked.
        (esi_leap.group, esi_leap.list_opts()),
    ] + rule.example_groups()


def set_lib_defaults():
    """Override library defaults that do not suit this service.

    oslo.messaging has no public setter for the prefetch count, and the
    config generator only sees defaults set on the library's own Opt
    objects, so the default is changed there (see oslo_internals).
    """
    # Imported here: oslo_internals imports the metrics, which import the
    # option groups of this package.
    from esi_event_actions import oslo_internals
    oslo_internals.set_prefetch_default(DEFAULT_PREFETCH)
