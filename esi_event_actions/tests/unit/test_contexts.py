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
"""Lease contexts: written with an end, seen by the lease's later jobs."""

import contextlib
import datetime
import io
import json
import threading

import fixtures
from oslo_config import cfg

from esi_event_actions.actions import base as action_base
from esi_event_actions.cmd import manage
from esi_event_actions import journal
from esi_event_actions.journal import contexts
from esi_event_actions import listener
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions import workers

LEASE = 'lease-1'
DELETE = 'esi_leap.lease.delete.end'


def _event(event_id, event_type=fake_esi_leap.FULFILL_END, lease=LEASE,
           node='node-a'):
    return fake_esi_leap.lease_event(event_id, node, event_type=event_type,
                                     uuid=lease)


class MergeTest(cases.JournalTestCase):

    def test_keys_are_set_and_a_null_removes_one(self):
        self.assertEqual({'a': 1, 'c': 3}, contexts.merge(
            {'a': 0, 'b': 2}, {'a': 1, 'b': None, 'c': 3}))

    def test_what_cannot_be_stored_is_refused(self):
        for bad in ([1], {1: 'x'}, {'x': object()}):
            self.assertRaises(contexts.ContextError, contexts.encode, bad,
                              100)
        exc = self.assertRaises(contexts.ContextError, contexts.encode,
                                {'x': 'y' * 100}, 50)
        self.assertEqual('109 bytes, over the limit of 50', str(exc))

    def test_hostile_text_is_stored_as_ascii_json(self):
        hostile = {'name': 'a\x00b\ud800\x1b[2J'}
        self.journal.set_context(LEASE, hostile)
        self.assertEqual(hostile, self.journal.context(LEASE))


class WorkerContextTest(cases.JournalTestCase):
    """The real pool and journal: what one job writes, the next sees."""

    def setUp(self):
        super().setUp()
        self.seen = []
        self.writes = {}
        self.lock = threading.Lock()

    def runner(self, job, attempt):
        with self.lock:
            self.seen.append((job.event.id, job.event.context))
        return action_base.Result(action_base.SUCCESS, 'ok',
                                  context=self.writes.get(job.event.id))

    def pool(self, **kw):
        pool = workers.WorkerPool(self.journal, self.runner, 1,
                                  poll_interval=0.05, **kw)
        pool.start()
        self.addCleanup(pool.stop, 10)
        return pool

    def handoff(self, pool, *events):
        with pool.handoff() as claim:
            jobs = self.journal.add([(e, ['r']) for e in events],
                                    claim=claim)
            pool.take(jobs)
        return jobs

    def test_the_next_job_of_the_lease_sees_what_the_first_wrote(self):
        self.writes = {'f': {'vlan': 1234}, 'd': {'vlan': None, 'gone': 1}}
        pool = self.pool()
        # One hand-off: the delete job starts as soon as the fulfil one
        # ended, before its end is committed.
        self.handoff(pool, _event('f'), _event('d', DELETE), _event('x'))
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual([('f', {}), ('d', {'vlan': 1234}),
                          ('x', {'gone': 1})], self.seen)
        self.assertEqual({'gone': 1}, self.journal.context(LEASE))

    def test_a_restart_sees_the_context_as_committed(self):
        self.writes = {'f': {'vlan': 1234}}
        pool = self.pool()
        self.handoff(pool, _event('f'))
        self.assertTrue(pool.wait_idle(10))
        pool.stop(10)
        self.journal.add([(_event('d', DELETE), ['r'])])
        self.journal = self.open()
        self.assertTrue(self.pool().wait_idle(10))
        self.assertEqual(('d', {'vlan': 1234}), self.seen[-1])

    def test_a_write_over_the_limit_fails_its_job_and_is_not_kept(self):
        self.journal.context_limit = 64
        self.writes = {'f': {'vlan': 1}, 'big': {'blob': 'x' * 100}}
        pool = self.pool()
        self.handoff(pool, _event('f'), _event('big'))
        self.assertTrue(pool.wait_idle(10))
        ok, big = self.journal.rows()
        self.assertEqual((journal.DONE, journal.DEAD),
                         (ok['state'], big['state']))
        self.assertEqual('context of lease lease-1 not written: 123 bytes, '
                         'over the limit of 64 (ok)', big['detail'])
        self.assertEqual({'vlan': 1}, self.journal.context(LEASE))

    def test_leases_keep_their_own(self):
        self.writes = {'a': {'k': 'a'}, 'b': {'k': 'b'}}
        pool = self.pool()
        self.handoff(pool, _event('a', lease='A'), _event('b', lease='B'))
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual(({'k': 'a'}, {'k': 'b'}), (
            self.journal.context('A'), self.journal.context('B')))

    def test_an_unreadable_context_is_retried_not_ignored(self):
        real = self.journal.context
        failures = [RuntimeError('journal down')]

        def flaky(lease):
            if failures:
                raise failures.pop()
            return real(lease)
        self.journal.context = flaky
        self.writes = {'f': {'vlan': 7}}
        self.journal.set_context(LEASE, {'vlan': 7})
        pool = self.pool()
        self.handoff(pool, _event('d', DELETE))
        found = cases.wait_counts(self.journal, lambda c: (
            c[journal.DONE] == 1), 20, 0.05)
        self.assertIsNotNone(found, self.journal.rows())
        row, = self.journal.rows()
        self.assertEqual(2, row['attempts'])
        self.assertEqual([('d', {'vlan': 7})], self.seen)


class PruneTest(cases.JournalTestCase):

    def test_a_context_goes_after_its_lease_ended_and_the_retention(self):
        self.journal.set_context('ended', {'a': 1})
        self.journal.set_context('active', {'a': 1})
        self.journal.set_context('waiting', {'a': 1})
        pool = workers.WorkerPool(self.journal, lambda job, attempt: (
            action_base.Result(action_base.SUCCESS)), 1, poll_interval=0.05)
        pool.start()
        self.addCleanup(pool.stop, 10)
        with pool.handoff() as claim:
            pool.take(self.journal.add([
                (_event('d1', DELETE, lease='ended'), ['r']),
                (_event('d2', DELETE, lease='waiting'), ['r'])],
                claim=claim))
        self.assertTrue(pool.wait_idle(10))
        # A job of the lease still to come keeps its context.
        self.journal.add([(_event('later', lease='waiting'), ['later'])])
        future = journal.utcnow() + datetime.timedelta(seconds=60)
        self.assertEqual(1, self.journal.purge_contexts(future))
        self.assertEqual(['active', 'waiting'], sorted(
            row['lease'] for row in self.journal.context_rows()))
        self.assertEqual(0, self.journal.purge_contexts(
            journal.utcnow() - datetime.timedelta(seconds=60)))


class ContextFilterTest(base.TestCase):
    """A filter on context.* chooses, when the job starts."""

    def setUp(self):
        super().setUp()
        self.load('''
[journal]
connection = sqlite:///%s/journal.sqlite
[worker]
poll_interval = 0.05
[undo]
events = esi_leap.lease.delete.end
filter_params = {"context.floating_ip": {"exists": true}, "purpose": "test"}
action = log
''' % self.dir)
        self.pipeline = self.start_pipeline()

    def delete(self, lease):
        listener.DeleteEndpoint(self.pipeline, requeue_delay=0).info(
            [fake_esi_leap.endpoint_message(fake_esi_leap.lease_data(
                uuid=lease, purpose='test'), event_type=DELETE)])

    def test_only_what_was_done_is_undone(self):
        self.pipeline.journal.set_context('made', {'floating_ip': '10.0.0.9'})
        self.delete('made')
        self.delete('never-made')
        self.assertTrue(self.pipeline.wait_idle(10))
        states = {json.loads(row['event'])['data']['uuid']: (
            row['state'], row['detail'], row['attempts'])
            for row in self.pipeline.journal.rows()}
        self.assertEqual((journal.DONE, 1), (states['made'][0],
                                             states['made'][2]))
        self.assertEqual((journal.SKIPPED, 'filter: context.floating_ip is '
                          'missing, wanted {"exists": true}', 0),
                         states['never-made'])

    def test_the_rest_of_the_filter_still_holds_when_journalled(self):
        listener.DeleteEndpoint(self.pipeline, requeue_delay=0).info(
            [fake_esi_leap.endpoint_message(fake_esi_leap.lease_data(
                uuid='other', purpose='prod'), event_type=DELETE)])
        self.assertEqual([], self.pipeline.journal.rows())


class ContextTestRuleTest(base.TestCase):

    def test_test_rule_says_what_it_leaves_for_the_job(self):
        config = self.write('t.conf', '''
[journal]
connection = sqlite:///%s/journal.sqlite
[undo]
events = esi_leap.lease.delete.end
filter_params = {"context.floating_ip": {"exists": true}}
action = log
''' % self.dir)
        message, _ = fake_esi_leap.bus_message()
        message['event_type'] = DELETE
        out = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdin', io.StringIO(
            json.dumps(message))))
        with contextlib.redirect_stdout(out):
            rc = manage.main(['--config-file', config, 'test-rule'],
                             conf=cfg.ConfigOpts(), setup_logging=False)
        self.assertEqual(0, rc, out.getvalue())
        self.assertIn('[undo] MATCH -> log', out.getvalue())
        self.assertIn("checked when the job starts, with the lease's "
                      'context: context.floating_ip', out.getvalue())


class ContextReadsTest(WorkerContextTest):
    """A job reads its context only when its claim says it may have one."""

    def count_reads(self):
        reads = []
        real = self.journal.context

        def counted(lease):
            reads.append(lease)
            return real(lease)
        self.journal.context = counted
        return reads

    def test_leases_without_a_context_cost_no_read(self):
        reads = self.count_reads()
        pool = self.pool()
        self.handoff(pool, *[_event('m%d' % i, lease='L%d' % i)
                             for i in range(5)])
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual([], reads)
        self.assertEqual(5, len(self.seen))

    def test_a_lease_with_one_is_read_and_so_is_one_written_since(self):
        self.journal.set_context('had', {'a': 1})
        reads = self.count_reads()
        self.writes = {'w': {'b': 2}}
        pool = self.pool()
        self.handoff(pool, _event('h', lease='had'))
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual(['had'], reads)
        # Claimed before the write of its lease was committed, started
        # after: the commit count says it must read.
        recorder = pool._recorder
        claim = journal.Claim('me', seq=recorder.commits())
        job, = self.journal.add([(_event('late', lease='new', node='b'),
                                  ['r'])], claim=claim)
        self.assertFalse(job.has_context)
        self.handoff(pool, _event('w', lease='new'))
        self.assertTrue(pool.wait_idle(10))
        self.assertEqual({'b': 2}, recorder.context_of(job))
        self.assertEqual(['had', 'new'], reads)

    def test_the_leases_remembered_are_bounded_and_then_all_read(self):
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.workers.recorder.WROTE_LIMIT', 3))
        reads = self.count_reads()
        pool = self.pool()
        recorder = pool._recorder
        claim = journal.Claim('me', seq=recorder.commits())
        early, = self.journal.add([(_event('early', lease='quiet',
                                           node='q'), ['r'])], claim=claim)
        self.writes = {'w%d' % i: {'i': i} for i in range(5)}
        for i in range(5):
            self.handoff(pool, _event('w%d' % i, lease='L%d' % i,
                                      node='n%d' % i))
            self.assertTrue(pool.wait_idle(10))
            self.assertLessEqual(len(recorder._wrote), 3)
        # "quiet" was never written, but its job was claimed before the
        # recorder forgot which leases were: it reads, to be sure.
        del reads[:]
        self.assertEqual({}, recorder.context_of(early))
        self.assertEqual(['quiet'], reads)
