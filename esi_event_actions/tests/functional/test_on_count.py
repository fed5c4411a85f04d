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
"""A counting watchdog end to end: real broker, real service, real script."""

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import base

ERROR = 'esi_leap.lease.fulfill.error'

RULE = '''
    [third-failure]
    events = esi_leap.lease.fulfill.error
    script = page.sh
    script_params = uuid
    on_count = 3
    '''


class CountingWatchdogTest(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.pages = self.recorder('page.sh')
        self.svc = self.service(self.config(RULE))
        self.svc.wait_listening()

    def errors(self, lease, *statuses):
        """esi-leap's fulfill.error of a lease, one per status.

        Its first error of a lease carries the status the lease had,
        created; its retries, a minute apart, carry wait fulfill.
        """
        for status in statuses:
            self.esi_leap.emit(ERROR, dict(lease, status=status))

    def rows(self, lease):
        return [r for r in self.journal_rows() if lease['uuid'] in r['event']]

    def wait_rows(self, lease, count):
        base.wait_for(lambda: len(self.rows(lease)) == count and all(
            r['state'] in (journal.DONE, journal.SKIPPED)
            for r in self.rows(lease)), 60, '%d jobs of the lease' % count)
        return self.rows(lease)

    def test_the_third_error_of_a_lease_acts_once(self):
        failing = fake_esi_leap.lease_data()
        flaky = fake_esi_leap.lease_data()
        self.errors(flaky, 'created', 'wait fulfill')
        self.errors(failing, 'created', 'wait fulfill', 'wait fulfill')
        rows = self.wait_rows(failing, 3)
        self.assertEqual([journal.SKIPPED, journal.SKIPPED, journal.DONE],
                         [r['state'] for r in rows])
        self.assertEqual(['1 of 3 %s for this lease' % ERROR,
                          '2 of 3 %s for this lease' % ERROR],
                         [r['detail'] for r in rows[:2]])
        # Two errors of the other lease: nothing.
        self.assertEqual([journal.SKIPPED] * 2,
                         [r['state'] for r in self.wait_rows(flaky, 2)])
        self.assertEqual([failing['uuid']],
                         [args[0] for _, _, args in self.pages.read()])
        # The fourth: nothing more.
        self.errors(failing, 'wait fulfill')
        fourth = self.wait_rows(failing, 4)[-1]
        self.assertEqual(journal.SKIPPED, fourth['state'])
        self.assertEqual('the 3rd %s for this lease already acted: job %d'
                         % (ERROR, rows[2]['id']), fourth['detail'])
        self.assertEqual(1, len(self.pages.read()))
        # What the policy decided is in the log, once per job.
        self.assertEqual(5, self.svc.log().count(': skipped ('))
