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
"""The oslo.service services on the in-memory transport."""

from esi_event_actions import bootstrap
from esi_event_actions import service
from esi_event_actions.tests.common import base


class ServiceTest(base.TestCase):

    def test_start_and_stop_on_fake_transport(self):
        self.script('s.sh')
        self.load('''
            [DEFAULT]
            transport_url = fake://
            [journal]
            connection = sqlite:///%s/journal.sqlite
            [r]
            events = esi_leap.lease.fulfill.end
            script = s.sh
            ''' % self.dir)
        svc = service.ListenerService(self.conf, bootstrap.check(self.conf))
        svc.start()
        self.assertIsNotNone(svc.listener)
        svc.stop()
        svc.wait()
        self.assertIn('Listening on esi_leap_versioned_notifications',
                      self.logger.output)
