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
"""Timed rules: the at option, scheduled jobs, firing and cancelling."""

import contextlib
import datetime
import io
import json
import os
from unittest import mock

from oslo_config import cfg

from esi_event_actions import bootstrap
from esi_event_actions.cmd import manage
from esi_event_actions.conf import opts as conf_opts
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions import listener
from esi_event_actions import policies
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.workers import timers as timers_mod

FULFILL = fake_esi_leap.FULFILL_END
DELETE = 'esi_leap.lease.delete.end'


def _iso(seconds):
    """A lease time ``seconds`` from now, as esi-leap writes it."""
    moment = journal.utcnow() + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec='seconds') + 'Z'


def _event(event_id, event_type=FULFILL, **data):
    return fake_esi_leap.lease_event(event_id, event_type=event_type, **data)


class AtOptionTest(base.TestCase):

    def test_paths_offsets_and_units(self):
        timer = policies.parse_at('end_time - 48h')
        self.assertEqual(('end_time', -48 * 3600.0),
                         (timer.path, timer.offset))
        self.assertEqual(7 * 86400.0,
                         policies.parse_at('start_time+7d').offset)
        self.assertEqual(0.0, policies.parse_at('properties.warn_at').offset)
        self.assertEqual(600.0,
                         policies.parse_at('event_time + 10m').offset)

    def test_what_is_no_time(self):
        for text in ('', '48h before end_time', 'end_time - 48',
                     'end_time - 2y', 'end_time * 2', 'end_time - 99999w'):
            self.assertRaises(ValueError, policies.parse_at, text)

    def test_due_from_the_lease_or_the_event(self):
        timer = policies.parse_at('end_time - 1h')
        event = _event('m1', end_time='2026-12-09T10:00:00Z')
        self.assertEqual((datetime.datetime(2026, 12, 9, 9), None),
                         timer.due(event))
        offset = _event('m1', end_time='2026-12-09T12:00:00+02:00')
        self.assertEqual(datetime.datetime(2026, 12, 9, 9),
                         timer.due(offset)[0])
        for hostile in (None, '', 'tomorrow', '\x00', 'x' * 10 ** 6, 42):
            due, why = timer.due(_event('m1', end_time=hostile))
            self.assertIsNone(due)
            self.assertEqual('end_time is not a time', why)

    def test_the_sample_configurations_example_loads(self):
        script = self.script('warn-lessee.sh')
        self.load('\n'.join(
            line[4:] for line in conf_opts.TIMED_EXAMPLE.splitlines()
            if line.startswith('    ')).replace(
                '/etc/esi-event-actions/warn-lessee.sh', script))
        ruleset = ruleloader.load(self.conf)
        self.assertEqual(['at=end_time - 48h at_past=skip'],
                         ruleset.by_name['warn-before-expiry'].policies())
        watchdog = ruleset.by_name['stuck-fulfilment'].timer
        self.assertEqual(600.0, watchdog.offset)
        self.assertTrue(watchdog.cancelled_by('esi_leap.lease.fulfill.end'))
        self.assertFalse(watchdog.cancelled_by(
            'esi_leap.lease.fulfill.error'))
        self.assertEqual(['warn-before-expiry', 'stuck-fulfilment'],
                         ruleset.cancels(_event('d1', event_type=DELETE)))

    def test_a_bad_at_is_named_at_its_key(self):
        self.script('act.sh')
        self.load('''
[warn]
events = esi_leap.lease.fulfill.end
script = act.sh
at = end_time minus two days
''')
        exc = self.assertRaises(exception.ConfigErrors, bootstrap.check,
                                self.conf)
        self.assertIn('[warn] at', str(exc))


class ScheduledJobsTest(cases.JournalTestCase):

    def timers(self, text='end_time - 10s', past='run'):
        return {'r': policies.parse_at(text, past,
                                       ('esi_leap.lease.delete.*',))}

    def test_a_timed_job_waits_scheduled_and_holds_nothing_back(self):
        job, = self.journal.add([(_event('m1', end_time=_iso(3600)),
                                  ['r'])], timers=self.timers())
        self.assertEqual(journal.SCHEDULED, job.state)
        # The lease's next jobs run meanwhile.
        later, = self.journal.add([(_event('m2', node_uuid='node-a'),
                                    ['r'])])
        self.assertEqual(['m2'], [j.event.id for j in
                                  self.journal.claim('me', 10, 60)])
        ends.finish(self.journal, later.id, 'me', journal.DONE, cases.OK, 1)
        due = self.journal.next_timer()
        self.assertEqual(job.event_time, due)
        self.assertEqual({}, self.journal.fire_timers())
        self.assertEqual({'r': 1}, self.journal.fire_timers(
            due + datetime.timedelta(seconds=1)))
        self.assertEqual(['m1'], [j.event.id for j in
                                  self.journal.claim('me', 10, 60)])
        self.assertIsNone(self.journal.next_timer())

    def test_the_claim_reads_the_next_time_for_the_next_turn(self):
        job, = self.journal.add([(_event('m1', end_time=_iso(3600)),
                                  ['r'])], timers=self.timers())
        read = []
        self.assertEqual([], self.journal.claim('me', 10, 60,
                                                next_timer=read.append))
        self.assertEqual([job.event_time], read)
        firing = timers_mod.Timers(self.journal)
        firing.read(read[0])
        self.assertEqual(job.event_time, firing.next)
        with mock.patch.object(self.journal, 'next_timer',
                               wraps=self.journal.next_timer) as lookup:
            # One turn takes what the claim read, in its transaction.
            self.assertEqual(0, firing.fire())
            self.assertEqual(0, lookup.call_count)
            # A turn without a claim before it looks for itself.
            self.assertEqual(0, firing.fire())
            self.assertEqual(1, lookup.call_count)
        self.assertEqual(job.event_time, firing.next)

    def test_a_time_already_past_runs_at_once_or_is_skipped(self):
        ran, = self.journal.add([(_event('m1', end_time=_iso(-60)), ['r'])],
                                timers=self.timers())
        self.assertEqual(journal.PENDING, ran.state)
        skipped, = self.journal.add(
            [(_event('m2', end_time=_iso(-60)), ['r'])],
            timers=self.timers(past='skip'))
        self.assertEqual(journal.SKIPPED, skipped.state)
        self.assertIn('had passed', skipped.detail)
        unknown, = self.journal.add([(_event('m3', end_time=None), ['r'])],
                                    timers=self.timers())
        self.assertEqual(journal.SKIPPED, unknown.state)
        self.assertEqual('at end_time - 10s: end_time is not a time',
                         self.journal.get(unknown.id)['detail'])

    def test_an_event_of_the_lease_cancels_its_waiting_jobs(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(3600))
        other = fake_esi_leap.lease_data(end_time=_iso(3600))
        for number, data in enumerate((lease, other)):
            self.journal.add([(fake_esi_leap.lease_event(
                'm%d' % number, **data), ['r'])], timers=self.timers())
        self.journal.add([], cancel=[(lease['uuid'], ['r'],
                                      'cancelled by delete.end d1')])
        states = {r['event_id']: (r['state'], r['detail'])
                  for r in self.journal.rows()}
        self.assertEqual({'m0': (journal.CANCELLED,
                                 'cancelled by delete.end d1'),
                          'm1': (journal.SCHEDULED, None)}, states)
        self.assertEqual(1, self.journal.counts()[journal.CANCELLED])
        self.assertEqual(1, self.journal.counts()[journal.SCHEDULED])


class TimedPipelineTest(base.TestCase):
    """The real endpoint, journal and workers, with seconds for days."""

    def setUp(self):
        super().setUp()
        self.calls = os.path.join(self.dir, 'calls')
        self.script('warn.sh', 'echo "$ESI_EVENT_ID" >> %s' % self.calls)
        self.load('''
[journal]
connection = sqlite:///%s/journal.sqlite
[worker]
poll_interval = 0.05
[warn]
events = esi_leap.lease.fulfill.end
script = warn.sh
at = end_time - 2s
''' % self.dir)
        self.pipeline = self.start()

    def start(self):
        return self.start_pipeline()

    def deliver(self, pipe, event_type, lease):
        endpoint = listener.FulfillEndpoint(pipe, requeue_delay=0)
        if event_type == DELETE:
            endpoint = listener.DeleteEndpoint(pipe, requeue_delay=0)
        endpoint.info([fake_esi_leap.endpoint_message(
            lease, event_type=event_type)])

    def runs(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return f.read().split()

    def wait_state(self, state, timeout=20):
        found = cases.wait_counts(self.pipeline.journal, lambda counts: (
            counts[state] >= 1), timeout, 0.05)
        self.assertIsNotNone(found, self.pipeline.journal.counts())

    def test_the_job_runs_at_its_time_once(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(3))
        self.deliver(self.pipeline, FULFILL, lease)
        self.assertEqual([journal.SCHEDULED],
                         [r['state'] for r in self.pipeline.journal.rows()])
        self.wait_state(journal.DONE)
        row, = self.pipeline.journal.rows()
        self.assertGreaterEqual(row['started_at'], row['event_time'])
        self.assertEqual(1, len(self.runs()))

    def test_a_delete_before_its_time_cancels_it(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(4))
        self.deliver(self.pipeline, FULFILL, lease)
        self.deliver(self.pipeline, DELETE, lease)
        self.wait_state(journal.CANCELLED)
        row, = self.pipeline.journal.rows()
        self.assertTrue(row['detail'].startswith(
            'cancelled by esi_leap.lease.delete.end'), row['detail'])
        self.assertEqual([], self.runs())

    def test_a_restart_before_its_time_still_runs_it_once(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(3))
        self.deliver(self.pipeline, FULFILL, lease)
        self.pipeline.stop(10)
        self.pipeline.close()
        self.pipeline = self.start()
        self.wait_state(journal.DONE)
        self.assertEqual(1, len(self.runs()))


class TimedPollerTest(base.TestCase):
    """The tenant poller schedules and cancels as the listener does."""

    def test_a_polled_fulfil_schedules_and_a_polled_delete_cancels(self):
        api = self.useFixture(fake_esi_leap.API())
        self.script('warn.sh')
        self.load('''
[journal]
connection = sqlite:///%s/journal.sqlite
[esi_leap]
endpoint_override = %s
[poller]
start_from = beginning
[warn]
events = esi_leap.lease.fulfill.end
script = warn.sh
at = end_time - 1h
''' % (self.dir, api.url))
        pipe = self.start_pipeline()
        poller = self.history_poller(pipe)
        for name in ('kept', 'deleted'):
            lease = fake_esi_leap.lease_data(uuid=name, node_uuid=name,
                                             end_time=_iso(7200))
            api.leases[name] = lease
            api.add(FULFILL, name, name)
        self.assertEqual(2, poller.poll())
        api.add(DELETE, 'deleted', 'deleted')
        poller.poll()
        self.assertEqual({('kept', journal.SCHEDULED),
                          ('deleted', journal.CANCELLED)},
                         {(json.loads(r['event'])['data']['uuid'],
                           r['state']) for r in pipe.journal.rows()})


class ManageTimersTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.script('warn.sh')
        self.config = self.load('''
[journal]
connection = sqlite:///%s/journal.sqlite
[warn]
events = esi_leap.lease.fulfill.end
script = warn.sh
at = end_time - 1h
''' % self.dir)
        store = journal.Journal(self.conf.journal.connection)
        self.addCleanup(store.close)
        ruleset = bootstrap.check(self.conf)
        self.jobs = store.add([(_event('m%d' % n, end_time=_iso(
            7200 + n), name='\x1b[31mhostile'), ['warn'])
            for n in range(2)], timers=ruleset.timers)

    def manage(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = manage.main(['--config-file', self.config] + list(args),
                             conf=cfg.ConfigOpts(), setup_logging=False)
        return rc, out.getvalue()

    def test_list_soonest_first_and_cancel(self):
        rc, out = self.manage('timers', 'list', '-f', 'json')
        self.assertEqual(0, rc)
        listed = json.loads(out)
        self.assertEqual([j.id for j in self.jobs], [r['id'] for r in listed])
        self.assertEqual(['warn', 'warn'], [r['rule'] for r in listed])
        rc, out = self.manage('timers', 'cancel', str(self.jobs[0].id), '999')
        self.assertEqual(1, rc)
        self.assertIn('Job %d cancelled' % self.jobs[0].id, out)
        self.assertIn('Job 999 is not scheduled', out)
        rc, out = self.manage('timers', 'list')
        self.assertEqual(0, rc)
        lines = out.splitlines()
        self.assertEqual(2, len(lines))
        self.assertTrue(lines[1].startswith(str(self.jobs[1].id)))
        rc, out = self.manage('status', '-f', 'json')
        jobs = json.loads(out)['jobs']
        self.assertEqual((1, 1), (jobs['scheduled'], jobs['cancelled']))
