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
"""The worker pool on a real journal: order, hand-off, group commit."""

import dataclasses
import datetime
import threading
import time

from esi_event_actions.actions import base as action_base
from esi_event_actions import journal
from esi_event_actions import retries
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions import workers


class WorkerPoolTest(cases.JournalTestCase):

    def setUp(self):
        super().setUp()
        self.lock = threading.Lock()
        self.log = []
        self.active = {}
        self.overlap = []
        self.peak = 0
        self.fail_until = {}

    def runner(self, job, attempt):
        node = job.node
        with self.lock:
            if self.active.get(node):
                self.overlap.append(node)
            self.active[node] = True
            self.peak = max(self.peak, sum(self.active.values()))
        time.sleep(0.01)
        with self.lock:
            self.active[node] = False
            self.log.append((node, job.event.id, attempt))
        if job.event.id.startswith('fatal'):
            return action_base.Result(action_base.FAILURE, 'never')
        if attempt <= self.fail_until.get(job.event.id, 0):
            return cases.FAIL
        return cases.OK

    def pool(self, size=4, **kw):
        kw.setdefault('policy', lambda job: retries.RetryPolicy(
            max_attempts=3, base_delay=0.05, max_delay=0.1))
        kw.setdefault('poll_interval', 0.05)
        pool = workers.WorkerPool(self.journal, self.runner, size, **kw)
        pool.start()
        self.addCleanup(pool.stop, 5)
        return pool

    def run_all(self, pool, count):
        base_deadline = time.monotonic() + 30
        while time.monotonic() < base_deadline:
            counts = self.journal.counts()
            if counts[journal.DONE] + counts[journal.DEAD] == count:
                return counts
            time.sleep(0.02)
        self.fail('jobs did not finish: %s' % self.journal.counts())

    def test_per_node_order_and_parallelism(self):
        self.add(*[('%s-%02d' % (node, i), node)
                   for i in range(10) for node in 'abcd'])
        self.run_all(self.pool(size=4), 40)
        self.assertEqual([], self.overlap)
        for node in 'abcd':
            self.assertEqual(['%s-%02d' % (node, i) for i in range(10)],
                             [e for n, e, _ in self.log if n == node])
        self.assertGreater(self.peak, 1)

    def test_retry_keeps_node_order_then_succeeds(self):
        self.fail_until = {'a1': 2}
        self.add(('a1', 'A'), ('a2', 'A'))
        counts = self.run_all(self.pool(), 2)
        self.assertEqual(2, counts[journal.DONE])
        self.assertEqual([('a1', 1), ('a1', 2), ('a1', 3), ('a2', 1)],
                         [(e, a) for _, e, a in self.log])
        row = self.journal.rows(state=journal.DONE)[0]
        self.assertEqual(3, row['attempts'])

    def test_exhausted_and_permanent_failures_are_dead(self):
        self.fail_until = {'a1': 99}
        self.add(('a1', 'A'), ('fatal', 'B'), ('a2', 'A'))
        counts = self.run_all(self.pool(), 3)
        self.assertEqual((2, 1), (counts[journal.DEAD], counts[journal.DONE]))
        attempts = {r['event_id']: r['attempts'] for r in self.journal.rows()}
        self.assertEqual({'a1': 3, 'fatal': 1, 'a2': 1}, attempts)
        # a2 waited for a1 to be dead before it ran.
        order = [e for _, e, _ in self.log if e.startswith('a')]
        self.assertEqual(['a1', 'a1', 'a1', 'a2'], order)

    def test_dead_job_can_hold_back_its_node(self):
        self.add(('fatal', 'A'), ('a2', 'A'), ('b1', 'B'))
        pool = self.pool(dead_blocks=True)
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual({'fatal', 'b1'}, {e for _, e, _ in self.log})
        self.assertEqual(1, self.journal.retry(all_dead=True))
        # After the operator's retry it fails again, and a2 still waits.
        time.sleep(0.3)
        self.assertNotIn('a2', {e for _, e, _ in self.log})

    def test_crashing_action_is_dead(self):
        def boom(job, attempt):
            raise RuntimeError('plugin bug')
        pool = workers.WorkerPool(self.journal, boom, 1, poll_interval=0.05)
        pool.start()
        self.addCleanup(pool.stop, 5)
        jobs = self.add(('m1', 'A'))
        pool.take(jobs)
        self.assertTrue(pool.wait_idle(10))
        row = self.journal.get(jobs[0].id)
        self.assertEqual(journal.DEAD, row['state'])
        self.assertIn('plugin bug', row['detail'])

    def stop_midway(self, give):
        """Stop a one-worker pool in the first of three jobs; the rows."""
        started = threading.Event()

        def slow(job, attempt):
            started.set()
            time.sleep(0.3)
            return cases.OK
        pool = workers.WorkerPool(self.journal, slow, 1, poll_interval=0.05)
        pool.start()
        give(pool, ('m1', 'A'), ('m2', 'B'), ('m3', 'C'))
        self.assertTrue(started.wait(10))
        self.assertTrue(pool.stop(10))
        return self.journal.rows()

    def test_stop_waits_for_running_jobs_and_releases_the_rest(self):
        def claimed(pool, *specs):
            pool.take(self.add(*specs))
        self.assertEqual([journal.DONE, journal.PENDING, journal.PENDING],
                         [r['state'] for r in self.stop_midway(claimed)])

    def test_stop_commits_every_end_and_hands_back_the_rest(self):
        rows = self.stop_midway(self.handoff)
        self.assertEqual([journal.DONE, journal.PENDING, journal.PENDING],
                         [r['state'] for r in rows])
        self.assertEqual([1, 0, 0], [r['attempts'] for r in rows])

    def gate(self, pool, held=lambda job, attempt: True):
        """Make the pool's jobs that ``held`` names wait for the event."""
        gate = threading.Event()
        runner = self.runner

        def gated(job, attempt):
            if held(job, attempt):
                gate.wait(10)
            return runner(job, attempt)
        pool._execute.runner = gated
        return gate

    def handoff(self, pool, *specs, wait=workers.HANDOFF_WAIT):
        """Journal and hand over jobs as the pipeline does."""
        with pool.handoff(wait) as claim:
            jobs = self.journal.add(
                [(fake_esi_leap.lease_event(m, n), ['r']) for m, n in specs],
                claim=claim)
            pool.take(jobs)
        return jobs

    def count_calls(self, name):
        """Count the calls to one journal method; the list of results."""
        results = []
        real = getattr(self.journal, name)

        def counted(*args, **kwargs):
            result = real(*args, **kwargs)
            results.append(result)
            return result
        setattr(self.journal, name, counted)
        return results

    def test_fresh_jobs_go_to_the_workers_without_a_claim(self):
        claims = self.count_calls('claim')
        pool = self.pool()
        self.assertTrue(pool.wait_idle(10))
        gate = self.gate(pool)
        jobs = self.handoff(pool, *[('%s-%d' % (n, i), n)
                                    for i in range(3) for n in 'ab'])
        # Claimed by the transaction that wrote them: running, no attempt
        # ended yet.
        self.assertEqual({(journal.RUNNING, pool.owner, 0)}, {
            (r['state'], r['owner'], r['attempts'])
            for r in self.journal.rows()})
        gate.set()
        self.assertEqual(6, self.run_all(pool, 6)[journal.DONE])
        self.assertEqual([], [job for claimed in claims for job in claimed])
        for node in 'ab':
            self.assertEqual(['%s-%d' % (node, i) for i in range(3)],
                             [e for n, e, _ in self.log if n == node])
        self.assertEqual(sorted(j.id for j in jobs),
                         [r['id'] for r in self.journal.rows()])
        for row in self.journal.rows():
            self.assertLessEqual(row['started_at'], row['finished_at'])
            self.assertEqual(1, row['attempts'])

    def test_ends_are_committed_in_groups(self):
        records = self.count_calls('record')
        pool = self.pool(size=4)
        self.handoff(pool, *[('m%02d' % i, 'n%02d' % i) for i in range(40)])
        self.run_all(pool, 40)
        self.assertTrue(pool.wait_idle(10))
        self.assertLess(len(records), 40)
        self.assertEqual(40, self.journal.counts()[journal.DONE])

    def test_no_more_than_twice_the_workers_await_their_record(self):
        stalled, started = threading.Event(), []
        real = self.journal.record

        def slow_record(*args, **kwargs):
            stalled.wait(10)
            return real(*args, **kwargs)
        self.journal.record = slow_record
        pool = self.pool(size=2)
        pool._execute.runner = lambda job, attempt: (
            started.append(job) or cases.OK)
        self.handoff(pool, *[('m%02d' % i, 'n%02d' % i) for i in range(20)])
        time.sleep(0.5)
        # A crash now would rerun what ran but is not recorded.
        self.assertEqual(4, len(started))
        stalled.set()
        self.run_all(pool, 20)

    def test_a_node_the_journal_holds_waits_for_the_claim(self):
        pool = self.pool(poll_interval=60)
        self.assertTrue(pool.wait_idle(10))
        # Written by another process (manage replay): the pool was not told.
        self.add(('replayed', 'A'))
        jobs = self.handoff(pool, ('fresh', 'A'), ('other', 'B'))
        self.assertEqual({'fresh': journal.PENDING, 'other': journal.RUNNING},
                         {j.event.id: j.state for j in jobs})
        self.run_all(pool, 3)
        self.assertEqual(['replayed', 'fresh'],
                         [e for n, e, _ in self.log if n == 'A'])

    def test_a_retry_sends_the_rest_of_its_node_back_to_the_journal(self):
        self.fail_until = {'a1': 1}
        pool = self.pool()
        self.handoff(pool, ('a1', 'A'), ('a2', 'A'), ('a3', 'A'), ('b1', 'B'))
        self.run_all(pool, 4)
        self.assertEqual([('a1', 1), ('a1', 2), ('a2', 1), ('a3', 1)],
                         [(e, a) for n, e, a in self.log if n == 'A'])
        self.assertEqual({'a1': 2, 'a2': 1, 'a3': 1, 'b1': 1},
                         {r['event_id']: r['attempts']
                          for r in self.journal.rows()})

    def test_a_fresh_job_of_a_busy_node_waits_behind_its_retry(self):
        # a2 is journalled while a1 runs: it queues behind a1 in memory,
        # and a1 then fails.  a2 must not overtake a1's retry.
        self.fail_until = {'a1': 1}
        pool = self.pool(policy=lambda job: retries.RetryPolicy(
            max_attempts=3, base_delay=0.3, max_delay=0.3))
        gate = self.gate(pool, lambda job, attempt: (job.event.id, attempt)
                         == ('a1', 1))
        self.handoff(pool, ('a1', 'A'))
        late, = self.handoff(pool, ('a2', 'A'))
        self.assertEqual(journal.RUNNING, late.state)
        gate.set()
        self.run_all(pool, 2)
        self.assertEqual([('a1', 1), ('a1', 2), ('a2', 1)],
                         [(e, a) for _, e, a in self.log])

    def test_a_claim_that_missed_a_retry_waits_behind_it(self):
        # The transaction claiming a2 reads the journal while a1 still runs
        # there; a1 then fails, and its retry is recorded before the pool
        # receives a2.  a2 must not overtake a1's retry.
        self.fail_until = {'a1': 1}
        pool = self.pool(policy=lambda job: retries.RetryPolicy(
            max_attempts=3, base_delay=0.3, max_delay=0.3))
        gate = self.gate(pool, lambda job, attempt: (job.event.id, attempt)
                         == ('a1', 1))
        self.handoff(pool, ('a1', 'A'))
        with pool.handoff() as claim:
            jobs = self.journal.add(
                [(fake_esi_leap.lease_event('a2', 'A'), ['r'])], claim=claim)
            self.assertEqual([journal.RUNNING], [j.state for j in jobs])
            gate.set()
            retried = cases.wait_counts(self.journal, lambda counts: counts[
                journal.RETRY], 10, 0.01)
            self.assertIsNotNone(retried)
            pool.take(jobs)
        self.run_all(pool, 2)
        self.assertEqual([('a1', 1), ('a1', 2), ('a2', 1)],
                         [(e, a) for _, e, a in self.log])

    def test_a_late_event_of_a_running_node_runs_after_it(self):
        # The fulfill.start of a lease arrives after its fulfill.end, which
        # runs: it goes before nothing that started, and beside nothing.
        pool = self.pool()
        gate = self.gate(pool)
        self.handoff(pool, ('end', 'A'))
        early = dataclasses.replace(
            fake_esi_leap.lease_event('start', 'A'), timestamp=str(
                journal.utcnow() - datetime.timedelta(seconds=60)))
        with pool.handoff() as claim:
            late, = self.journal.add([(early, ['r'])], claim=claim)
            pool.take([late])
        gate.set()
        self.run_all(pool, 2)
        self.assertEqual([], self.overlap)
        self.assertEqual(['end', 'start'], [e for _, e, _ in self.log])

    def test_what_memory_cannot_hold_waits_in_the_journal(self):
        pool = self.pool(size=1)
        gate = self.gate(pool)
        full = pool.capacity + 1
        jobs = self.handoff(pool, *[('a%03d' % i, 'A') for i in range(full)])
        self.assertEqual([journal.RUNNING] * pool.capacity +
                         [journal.PENDING], [j.state for j in jobs])
        late, = self.handoff(pool, ('late', 'A'), wait=0.1)
        # Behind the job of its node that the journal holds, room or not.
        self.assertEqual(journal.PENDING, late.state)
        gate.set()
        self.run_all(pool, full + 1)
        self.assertEqual(['a%03d' % i for i in range(full)] + ['late'],
                         [e for n, e, _ in self.log if n == 'A'])

    def test_one_big_hand_off_claims_no_more_than_memory_holds(self):
        # A poll of a long history, or a full batch, on 200 nodes: the
        # pool holds its capacity, and the journal the rest.
        pool = self.pool(size=1)
        gate = self.gate(pool)
        jobs = self.handoff(pool, *[('n%03d' % i, 'node-%03d' % i)
                                    for i in range(200)])
        claimed = [job for job in jobs if job.state == journal.RUNNING]
        self.assertEqual(pool.capacity, len(claimed))
        self.assertEqual(jobs[:pool.capacity], claimed)
        # The one worker's job starts and frees one place, which a claim
        # or a hand-off may fill: one running, the capacity waiting.
        self.handoff(pool, *[('m%d' % i, 'more-%d' % i) for i in range(5)],
                     wait=0.1)
        self.assertLessEqual(self.journal.counts()[journal.RUNNING],
                             pool.capacity + 1)
        gate.set()
        self.run_all(pool, 205)
        self.assertEqual(205, self.journal.counts()[journal.DONE])

    def test_lease_is_renewed_while_an_action_runs(self):
        def slow(job, attempt):
            time.sleep(3.0)
            return cases.OK
        pool = workers.WorkerPool(self.journal, slow, 1, lease=1.0,
                                  poll_interval=0.05)
        pool.start()
        self.addCleanup(pool.stop, 5)
        pool.take(self.add(('m1', 'A')))
        time.sleep(2.0)
        self.assertEqual([], self.journal.claim('other', 1, 60))
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual(1, self.journal.counts()[journal.DONE])
