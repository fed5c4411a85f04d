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
"""Rule policies: fallback, once_per, max_concurrency and rate_limit."""

import datetime
import threading
import time
import types

import fixtures

from esi_event_actions.conf import opts as conf_opts
from esi_event_actions import dryrun
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions.journal import schema
from esi_event_actions import optiontypes
from esi_event_actions import policies
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions import workers

RULE = '''
[%s]
events = esi_leap.lease.*
action = log
%s
'''


def _event(msg_id, event_type='esi_leap.lease.fulfill.error', **data):
    return event.Event(event_type, fake_esi_leap.lease_data(**data), id=msg_id)


class PolicyOptionsTest(base.TestCase):

    def ruleset(self, *rules_text):
        self.load(''.join(RULE % spec for spec in rules_text))
        return ruleloader.load(self.conf)

    def errors(self, extra):
        exc = self.assertRaises(exception.ConfigErrors, self.ruleset,
                                ('r', extra))
        return [(e.section, e.key, str(e)) for e in exc.errors]

    def test_policies_are_checked_at_load(self):
        for extra, key, words in (
                ('rate_limit = 5/x', 'rate_limit', 'a rate such as 5/s'),
                ('rate_limit = 0/s', 'rate_limit', 'a rate such as 5/s'),
                ('max_concurrency = 0', 'max_concurrency', ''),
                ('once_per_window = 60', 'once_per_window',
                 'only used with once_per'),
                ('once_per =', 'once_per', 'a dot path, such as uuid'),
                ('once_per = uuid\nonce_per_window = -1', 'once_per_window',
                 ''),
                ('fallback = perhaps', 'fallback', ''),
                ('filter_params = {"node_properties.cpus": {">=": "many"}}',
                 'filter_params', 'node_properties.cpus: ">=" needs a '
                 'number')):
            found = self.errors(extra)
            self.assertEqual([('r', key)], [f[:2] for f in found], extra)
            self.assertIn(words, found[0][2])
            self.assertIn('test.conf', found[0][2])

    def test_policies_shown_by_check_config_and_test_rule(self):
        ruleset = self.ruleset(('r', 'max_concurrency = 2\nrate_limit = 5/s'
                                '\nonce_per = uuid\nonce_per_window = 3600'))
        rule = ruleset.by_name['r']
        self.assertEqual((2, policies.RateLimit(5, 1.0, '5/s')),
                         (rule.max_concurrency, rule.rate_limit))
        self.assertEqual(policies.OncePer('uuid', 3600.0), rule.once_per)
        self.assertIn('max_concurrency=2 rate_limit=5/s once_per=uuid '
                      'once_per_window=3600s -> log', rule.summary())
        evt = _event('m1')
        report = dryrun.format_text(evt, dryrun.evaluate(ruleset, evt))
        self.assertIn('policies: max_concurrency=2 rate_limit=5/s '
                      'once_per=uuid once_per_window=3600s', report)
        self.assertEqual({'r': policies.OncePer('uuid', 3600.0)},
                         ruleset.once)

    def test_the_sample_configurations_example_loads(self):
        # The rules (the literal blocks), without the prose between them.
        self.load('\n'.join(
            line[4:] for line in conf_opts.POLICIES_EXAMPLE.splitlines()
            if line.startswith('    ')))
        ruleset = ruleloader.load(self.conf)
        self.assertEqual(['page-on-failure', 'unhandled'],
                         [r.name for r in ruleset.rules])
        page = ruleset.by_name['page-on-failure']
        self.assertEqual(['max_concurrency=2', 'rate_limit=10/m',
                          'once_per=uuid'], page.policies())
        self.assertTrue(ruleset.by_name['unhandled'].fallback)

    def test_fallback_acts_only_when_no_other_rule_matches(self):
        ruleset = self.ruleset(
            ('dell', 'filter_params = {"node_properties.vendor": "Dell"}'),
            ('error-only', 'filter_params = {"status": "error"}'),
            ('backstop', 'fallback = true'))
        dell = _event('m1', node_properties={'vendor': 'Dell'})
        other = _event('m2', node_properties={'vendor': 'HPE'})
        self.assertEqual(['dell'], [r.name for r in ruleset.match(dell)])
        self.assertEqual(['backstop'],
                         [r.name for r in ruleset.match(other)])
        why = dict((r.name, w) for r, w in ruleset.evaluate(dell))
        self.assertEqual('fallback: rule(s) dell matched', why['backstop'])
        report = dryrun.format_text(dell, dryrun.evaluate(ruleset, dell))
        self.assertIn('[backstop] no: fallback: rule(s) dell matched',
                      report)


class OncePerTest(cases.JournalTestCase):

    def add_once(self, *events, window=0.0, owner=None):
        once = {'page': policies.OncePer('uuid', window)}
        return self.journal.add([(e, ['page']) for e in events],
                                claim=owner and journal.Claim(owner),
                                once=once)

    def states(self):
        return [(r['event_id'], r['state']) for r in self.journal.rows()]

    def test_one_run_per_lease_the_rest_skipped(self):
        lease = fake_esi_leap.lease_data()
        first = [event.Event('esi_leap.lease.fulfill.error', lease,
                             id='e%d' % i) for i in range(3)]
        # Two in one batch, then one more: neither races past the key.
        jobs = self.add_once(*first[:2], owner='me')
        jobs += self.add_once(first[2], owner='me')
        self.assertEqual([journal.RUNNING, journal.SKIPPED,
                          journal.SKIPPED], [j.state for j in jobs])
        skipped = self.journal.rows(state=journal.SKIPPED)
        self.assertEqual(2, len(skipped))
        self.assertEqual('job %d acted on once_per uuid=%s'
                         % (jobs[0].id, lease['uuid']), skipped[0]['detail'])
        self.assertIsNotNone(skipped[0]['finished_at'])
        self.assertEqual(2, self.journal.counts()[journal.SKIPPED])
        # Another lease is another value.
        other, = self.add_once(_event('f1'))
        self.assertEqual(journal.PENDING, other.state)

    def test_a_dead_job_does_not_count_and_a_missing_value_never_does(self):
        lease = fake_esi_leap.lease_data()
        job, = self.add_once(event.Event('t', lease, id='e1'), owner='me')
        ends.finish(
            self.journal, job.id, 'me', journal.DEAD, cases.FAIL, 0)
        again, = self.add_once(event.Event('t', lease, id='e2'))
        self.assertEqual(journal.PENDING, again.state)
        third, = self.add_once(event.Event('t', lease, id='e3'))
        self.assertEqual(journal.SKIPPED, third.state)
        self.assertIn('job %d acted' % again.id, self.journal.get(
            third.id)['detail'])
        nameless = dict(lease, uuid=None)
        for i in range(2):
            job, = self.add_once(event.Event('t', nameless, id='n%d' % i))
            self.assertEqual(journal.PENDING, job.state)

    def dead_then_done(self, dead_count):
        """``dead_count`` jobs of one lease die in turn, then one acts."""
        lease = fake_esi_leap.lease_data()
        ids = []
        for number in range(dead_count + 1):
            job, = self.add_once(event.Event('t', lease, id='e%d' % number),
                                 owner='me')
            self.assertEqual(journal.RUNNING, job.state)
            ends.finish(
                self.journal, job.id, 'me',
                journal.DEAD if number < dead_count else journal.DONE,
                cases.FAIL if number < dead_count else cases.OK,
                0)
            ids.append(job.id)
        return lease, ids

    def test_retrying_dead_jobs_acts_no_more_than_the_listener(self):
        # Each of esi-leap's retries of a failing fulfil made a job that
        # died while the pager was down; then one paged.  Retrying the
        # dead ones must not page again.
        lease, ids = self.dead_then_done(3)
        once = {'page': policies.OncePer('uuid', 0.0)}
        retried, skipped = self.journal.retry_jobs(all_dead=True, once=once)
        self.assertEqual([], retried)
        self.assertEqual([(i, ids[-1]) for i in ids[:-1]], skipped)
        for job_id in ids[:-1]:
            row = self.journal.get(job_id)
            self.assertEqual(journal.SKIPPED, row['state'])
            self.assertEqual('job %d acted on once_per uuid=%s'
                             % (ids[-1], lease['uuid']), row['detail'])
        counts = self.journal.counts()
        self.assertEqual((0, 3, 1), (counts[journal.DEAD],
                                     counts[journal.SKIPPED],
                                     counts[journal.DONE]))

    def test_of_dead_jobs_of_one_value_the_oldest_is_retried(self):
        lease = fake_esi_leap.lease_data()
        dead = []
        for number in range(3):
            job, = self.add_once(event.Event('t', lease, id='d%d' % number),
                                 owner='me')
            ends.finish(
                self.journal, job.id, 'me', journal.DEAD, cases.FAIL, 0)
            dead.append(job.id)
        once = {'page': policies.OncePer('uuid', 0.0)}
        retried, skipped = self.journal.retry_jobs(dead, once=once)
        self.assertEqual([dead[0]], retried)
        self.assertEqual([(dead[1], dead[0]), (dead[2], dead[0])], skipped)
        self.assertEqual(journal.PENDING, self.journal.get(dead[0])['state'])

    def test_purging_a_dead_holder_forgets_its_value(self):
        lease = fake_esi_leap.lease_data()
        job, = self.add_once(event.Event('t', lease, id='e1'), owner='me')
        ends.finish(
            self.journal, job.id, 'me', journal.DEAD, cases.FAIL, 0)
        self.journal.purge(journal.utcnow() + datetime.timedelta(days=1))
        again, = self.add_once(event.Event('t', lease, id='e2'))
        self.assertEqual(journal.PENDING, again.state)

    def test_the_window_runs_from_the_job_that_acted(self):
        lease = fake_esi_leap.lease_data()
        self.add_once(event.Event('t', lease, id='e1'), window=60)
        second, = self.add_once(event.Event('t', lease, id='e2'), window=60)
        self.assertEqual(journal.SKIPPED, second.state)
        with self.journal.engine.begin() as conn:
            conn.execute(schema.once_keys.update().values(
                ran_at=journal.utcnow() - datetime.timedelta(seconds=61)))
        third, = self.add_once(event.Event('t', lease, id='e3'), window=60)
        self.assertEqual(journal.PENDING, third.state)

    def test_without_once_every_event_runs(self):
        # As manage replay adds them.
        lease = fake_esi_leap.lease_data()
        self.add_once(event.Event('t', lease, id='e1'))
        again = self.journal.add([(event.Event('t', lease, id='e2'),
                                   ['page'])])
        self.assertEqual([journal.PENDING], [j.state for j in again])


class OncePerBlocksTest(base.TestCase):
    """The journal's question: does the job that acted keep others off?"""

    NOW = datetime.datetime(2026, 1, 1, 12, 0, 0)

    def blocks(self, window, state=journal.DONE, age=0):
        ran_at = self.NOW - datetime.timedelta(seconds=age)
        return policies.OncePer('uuid', window).blocks(state, ran_at,
                                                       self.NOW)

    def test_a_job_that_is_not_dead_blocks_for_ever_without_a_window(self):
        for state in (journal.PENDING, journal.RUNNING, journal.RETRY,
                      journal.DONE):
            for window in (0, 0.0, None):
                self.assertTrue(self.blocks(window, state, age=10 ** 8),
                                (state, window))

    def test_a_dead_job_never_blocks(self):
        self.assertFalse(self.blocks(0, journal.DEAD))
        self.assertFalse(self.blocks(60, journal.DEAD, age=1))

    def test_the_window_ends_its_seconds_after_the_job_took_the_key(self):
        self.assertTrue(self.blocks(60, age=59.9))
        self.assertFalse(self.blocks(60, age=60))
        self.assertFalse(self.blocks(60, age=61))


class RateTest(base.TestCase):

    def test_a_rate_per_second_minute_or_hour(self):
        self.assertEqual(policies.RateLimit(5, 1.0, '5/s'),
                         policies.parse_rate('5/s'))
        rate = policies.parse_rate(' 30 / m ')
        self.assertEqual((30, 60.0), (rate.count, rate.period))
        self.assertEqual('rate_limit=100/h',
                         policies.parse_rate('100/h').describe())
        for text in ('0/s', '5/d', '5', '-1/s', '1.5/s', ''):
            self.assertRaises(ValueError, policies.parse_rate, text)

    def test_the_option_keeps_the_text_and_checks_it(self):
        rate = optiontypes.Rate()
        self.assertEqual('10/m', rate(' 10 / m  # ten a minute'))
        self.assertRaisesRegex(ValueError, 'a rate such as 5/s', rate,
                               '10/d')


class TokenBucketTest(base.TestCase):

    def test_burst_then_the_rate(self):
        now = [100.0]
        bucket = policies.TokenBucket(5, 1.0, clock=lambda: now[0])
        for _ in range(5):
            self.assertEqual(0, bucket.wait())
            bucket.take()
        self.assertAlmostEqual(0.2, bucket.wait())
        now[0] += 0.1
        self.assertAlmostEqual(0.1, bucket.wait())
        now[0] += 0.1
        self.assertEqual(0, bucket.wait())
        bucket.take()
        now[0] += 60
        # Never more than the burst saved up.
        for _ in range(5):
            self.assertEqual(0, bucket.wait())
            bucket.take()
        self.assertGreater(bucket.wait(), 0)


class AdmissionTest(base.TestCase):

    def test_workers_admitting_at_once_share_the_rate(self):
        class SlowJournal:
            """Slots granted slowly, as over a busy database."""

            def take_slot(self, *args):
                time.sleep(0.1)
                return True
        rule = types.SimpleNamespace(
            name='r', max_concurrency=10,
            rate_limit=policies.RateLimit(1, 10.0, 'one per 10 s'))
        admission = policies.Admission({'r': rule}.get, SlowJournal(),
                                       'me', 60)
        jobs = [journal.Job(id=i, rule='r', event=None) for i in range(4)]
        waits = {}
        threads = [threading.Thread(target=lambda job=job: waits.__setitem__(
            job.id, admission.admit(job))) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(1, sum(1 for w in waits.values() if w is None))

    def test_a_refused_slot_gives_its_token_back(self):
        class FullJournal:
            def take_slot(self, *args):
                return False
        rule = types.SimpleNamespace(name='r', max_concurrency=1,
                                     rate_limit=policies.parse_rate('1/h'))
        admission = policies.Admission({'r': rule}.get, FullJournal(),
                                       'me', 60)
        job = journal.Job(id=1, rule='r', event=None)
        self.assertEqual(policies.SLOT_RETRY, admission.admit(job))
        # Still one token: the next asking is refused for the slot only.
        self.assertEqual(policies.SLOT_RETRY, admission.admit(job))
        self.assertEqual(0, admission._buckets['r'].wait())


class LimitedPoolTest(cases.JournalTestCase):
    """max_concurrency across two pools on one journal, rate_limit."""

    def setUp(self):
        super().setUp()
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.starts = []

    def runner(self, job, attempt):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.starts.append((time.monotonic(), job.event.id))
        time.sleep(0.02)
        with self.lock:
            self.active -= 1
        return cases.OK

    def pool(self, rule, store=None, owner=None):
        store = store or self.journal
        pool = workers.WorkerPool(
            store, self.runner, 4, poll_interval=0.05, owner=owner,
            admission=lambda owner, lease: policies.Admission(
                {rule.name: rule}.get, store, owner, lease))
        pool.start()
        self.addCleanup(pool.stop, 5)
        return pool

    def wait_done(self, count):
        deadline = time.monotonic() + 30
        while self.journal.counts()[journal.DONE] < count:
            self.assertLess(time.monotonic(), deadline,
                            self.journal.counts())
            time.sleep(0.02)

    def test_max_concurrency_holds_across_instances(self):
        rule = types.SimpleNamespace(name='r', max_concurrency=1,
                                     rate_limit=None)
        other = self.open()
        pools = [self.pool(rule, owner='one'), self.pool(rule, other, 'two')]
        jobs = self.add(*[('m%02d' % i, 'node-%d' % i) for i in range(16)])
        for pool in pools:
            pool.take(jobs)
        self.wait_done(16)
        self.assertEqual(1, self.peak)
        with self.journal.engine.connect() as conn:
            self.assertEqual([], conn.execute(
                schema.rule_slots.select()).all())

    def test_a_held_node_falling_due_starts_nothing_without_room(self):
        # Ends cannot be recorded (an outage): the pool may have at most
        # twice its size started and unrecorded, held nodes or not.
        def record(*args, **kwargs):
            raise RuntimeError('journal down')
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.workers.recorder.RETRY_DELAY', 0.05))
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.policies.SLOT_RETRY', 0.1))
        limited = types.SimpleNamespace(name='r', max_concurrency=1,
                                        rate_limit=None)
        self.journal.add([(fake_esi_leap.lease_event('m%d' % i, 'n%d' % i),
                           ['r' if i < 2 else 'u']) for i in range(8)])
        self.journal.record = record
        pool = workers.WorkerPool(
            self.journal, self.runner, 1, poll_interval=0.05,
            admission=lambda owner, lease: policies.Admission(
                {'r': limited}.get, self.journal, owner, lease))
        pool.start()
        self.addCleanup(pool.stop, 1)
        time.sleep(1.5)
        self.assertEqual(2, len(self.starts))

    def test_rate_limit_spaces_the_starts(self):
        rule = types.SimpleNamespace(name='r', max_concurrency=None,
                                     rate_limit=policies.parse_rate('5/s'))
        pool = self.pool(rule)
        pool.take(self.add(*[('m%02d' % i, 'node-%d' % i)
                             for i in range(10)]))
        self.wait_done(10)
        times = sorted(t for t, _ in self.starts)
        # A burst of five, then one every 0.2 s.
        self.assertGreaterEqual(times[-1] - times[0], 0.9)
