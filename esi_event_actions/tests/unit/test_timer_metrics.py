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
"""The metrics of timed jobs: scheduled, fired, cancelled and overdue."""

import datetime

import sqlalchemy as sa

from esi_event_actions import bootstrap
from esi_event_actions import journal
from esi_event_actions import metrics
from esi_event_actions import pipeline
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.workers import timers

FULFILL = fake_esi_leap.FULFILL_END
DELETE = 'esi_leap.lease.delete.end'


def _iso(seconds):
    moment = journal.utcnow() + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec='seconds') + 'Z'


def _locked(*args, **kwargs):
    # An outage, not a bad value: the source offers the batch again.
    raise sa.exc.OperationalError('UPDATE', {}, Exception('locked'))


class _Source:
    def consuming(self):
        return True

    def connected(self):
        return True


class TimerMetricsTest(base.TestCase):
    """The real pipeline and journal, its workers stopped."""

    RULES = '''
[journal]
connection = sqlite:///%s/journal.sqlite
[worker]
poll_interval = 0.05
[warn]
events = esi_leap.lease.fulfill.end
action = log
at = %s
'''

    def setUp(self):
        super().setUp()
        self.stats = metrics.Metrics('listener')

    def build(self, at='end_time - 1h', extra=''):
        self.load(self.RULES % (self.dir, at) + extra)
        self.pipe = pipeline.build(self.conf, bootstrap.check(self.conf),
                                   self.stats)
        self.addCleanup(self.pipe.close)
        self.stats.watch(self.pipe.journal, _Source())
        return self.pipe

    def sample(self, name, rule='warn'):
        labels = {'rule': rule} if rule else {}
        return self.stats.registry.get_sample_value(
            'esi_event_actions_' + name, labels) or 0.0

    def counts(self):
        return tuple(self.sample('timers_%s_total' % what)
                     for what in ('scheduled', 'fired', 'cancelled'))

    def fulfil(self, event_id, lease):
        return fake_esi_leap.lease_event(event_id, **lease)

    def delete(self, event_id, lease):
        return fake_esi_leap.lease_event(event_id, event_type=DELETE,
                                         **lease)

    def test_scheduled_once_committed_and_once_per_job(self):
        pipe = self.build()
        leases = [fake_esi_leap.lease_data(end_time=_iso(7200))
                  for _ in range(2)]
        events = [self.fulfil('m%d' % n, lease)
                  for n, lease in enumerate(leases)]
        real = pipe.journal.add
        pipe.journal.add = _locked
        self.assertRaises(sa.exc.OperationalError, pipe.accept, events)
        self.assertEqual((0, 0, 0), self.counts())
        pipe.journal.add = real
        pipe.accept(events)
        self.assertEqual((2, 0, 0), self.counts())
        # The broker hands the batch back (its ack was lost).
        pipe.accept(events)
        self.assertEqual((2, 0, 0), self.counts())
        # A time already past runs at once: not a timer.
        pipe.accept([self.fulfil('m9', fake_esi_leap.lease_data(
            end_time=_iso(60)))])
        self.assertEqual((2, 0, 0), self.counts())

    def test_cancelled_once_committed_and_logged(self):
        pipe = self.build()
        lease = fake_esi_leap.lease_data(end_time=_iso(7200))
        job, = pipe.accept([self.fulfil('m1', lease)])
        checkpoint = journal.Checkpoint('test', 1)
        real = pipe.journal._set_checkpoint
        pipe.journal._set_checkpoint = _locked
        # The delete's cancel is rolled back with the checkpoint.
        self.assertRaises(sa.exc.OperationalError, pipe.accept,
                          [self.delete('d1', lease)], checkpoint)
        self.assertEqual((1, 0, 0), self.counts())
        self.assertEqual(journal.SCHEDULED, pipe.journal.get(job.id)['state'])
        pipe.journal._set_checkpoint = real
        pipe.accept([self.delete('d1', lease)], checkpoint)
        self.assertEqual((1, 0, 1), self.counts())
        pipe.accept([self.delete('d1', lease)], checkpoint)
        self.assertEqual((1, 0, 1), self.counts())
        self.assertEqual(journal.CANCELLED, pipe.journal.get(job.id)['state'])
        lines = [line for line in self.logger.output.splitlines()
                 if ': cancelled by ' in line]
        self.assertEqual(['Job %d rule warn event %s m1 node %s lease %s: '
                          'cancelled by %s d1' % (job.id, FULFILL,
                                                  lease['node_uuid'],
                                                  lease['uuid'], DELETE)],
                         lines)

    def test_a_cancel_in_a_batch_with_jobs_to_run(self):
        pipe = self.build(extra='''
[gone]
events = esi_leap.lease.delete.end
action = log
''')
        lease = fake_esi_leap.lease_data(end_time=_iso(7200))
        pipe.accept([self.fulfil('m1', lease)])
        pipe.accept([self.delete('d1', lease)])
        self.assertEqual((1, 0, 1), self.counts())
        self.assertEqual(0.0, self.sample('timers_cancelled_total', 'gone'))

    def test_fired_by_the_claimer_when_due(self):
        pipe = self.build(at='end_time - 2s')
        pipe.start()
        self.addCleanup(pipe.stop, 10)
        pipe.accept([self.fulfil('m1', fake_esi_leap.lease_data(
            end_time=_iso(3)))])
        self.assertEqual((1, 0, 0), self.counts())
        done = cases.wait_counts(pipe.journal, lambda counts: (
            counts[journal.DONE] == 1), 20, 0.05)
        self.assertIsNotNone(done, pipe.journal.counts())
        self.assertEqual((1, 1, 0), self.counts())

    def test_fired_counted_once(self):
        pipe = self.build()
        for n in range(3):
            pipe.accept([self.fulfil('m%d' % n, fake_esi_leap.lease_data(
                end_time=_iso(7200)))])
        self.overdue(pipe.journal, 600)
        firing = timers.Timers(pipe.journal, self.stats)
        self.assertEqual(3, firing.fire())
        self.assertEqual(0, firing.fire())
        self.assertEqual((3, 3, 0), self.counts())

    def overdue(self, store, seconds):
        """Move every scheduled job's time ``seconds`` into the past."""
        with store.engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE jobs SET next_attempt_at = :due "
                "WHERE state = 'scheduled'"), {
                    'due': journal.utcnow() - datetime.timedelta(
                        seconds=seconds)})

    def test_the_overdue_gauge_with_the_claimer_stopped(self):
        pipe = self.build()
        self.assertEqual(0.0, self.sample('timer_overdue_seconds', None))
        pipe.accept([self.fulfil('m1', fake_esi_leap.lease_data(
            end_time=_iso(7200)))])
        # Due in an hour: not overdue.
        self.assertEqual(0.0, self.sample('timer_overdue_seconds', None))
        self.overdue(pipe.journal, 600)
        late = self.sample('timer_overdue_seconds', None)
        self.assertTrue(600 <= late < 660, late)
        timers.Timers(pipe.journal, self.stats).fire()
        self.assertEqual(0.0, self.sample('timer_overdue_seconds', None))

    def test_a_journal_outage_leaves_the_journal_gauges_out(self):
        pipe = self.build()
        pipe.journal.next_timer = _locked
        names = {sample.name for family in self.stats.registry.collect()
                 for sample in family.samples}
        self.assertNotIn('esi_event_actions_timer_overdue_seconds', names)
        self.assertNotIn('esi_event_actions_journal_jobs', names)
        self.assertIn('esi_event_actions_consumer_up', names)
        self.assertIn('Cannot read the journal for metrics',
                      self.logger.output)
