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
"""The normalised event: lookups, node, time."""

from esi_event_actions import event
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap


class EventTest(base.TestCase):

    def test_time_parses_oslo_and_iso_timestamps(self):
        def at(stamp):
            return event.Event('t', {}, id='m', timestamp=stamp).time
        self.assertEqual('2026-11-26 19:37:24.284971',
                         str(at('2026-11-26 19:37:24.284971')))
        self.assertEqual('2026-11-26 19:37:24',
                         str(at('2026-11-26T19:37:24Z')))
        self.assertEqual('2026-11-26 18:37:24',
                         str(at('2026-11-26T19:37:24+01:00')))
        for bad in (None, 7, 'yesterday', ''):
            self.assertIsNone(at(bad))

    def test_lookup_and_node(self):
        evt = fake_esi_leap.lease_event(resource_uuid='r-1', node_uuid='n-1')
        self.assertEqual('r-1', evt.node)
        self.assertIs(event.MISSING, evt.lookup('properties.none'))
        self.assertIsNone(event.Event('t', {'resource_uuid': 5}, id='m').node)
