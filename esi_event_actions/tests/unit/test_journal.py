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

import os
import threading
import time

from esi_event_actions.actions import base as action_base
from esi_event_actions import event
from esi_event_actions import journal
from esi_event_actions.tests import base
from esi_event_actions.tests import esi_leap
from esi_event_actions import workers


def _event(msg_id, node='node-a'):
    return event.Event('esi_leap.lease.fulfill.end',
                       esi_leap.lease_data(node_uuid=node), id=msg_id)


class JournalTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.url = 'sqlite:///%s' % os.path.join(self.dir, 'sub', 'j.sqlite')
        self.journal = journal.Journal(self.url)
        self.addCleanup(self.journal.close)

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
        jobs = self.journal.add([(_event('m%d' % i), ['r'])
                                 for i in range(20)])
        self.assertEqual(['m%d' % i for i in range(20)],
                         [j.event.id for j in jobs])
        self.assertEqual(sorted(j.id for j in jobs), [j.id for j in jobs])

    def test_event_round_trips(self):
        evt = _event('m1')
        self.journal.add([(evt, ['r'])])
        self.assertEqual(evt, self.journal.unfinished()[0].event)

    def test_interrupted_jobs_are_resumed_finished_ones_are_not(self):
        jobs = self.journal.add([(_event('m%d' % i), ['r'])
                                 for i in range(3)])
        self.assertEqual(1, self.journal.start(jobs[0].id))
        self.journal.finish(jobs[0].id, journal.DONE,
                            action_base.Result(action_base.SUCCESS, 'ok', 0,
                                               'output'), 0.5)
        self.journal.start(jobs[1].id)
        # A new Journal on the same database is a restart after a crash.
        reopened = journal.Journal(self.url)
        self.addCleanup(reopened.close)
        left = reopened.unfinished()
        self.assertEqual([jobs[1].id, jobs[2].id], [j.id for j in left])
        self.assertEqual(1, left[0].attempts)
        self.assertEqual(2, reopened.start(jobs[1].id))
        done = reopened.get(jobs[0].id)
        self.assertEqual((journal.DONE, 0, 0.5, 'output'),
                         (done['state'], done['exit_status'],
                          done['duration'], done['output']))

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


class WorkerPoolTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.journal = journal.Journal(
            'sqlite:///%s' % os.path.join(self.dir, 'j.sqlite'))
        self.addCleanup(self.journal.close)
        self.lock = threading.Lock()
        self.log = []
        self.active = {}
        self.overlap = []
        self.peak = 0

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
            self.log.append((node, job.event.id))
        ok = not job.event.id.startswith('fail')
        return action_base.Result(
            action_base.SUCCESS if ok else action_base.RETRY, 'x')

    def pool(self, size=4):
        pool = workers.WorkerPool(self.journal, self.runner, size)
        pool.start()
        self.addCleanup(pool.stop, 5)
        return pool

    def test_per_node_order_and_parallelism(self):
        entries = [(_event('%s-%02d' % (node, i), node), ['r'])
                   for i in range(10) for node in 'abcd']
        pool = self.pool(size=4)
        pool.submit(self.journal.add(entries))
        self.assertTrue(pool.wait_idle(30))
        self.assertEqual([], self.overlap)
        for node in 'abcd':
            self.assertEqual(['%s-%02d' % (node, i) for i in range(10)],
                             [e for n, e in self.log if n == node])
        self.assertGreater(self.peak, 1)
        self.assertEqual(40, self.journal.counts()[journal.DONE])

    def test_failures_are_recorded_and_do_not_block_the_node(self):
        pool = self.pool()
        pool.submit(self.journal.add([(_event('fail-1'), ['r']),
                                      (_event('ok-2'), ['r'])]))
        self.assertTrue(pool.wait_idle(30))
        self.assertEqual(['fail-1', 'ok-2'], [e for _, e in self.log])
        self.assertEqual({journal.DONE: 1, journal.FAILED: 1,
                          journal.PENDING: 0, journal.RUNNING: 0},
                         self.journal.counts())

    def test_jobs_without_a_node_run_in_parallel(self):
        pool = self.pool(size=3)
        jobs = self.journal.add([(_event('m%d' % i, node=None), ['r'])
                                 for i in range(9)])
        self.assertIsNone(jobs[0].node)
        pool.submit(jobs)
        self.assertTrue(pool.wait_idle(30))
        self.assertEqual(9, len(self.log))

    def test_crashing_action_is_a_failure(self):
        def boom(job, attempt):
            raise RuntimeError('plugin bug')
        pool = workers.WorkerPool(self.journal, boom, 1)
        pool.start()
        self.addCleanup(pool.stop, 5)
        jobs = self.journal.add([(_event('m1'), ['r'])])
        pool.submit(jobs)
        self.assertTrue(pool.wait_idle(30))
        row = self.journal.get(jobs[0].id)
        self.assertEqual(journal.FAILED, row['state'])
        self.assertIn('plugin bug', row['detail'])

    def test_stop_waits_for_running_jobs(self):
        started = threading.Event()

        def slow(job, attempt):
            started.set()
            time.sleep(0.5)
            return action_base.Result(action_base.SUCCESS)
        pool = workers.WorkerPool(self.journal, slow, 1)
        pool.start()
        jobs = self.journal.add([(_event('m%d' % i), ['r'])
                                 for i in range(3)])
        pool.submit(jobs)
        self.assertTrue(started.wait(10))
        self.assertTrue(pool.stop(10))
        counts = self.journal.counts()
        self.assertEqual(1, counts[journal.DONE])
        self.assertEqual(2, counts[journal.PENDING])
