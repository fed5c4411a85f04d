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
"""Timed rules end to end, in seconds for days: real broker, services."""

import datetime
import os
import time

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import real_esi_leap
from esi_event_actions.tests.functional.harness.real_esi_leap import data

# Logs when it ran, in one write.
WARN = '''#!/bin/sh
printf '%%s %%s\\n' "$ESI_EVENT_ID" "$(date +%%s.%%N)" >> %s
'''

RULE = '''
    [warn]
    events = esi_leap.lease.fulfill.end
    script = warn.sh
    at = end_time - 3s
    '''


class TimedRuleTest(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.runs_file = os.path.join(self.dir, 'runs')
        self.write('warn.sh', WARN % self.runs_file, 0o755)

    def runs(self):
        if not os.path.exists(self.runs_file):
            return []
        with open(self.runs_file) as f:
            return [(event, float(at)) for event, at in
                    (line.split() for line in f)]

    def lease(self, ends_in):
        """A lease ending ``ends_in`` seconds from now; when that is."""
        end = time.time() + ends_in
        text = datetime.datetime.fromtimestamp(
            end, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
        return fake_esi_leap.lease_data(end_time=text), end

    def start(self, extra='', name='service'):
        svc = self.service(self.config(RULE, extra=extra,
                                       name=name + '.conf'), name=name)
        svc.wait_listening()
        return svc

    def test_the_warning_fires_once_at_its_time(self):
        self.start()
        lease, end = self.lease(6)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 30,
                      'the warning')
        (event, ran), = self.runs()
        self.assertGreaterEqual(ran, end - 3)
        time.sleep(1)
        self.assertEqual(1, len(self.runs()))

    def test_a_delete_before_its_time_cancels_it(self):
        self.start()
        lease, end = self.lease(8)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        base.wait_for(lambda: self.journal_rows(state=journal.SCHEDULED),
                      30, 'the scheduled warning')
        self.esi_leap.emit('esi_leap.lease.delete.end', lease)
        base.wait_for(lambda: self.journal_rows(state=journal.CANCELLED),
                      30, 'the cancelled warning')
        time.sleep(max(0, end - 3 - time.time()) + 1)
        self.assertEqual([], self.runs())

    def test_a_kill_9_before_its_time_still_fires_it_once(self):
        svc = self.start()
        lease, end = self.lease(6)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        base.wait_for(lambda: self.journal_rows(state=journal.SCHEDULED),
                      30, 'the scheduled warning')
        svc.kill()
        svc.start()
        svc.wait_listening()
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 30,
                      'the warning')
        self.assertEqual(1, len(self.runs()))

    def test_two_instances_on_postgresql_fire_it_once(self):
        extra = self.shared_journal()
        for name in ('one', 'two'):
            self.start(extra, name)
        leases = [self.lease(5)[0] for _ in range(10)]
        for lease in leases:
            self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) == 10, 60, 'every warning')
        time.sleep(1)
        self.assertEqual(10, len(self.runs()))
        self.assertEqual(10, len({event for event, _ in self.runs()}))

    def test_a_lease_the_real_esi_leap_does_not_know_is_not_retried_forever(
            self):
        # esi-leap 1.0 answers HTTP 500, not 404, for a lease it does not
        # know (a 404 skips the job: see test_recheck): a fault like any.
        esi = self.useFixture(real_esi_leap.EsiLeapFixture()).esi_leap
        self.start('''
            [esi_leap]
            endpoint_override = %s
            [worker]
            max_attempts = 2
            retry_base_delay = 0
            ''' % esi.api_url)
        lease, _ = self.lease(4)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        row, = base.wait_for(lambda: self.journal_rows(
            state=journal.DEAD), 30, 'the dead warning')
        self.assertEqual('cannot read lease %s from esi-leap: GET '
                         '/v1/leases/%s answered HTTP 500'
                         % (lease['uuid'], lease['uuid']), row['detail'])
        self.assertEqual(2, row['attempts'])
        self.assertEqual([], self.runs())


# Logs when it ran and the end_time it was given, in one write.
WARN_END = '''#!/bin/sh
printf '%%s %%s\\n' "$(date +%%s.%%N)" "$1" >> %s
'''


class ExtendedLeaseTest(base.FunctionalTestCase):
    """A lease extended through the real esi-leap's API, before its time."""

    def test_the_job_moves_to_the_new_time_and_runs_then_only(self):
        esi = self.useFixture(real_esi_leap.EsiLeapFixture()).esi_leap
        lessee = esi.add_project()
        runs = os.path.join(self.dir, 'runs')
        self.write('warn.sh', WARN_END % runs, 0o755)
        svc = self.service(self.config('''
            [warn]
            events = esi_leap.lease.fulfill.end
            script = warn.sh
            script_params = end_time
            at = end_time - 8s
            ''', extra='''
            [esi_leap]
            endpoint_override = %s
            [poller]
            poll_interval = 1
            project = %s
            [worker]
            poll_interval = 0.2
            ''' % (esi.api_url, lessee)), name='poller',
            command=base.POLLER, ready='starts after event')
        svc.wait_listening()
        now = data.utcnow()
        lease = esi.create_lease(esi.add_node(), lessee, start=now,
                                 end=now + datetime.timedelta(seconds=14))
        base.wait_for(lambda: self.journal_rows(state=journal.SCHEDULED),
                      30, 'the scheduled warning')
        new_end = now + datetime.timedelta(seconds=24)
        esi.extend_lease(lease['uuid'], new_end)
        row, = base.wait_for(lambda: self.journal_rows(state=journal.DONE),
                             60, 'the warning')
        with open(runs) as f:
            (ran, end_time), = [line.split() for line in f]
        due = new_end.replace(tzinfo=datetime.timezone.utc) - \
            datetime.timedelta(seconds=8)
        self.assertGreaterEqual(float(ran), due.timestamp())
        self.assertEqual(new_end.strftime('%Y-%m-%dT%H:%M:%SZ'), end_time)
        self.assertEqual(1, row['attempts'])
        self.assertIn('rescheduled', svc.log())


WATCHDOG = '''
    [stuck-fulfilment]
    events = esi_leap.lease.fulfill.start
    script = warn.sh
    at = event_time + 3s
    cancel_on = esi_leap.lease.fulfill.end, esi_leap.lease.delete.*
    once_per = uuid
    '''


class WatchdogTest(base.FunctionalTestCase):
    """A fulfil.start that no fulfil.end follows in time, on the bus."""

    def test_it_fires_without_the_end_and_not_with_it(self):
        runs = os.path.join(self.dir, 'runs')
        self.write('warn.sh', WARN % runs, 0o755)
        self.service(self.config(WATCHDOG)).wait_listening()
        stuck = fake_esi_leap.lease_data(status='wait fulfill')
        ended = fake_esi_leap.lease_data(status='wait fulfill')
        for lease in (stuck, ended, stuck):
            # esi-leap retries a failing fulfilment: a second start of
            # the stuck lease adds no second watch.
            self.esi_leap.emit('esi_leap.lease.fulfill.start', lease)
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           dict(ended, status='active'))
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 30,
                      'the watchdog')
        base.wait_for(lambda: self.journal_rows(state=journal.CANCELLED),
                      30, 'the cancelled watch')
        with open(runs) as f:
            fired = [line.split()[0] for line in f]
        rows = {r['event_id']: r for r in self.journal_rows()}
        self.assertEqual(1, len(fired))
        self.assertEqual(stuck['uuid'], rows[fired[0]]['lease'])
        self.assertEqual(
            sorted([(ended['uuid'], journal.CANCELLED),
                    (stuck['uuid'], journal.DONE),
                    (stuck['uuid'], journal.SKIPPED)]),
            sorted((r['lease'], r['state']) for r in rows.values()))
