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
"""The log action."""

import json

from esi_event_actions import event
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap


class LogActionTest(base.TestCase):

    def test_one_structured_line(self):
        self.load('''
            [log]
            events = esi_leap.lease.*.end
            action = log
            params = node_name,properties.x
            ''')
        rule = ruleloader.load(self.conf).by_name['log']
        evt = event.Event('esi_leap.lease.delete.end',
                          fake_esi_leap.lease_data(node_name='n1'), id='m9')
        self.assertTrue(rule.action.run(evt, rule.params(evt), 1).ok)
        line = [ln for ln in self.logger.output.splitlines()
                if ln.startswith('esi-event ')][0]
        logged = json.loads(line[len('esi-event '):])
        self.assertEqual({'rule': 'log', 'event_type':
                          'esi_leap.lease.delete.end', 'event_id': 'm9',
                          'node': evt.node, 'lease': evt.lease, 'attempt': 1,
                          'params': {'node_name': 'n1', 'properties.x': ''}},
                         logged)
