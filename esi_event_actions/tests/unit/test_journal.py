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

import datetime
import time

from esi_event_actions import event
from esi_event_actions import journal
from esi_event_actions.journal import schema
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap


class JournalTest(cases.JournalTestCase):

    def claim(self, limit=10, owner='me', **kw):
        return [j.event.id for j in self.journal.claim(owner, limit, 60,
                                                       **kw)]

    def test_one_job_per_event_and_rule_and_dedup(self):
        first = self.journal.add([
            (fake_esi_leap.lease_event('m1'), ['a', 'b']),
            (fake_esi_leap.lease_event('m2'), ['a'])])
        self.assertEqual([('m1', 'a'), ('m1', 'b'), ('m2', 'a')],
                         [(j.event.id, j.rule) for j in first])
        again = self.journal.add([
            (fake_esi_leap.lease_event('m1'), ['a', 'b', 'c']),
            (fake_esi_leap.lease_event('m2'), ['a'])])
        self.assertEqual([('m1', 'c')], [(j.event.id, j.rule) for j in again])
        self.assertEqual(4, self.journal.counts()[journal.PENDING])

    def test_jobs_are_numbered_in_arrival_order(self):
        jobs = self.add(*[('m%d' % i, 'n') for i in range(20)])
        self.assertEqual(['m%d' % i for i in range(20)],
                         [j.event.id for j in jobs])
        self.assertEqual(sorted(j.id for j in jobs), [j.id for j in jobs])

    def test_claim_offers_only_the_oldest_job_of_each_node(self):
        self.add(('a1', 'A'), ('b1', 'B'), ('a2', 'A'), ('x1', None),
                 ('x2', None), ('b2', 'B'))
        self.assertEqual(['a1', 'b1', 'x1', 'x2'], self.claim())
        self.assertEqual([], self.claim())
        jobs = {r['event_id']: r for r in self.journal.rows()}
        self.assertTrue(ends.finish(
            self.journal, jobs['a1']['id'], 'me', journal.DONE, cases.OK, 0.1))
        self.assertEqual(['a2'], self.claim())

    def test_node_order_follows_event_time_not_arrival(self):
        # A batch hands fulfill notifications to their endpoint before
        # delete ones; the event times keep the node's true order.
        late = event.Event('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(node_uuid='A'),
                           id='new-lease',
                           timestamp='2026-11-26 10:00:02.000001')
        early = event.Event('esi_leap.lease.delete.end',
                            fake_esi_leap.lease_data(node_uuid='A'),
                            id='old-lease',
                            timestamp='2026-11-26 10:00:01.5')
        self.journal.add([(late, ['r'])])
        self.journal.add([(early, ['r'])])
        self.assertEqual(['old-lease'], self.claim())

    def test_claim_marks_running_and_numbers_the_attempt(self):
        self.add(('a1', 'A'))
        job = self.journal.claim('me', 1, 60)[0]
        self.assertEqual((journal.RUNNING, 1), (job.state, job.attempts))
        # Counted in the journal when it ends.
        row = self.journal.get(job.id)
        self.assertEqual(('me', journal.RUNNING, 0),
                         (row['owner'], row['state'], row['attempts']))
        self.assertEqual(('a1', 'A', 'dummy-node-A'), (
            job.event.id, job.event.node, job.event.data['node_name']))

    def test_a_retry_holds_its_node_until_due(self):
        jobs = self.add(('a1', 'A'), ('a2', 'A'), ('b1', 'B'))
        self.claim(limit=1)
        soon = journal.utcnow() + datetime.timedelta(seconds=2)
        ends.finish(
            self.journal, jobs[0].id, 'me', journal.RETRY, cases.FAIL, 0.1,
            next_attempt_at=soon)
        self.assertEqual(['b1'], self.claim())
        self.assertEqual(soon, self.journal.get(jobs[0].id)[
            'next_attempt_at'])
        time.sleep(2.1)
        again, = self.journal.claim('me', 10, 60)
        self.assertEqual(('a1', 2), (again.event.id, again.attempts))
        self.assertEqual(1, self.journal.get(jobs[0].id)['attempts'])

    def test_dead_job_blocks_its_node_only_when_asked(self):
        jobs = self.add(('a1', 'A'), ('a2', 'A'))
        self.claim()
        ends.finish(self.journal, jobs[0].id, 'me', journal.DEAD, cases.FAIL,
                    0.1)
        self.assertEqual([], self.claim(dead_blocks=True))
        self.assertEqual(['a2'], self.claim(dead_blocks=False))

    def test_expired_lease_is_claimed_by_another_owner(self):
        jobs = self.add(('a1', 'A'), ('a2', 'A'))
        self.journal.claim('dead-instance', 1, 1.0)
        self.assertEqual([], self.claim(owner='other'))
        time.sleep(1.1)
        self.assertEqual(['a1'], self.claim(owner='other'))
        # The old owner wakes up: its record no longer counts.
        self.assertFalse(ends.finish(
            self.journal, jobs[0].id, 'dead-instance', journal.DONE,
            cases.OK, 1))
        self.assertTrue(ends.finish(
            self.journal, jobs[0].id, 'other', journal.DONE, cases.OK, 1))
        # The attempt the dead instance made never ended.
        self.assertEqual(1, self.journal.get(jobs[0].id)['attempts'])

    def test_renew_keeps_the_lease(self):
        self.add(('a1', 'A'))
        self.journal.claim('me', 1, 1.0)
        for _ in range(3):
            time.sleep(0.4)
            self.journal.renew('me', 1.0)
        self.assertEqual([], self.claim(owner='other'))

    def test_release_returns_unstarted_claims(self):
        jobs = self.add(('a1', 'A'))
        self.claim()
        ends.release(self.journal, 'me', [jobs[0].id])
        row = self.journal.get(jobs[0].id)
        self.assertEqual((journal.PENDING, 0), (row['state'],
                                                row['attempts']))

    def test_recover_after_a_crash(self):
        jobs = self.add(('a1', 'A'), ('b1', 'B'), ('c1', 'C'))
        self.claim(limit=2)
        ends.finish(self.journal, jobs[0].id, 'me', journal.DONE, cases.OK,
                    0.5)
        # A new Journal on the same database is a restart after a crash.
        reopened = self.open()
        self.assertEqual(1, reopened.recover())
        self.assertEqual(['b1', 'c1'], [j.event.id for j in reopened.claim(
            'new', 10, 60)])
        done = reopened.get(jobs[0].id)
        self.assertEqual((journal.DONE, 0, 0.5, 'output'),
                         (done['state'], done['exit_status'],
                          done['duration'], done['output']))
        # The runs the crash cut short are not the action's failures.
        self.assertEqual(0, reopened.get(jobs[1].id)['attempts'])

    def test_operator_retry_and_purge(self):
        jobs = self.add(('a1', 'A'), ('b1', 'B'), ('c1', 'C'))
        self.claim()
        ends.finish(self.journal, jobs[0].id, 'me', journal.DEAD, cases.FAIL,
                    1)
        ends.finish(self.journal, jobs[1].id, 'me', journal.DEAD, cases.FAIL,
                    1)
        ends.finish(self.journal, jobs[2].id, 'me', journal.DONE, cases.OK, 1)
        self.assertEqual(1, self.journal.retry([jobs[0].id]))
        self.assertEqual(0, self.journal.retry([jobs[2].id]))
        row = self.journal.get(jobs[0].id)
        self.assertEqual((journal.PENDING, 0), (row['state'],
                                                row['attempts']))
        self.assertEqual(1, self.journal.retry(all_dead=True))
        self.assertEqual(0, self.journal.purge(
            journal.utcnow() - datetime.timedelta(days=1)))
        future = journal.utcnow() + datetime.timedelta(seconds=1)
        self.assertEqual(1, self.journal.purge(future))
        self.assertEqual(2, len(self.journal.rows()))

    def test_retry_all_dead_leaves_waiting_jobs_alone(self):
        jobs = self.add(('a1', 'A'), ('b1', 'B'))
        self.claim()
        later = journal.utcnow() + datetime.timedelta(hours=1)
        ends.finish(self.journal, jobs[0].id, 'me', journal.DEAD, cases.FAIL,
                    1)
        ends.finish(
            self.journal, jobs[1].id, 'me', journal.RETRY, cases.FAIL, 1,
            next_attempt_at=later)
        self.assertEqual(1, self.journal.retry(all_dead=True))
        self.assertEqual(journal.RETRY, self.journal.get(jobs[1].id)['state'])
        self.assertEqual(1, self.journal.retry([jobs[1].id]))

    def test_one_service_instance_per_sqlite_journal(self):
        lock = journal.lock_instance(self.url)
        self.assertRaises(journal.JournalError, journal.lock_instance,
                          self.url)
        lock.close()
        journal.lock_instance(self.url).close()

    def test_status(self):
        self.assertEqual(None, self.journal.status()['newest_job'])
        self.add(('a1', 'A'))
        status = self.journal.status()
        self.assertEqual(1, status['jobs'][journal.PENDING])
        self.assertIsNotNone(status['oldest_unfinished'])

    def test_wal_mode(self):
        with self.journal.engine.connect() as conn:
            mode = conn.exec_driver_sql('PRAGMA journal_mode').scalar()
        self.assertEqual('wal', mode)

    def test_newer_schema_is_refused(self):
        with self.journal.engine.begin() as conn:
            conn.execute(schema.journal_meta.update().values(value='99'))
        self.assertRaises(journal.JournalError, journal.Journal, self.url)

    def test_unsupported_database(self):
        self.assertRaises(journal.JournalError, journal.Journal,
                          'mysql://u:p@h/db')
