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
import os
import threading
import time

from esi_event_actions.actions import base as action_base
from esi_event_actions import event
from esi_event_actions import journal
from esi_event_actions import retries
from esi_event_actions.tests import base
from esi_event_actions.tests import esi_leap
from esi_event_actions import workers

OK = action_base.Result(action_base.SUCCESS, 'ok', 0, 'output')
FAIL = action_base.Result(action_base.RETRY, 'exit status 1', 1, '')


def _event(msg_id, node='node-a'):
    return event.Event('esi_leap.lease.fulfill.end',
                       esi_leap.lease_data(node_uuid=node), id=msg_id)


class JournalTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.url = self.journal_url()
        self.journal = self.open()

    def journal_url(self):
        return 'sqlite:///%s' % os.path.join(self.dir, 'sub', 'j.sqlite')

    def open(self):
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        return store

    def add(self, *specs):
        """Add one job per (message id, node) spec, rule "r"."""
        return self.journal.add([(_event(m, n), ['r']) for m, n in specs])


class JournalTest(JournalTestCase):

    def claim(self, limit=10, owner='me', **kw):
        return [j.event.id for j in self.journal.claim(owner, limit, 60,
                                                       **kw)]

    def test_one_job_per_event_and_rule_and_dedup(self):
        first = self.journal.add([(_event('m1'), ['a', 'b']),
                                  (_event('m2'), ['a'])])
        self.assertEqual([('m1', 'a'), ('m1', 'b'), ('m2', 'a')],
                         [(j.event.id, j.rule) for j in first])
        again = self.journal.add([(_event('m1'), ['a', 'b', 'c']),
                                  (_event('m2'), ['a'])])
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
        self.assertTrue(self.journal.finish(jobs['a1']['id'], 'me',
                                            journal.DONE, OK, 0.1))
        self.assertEqual(['a2'], self.claim())

    def test_node_order_follows_event_time_not_arrival(self):
        # A batch hands fulfill notifications to their endpoint before
        # delete ones; the event times keep the node's true order.
        late = event.Event('esi_leap.lease.fulfill.end',
                           esi_leap.lease_data(node_uuid='A'), id='new-lease',
                           timestamp='2026-11-26 10:00:02.000001')
        early = event.Event('esi_leap.lease.delete.end',
                            esi_leap.lease_data(node_uuid='A'),
                            id='old-lease',
                            timestamp='2026-11-26 10:00:01.5')
        self.journal.add([(late, ['r'])])
        self.journal.add([(early, ['r'])])
        self.assertEqual(['old-lease'], self.claim())

    def test_claim_marks_running_and_counts_the_attempt(self):
        self.add(('a1', 'A'))
        job = self.journal.claim('me', 1, 60)[0]
        self.assertEqual((journal.RUNNING, 1), (job.state, job.attempts))
        row = self.journal.get(job.id)
        self.assertEqual(('me', journal.RUNNING, 1),
                         (row['owner'], row['state'], row['attempts']))
        self.assertEqual(('a1', 'A', 'dummy-node-A'), (
            job.event.id, job.event.node, job.event.data['node_name']))

    def test_a_retry_holds_its_node_until_due(self):
        jobs = self.add(('a1', 'A'), ('a2', 'A'), ('b1', 'B'))
        self.claim(limit=1)
        soon = journal.utcnow() + datetime.timedelta(seconds=2)
        self.journal.finish(jobs[0].id, 'me', journal.RETRY, FAIL, 0.1,
                            next_attempt_at=soon)
        self.assertEqual(['b1'], self.claim())
        self.assertEqual(soon, self.journal.get(jobs[0].id)[
            'next_attempt_at'])
        time.sleep(2.1)
        self.assertEqual(['a1'], self.claim())
        self.assertEqual(2, self.journal.get(jobs[0].id)['attempts'])

    def test_dead_job_blocks_its_node_only_when_asked(self):
        jobs = self.add(('a1', 'A'), ('a2', 'A'))
        self.claim()
        self.journal.finish(jobs[0].id, 'me', journal.DEAD, FAIL, 0.1)
        self.assertEqual([], self.claim(dead_blocks=True))
        self.assertEqual(['a2'], self.claim(dead_blocks=False))

    def test_expired_lease_is_claimed_by_another_owner(self):
        jobs = self.add(('a1', 'A'), ('a2', 'A'))
        self.journal.claim('dead-instance', 1, 1.0)
        self.assertEqual([], self.claim(owner='other'))
        time.sleep(1.1)
        self.assertEqual(['a1'], self.claim(owner='other'))
        # The old owner wakes up: its record no longer counts.
        self.assertFalse(self.journal.finish(jobs[0].id, 'dead-instance',
                                             journal.DONE, OK, 1))
        self.assertTrue(self.journal.finish(jobs[0].id, 'other',
                                            journal.DONE, OK, 1))
        self.assertEqual(2, self.journal.get(jobs[0].id)['attempts'])

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
        self.journal.release('me', [jobs[0].id])
        row = self.journal.get(jobs[0].id)
        self.assertEqual((journal.PENDING, 0), (row['state'],
                                                row['attempts']))

    def test_recover_after_a_crash(self):
        jobs = self.add(('a1', 'A'), ('b1', 'B'), ('c1', 'C'))
        self.claim(limit=2)
        self.journal.finish(jobs[0].id, 'me', journal.DONE, OK, 0.5)
        # A new Journal on the same database is a restart after a crash.
        reopened = self.open()
        self.assertEqual(1, reopened.recover())
        self.assertEqual(['b1', 'c1'], [j.event.id for j in reopened.claim(
            'new', 10, 60)])
        done = reopened.get(jobs[0].id)
        self.assertEqual((journal.DONE, 0, 0.5, 'output'),
                         (done['state'], done['exit_status'],
                          done['duration'], done['output']))
        self.assertEqual(2, reopened.get(jobs[1].id)['attempts'])

    def test_operator_retry_and_purge(self):
        jobs = self.add(('a1', 'A'), ('b1', 'B'), ('c1', 'C'))
        self.claim()
        self.journal.finish(jobs[0].id, 'me', journal.DEAD, FAIL, 1)
        self.journal.finish(jobs[1].id, 'me', journal.DEAD, FAIL, 1)
        self.journal.finish(jobs[2].id, 'me', journal.DONE, OK, 1)
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
        self.journal.finish(jobs[0].id, 'me', journal.DEAD, FAIL, 1)
        self.journal.finish(jobs[1].id, 'me', journal.RETRY, FAIL, 1,
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
            conn.execute(journal.journal_meta.update().values(value='99'))
        self.assertRaises(journal.JournalError, journal.Journal, self.url)

    def test_unsupported_database(self):
        self.assertRaises(journal.JournalError, journal.Journal,
                          'mysql://u:p@h/db')


class RetryPolicyTest(base.TestCase):

    def test_exponential_capped_with_jitter(self):
        policy = retries.RetryPolicy(max_attempts=9, base_delay=2,
                                     max_delay=20)
        for attempt, low in ((1, 2), (2, 4), (3, 8), (4, 16)):
            delay = policy.delay(attempt)
            self.assertGreaterEqual(delay, low)
            self.assertLessEqual(delay, min(20, low + 2))
        self.assertLessEqual(policy.delay(30), 20)


class WorkerPoolTest(JournalTestCase):

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
            return FAIL
        return OK

    def pool(self, size=4, **kw):
        kw.setdefault('policy', lambda job: retries.RetryPolicy(
            max_attempts=3, base_delay=0.05, max_delay=0.1))
        kw.setdefault('poll_interval', 0.05)
        pool = workers.WorkerPool(self.journal, self.runner, size, **kw)
        pool.start()
        self.addCleanup(pool.stop, 5)
        return pool

    def run_all(self, pool, count):
        pool.submit()
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
        pool.submit()
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual({'fatal', 'b1'}, {e for _, e, _ in self.log})
        self.assertEqual(1, self.journal.retry(all_dead=True))
        # After the operator's retry it fails again, and a2 still waits.
        pool.submit()
        time.sleep(0.3)
        self.assertNotIn('a2', {e for _, e, _ in self.log})

    def test_crashing_action_is_dead(self):
        def boom(job, attempt):
            raise RuntimeError('plugin bug')
        pool = workers.WorkerPool(self.journal, boom, 1, poll_interval=0.05)
        pool.start()
        self.addCleanup(pool.stop, 5)
        jobs = self.add(('m1', 'A'))
        pool.submit()
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
            return OK
        pool = workers.WorkerPool(self.journal, slow, 1, poll_interval=0.05)
        pool.start()
        give(pool, ('m1', 'A'), ('m2', 'B'), ('m3', 'C'))
        self.assertTrue(started.wait(10))
        self.assertTrue(pool.stop(10))
        return self.journal.rows()

    def test_stop_waits_for_running_jobs_and_releases_the_rest(self):
        def claimed(pool, *specs):
            self.add(*specs)
            pool.submit()
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
        pool._runner = gated
        return gate

    def handoff(self, pool, *specs, wait=workers.HANDOFF_WAIT):
        """Journal and hand over jobs as the pipeline does."""
        with pool.handoff(wait) as handoff:
            jobs = self.journal.add([(_event(m, n), ['r']) for m, n in specs],
                                    **handoff.claim_args)
            handoff(jobs)
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
        # Claimed by the transaction that wrote them: running, attempt 1.
        self.assertEqual({(journal.RUNNING, pool.owner, 1)}, {
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
        self.assertTrue(pool.flush(10))
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
        pool._runner = lambda job, attempt: started.append(job) or OK
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
        with pool.handoff() as handoff:
            jobs = self.journal.add([(_event('a2', 'A'), ['r'])],
                                    **handoff.claim_args)
            self.assertEqual([journal.RUNNING], [j.state for j in jobs])
            gate.set()
            base_deadline = time.monotonic() + 10
            while self.journal.rows(state=journal.RETRY) == [] and (
                    time.monotonic() < base_deadline):
                time.sleep(0.01)
            self.assertTrue(pool.flush(10))
            handoff(jobs)
        self.run_all(pool, 2)
        self.assertEqual([('a1', 1), ('a1', 2), ('a2', 1)],
                         [(e, a) for _, e, a in self.log])

    def test_what_memory_cannot_hold_waits_in_the_journal(self):
        pool = self.pool(size=1)
        gate = self.gate(pool)
        full = pool.capacity + 1
        self.handoff(pool, *[('a%03d' % i, 'A') for i in range(full)])
        jobs = self.handoff(pool, ('late', 'A'), ('b1', 'B'), wait=0.1)
        self.assertEqual({journal.PENDING}, {j.state for j in jobs})
        gate.set()
        self.run_all(pool, full + 2)
        self.assertEqual(['a%03d' % i for i in range(full)] + ['late'],
                         [e for n, e, _ in self.log if n == 'A'])

    def test_lease_is_renewed_while_an_action_runs(self):
        def slow(job, attempt):
            time.sleep(3.0)
            return OK
        pool = workers.WorkerPool(self.journal, slow, 1, lease=1.0,
                                  poll_interval=0.05)
        pool.start()
        self.addCleanup(pool.stop, 5)
        self.add(('m1', 'A'))
        pool.submit()
        time.sleep(2.0)
        self.assertEqual([], self.journal.claim('other', 1, 60))
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual(1, self.journal.counts()[journal.DONE])
