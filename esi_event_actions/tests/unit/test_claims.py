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
"""Claims on the journal: one job per node at a time, attempts that ran.

Two owners stand for two service instances sharing a journal.
"""

import dataclasses
import datetime

from esi_event_actions import journal
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap


def _at(event_id, node, seconds_ago):
    """An event about ``node`` that happened ``seconds_ago``."""
    return dataclasses.replace(
        fake_esi_leap.lease_event(event_id, node), timestamp=str(
            journal.utcnow() - datetime.timedelta(seconds=seconds_ago)))


class NodeOrderAcrossOwnersTest(cases.JournalTestCase):

    def test_a_late_earlier_event_waits_for_the_running_later_one(self):
        # One instance runs fulfill.end; the fulfill.start of the lease,
        # stamped a minute earlier, reaches the other instance.
        end, = self.journal.add([(_at('end', 'A', 0), ['r'])],
                                claim=journal.Claim('one'))
        self.assertEqual(journal.RUNNING, end.state)
        start, = self.journal.add([(_at('start', 'A', 60), ['r'])],
                                  claim=journal.Claim('two'))
        self.assertEqual(journal.PENDING, start.state)
        self.assertEqual([], self.journal.claim('two', 10, 60))
        ends.finish(self.journal, end.id, 'one', journal.DONE, cases.OK, 1)
        self.assertEqual(['start'], [j.event.id for j in
                                     self.journal.claim('two', 10, 60)])

    def test_a_job_of_a_node_running_elsewhere_is_not_added_claimed(self):
        self.journal.add([(_at('first', 'A', 0), ['r'])],
                         claim=journal.Claim('one'))
        # The owner running it queues it in memory, behind.
        here, = self.journal.add([(_at('second', 'A', 0), ['r'])],
                                 claim=journal.Claim('one'))
        self.assertEqual(journal.RUNNING, here.state)
        elsewhere, = self.journal.add([(_at('third', 'A', 0), ['r'])],
                                      claim=journal.Claim('two'))
        self.assertEqual(journal.PENDING, elsewhere.state)

    def test_a_batch_s_own_jobs_of_one_node_are_claimed_together(self):
        jobs = self.journal.add([(_at('a1', 'A', 2), ['r', 's']),
                                 (_at('a2', 'A', 1), ['r'])],
                                claim=journal.Claim('one'))
        self.assertEqual([journal.RUNNING] * 3, [j.state for j in jobs])

    def test_an_expired_lease_no_longer_holds_the_node(self):
        self.journal.add([(_at('end', 'A', 0), ['r'])],
                         claim=journal.Claim('dead', lease=-1))
        self.journal.add([(_at('start', 'A', 60), ['r'])])
        # The earlier first; the abandoned one after it.
        self.assertEqual(['start'], [j.event.id for j in
                                     self.journal.claim('two', 10, 60)])


class AttemptsTest(cases.JournalTestCase):

    def test_a_claim_never_started_counts_no_attempt(self):
        self.add(('m1', 'A'))
        for _ in range(3):
            job, = self.journal.claim('me', 1, 60)
            self.assertEqual(1, job.attempts)
            ends.release(self.journal, 'me', [job.id])
        self.assertEqual(0, self.journal.rows()[0]['attempts'])

    def test_a_crash_counts_no_attempt(self):
        self.add(('m1', 'A'))
        for _ in range(3):
            job, = self.journal.claim('me', 1, 60)
            self.assertEqual(1, job.attempts)
            self.assertEqual(1, self.journal.recover())

    def test_each_recorded_end_counts_one(self):
        self.add(('m1', 'A'))
        for attempt in (1, 2):
            job, = self.journal.claim('me', 1, 60)
            self.assertEqual(attempt, job.attempts)
            ends.finish(self.journal, job.id, 'me', journal.RETRY,
                        cases.FAIL, 0.1,
                        next_attempt_at=journal.utcnow())
        self.assertEqual(2, self.journal.rows()[0]['attempts'])
        # An operator's retry gives every attempt again.
        self.journal.retry([job.id])
        self.assertEqual(1, self.journal.claim('me', 1, 60)[0].attempts)
