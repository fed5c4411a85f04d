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
"""A timed job reads its lease again from esi-leap when it falls due."""

import contextlib
import datetime
import io
import os

from esi_event_actions.cmd import manage
from esi_event_actions import journal
from esi_event_actions import listener
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap

# Logs each run: its attempt number, when, and the end_time it was given.
WARN = 'echo "$ESI_ATTEMPT $(date +%%s.%%N) $1" >> %s'

RULE = '''
[journal]
connection = sqlite:///%(dir)s/journal.sqlite
[worker]
poll_interval = 0.05
%(esi_leap)s
[warn]
events = esi_leap.lease.fulfill.end
script = warn.sh
script_params = end_time
at = end_time - 1s
retry_base_delay = 0
'''


def _iso(seconds):
    """A lease time ``seconds`` from now, as esi-leap writes it."""
    moment = journal.utcnow() + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec='seconds') + 'Z'


class RecheckTest(base.TestCase):
    """The real pipeline, journal and workers; esi-leap's API over HTTP."""

    def setUp(self):
        super().setUp()
        self.api = self.useFixture(fake_esi_leap.API())
        self.calls = os.path.join(self.dir, 'calls')
        self.script('warn.sh', WARN % self.calls)
        self.load(RULE % {'dir': self.dir, 'esi_leap': '''
[esi_leap]
endpoint_override = %s''' % self.api.url})
        self.pipeline = self.start_pipeline()

    def fulfil(self, lease):
        listener.FulfillEndpoint(self.pipeline, requeue_delay=0).info(
            [fake_esi_leap.endpoint_message(lease)])

    def runs(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return [line.split() for line in f]

    def row(self, state, timeout=20):
        found = cases.wait_counts(self.pipeline.journal, lambda counts: (
            counts[state] >= 1), timeout, 0.05)
        self.assertIsNotNone(found, self.pipeline.journal.rows())
        row, = self.pipeline.journal.rows()
        return row

    def lease_requests(self, uuid):
        return [path for path, _ in self.api.requests
                if path == '/v1/leases/%s' % uuid]

    def test_an_extended_lease_moves_the_job_to_its_new_time(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(1.5))
        # Extended in esi-leap, which says nothing on the bus.
        self.api.leases[lease['uuid']] = dict(lease, end_time=_iso(4))
        self.fulfil(lease)
        found = cases.wait_counts(self.pipeline.journal, lambda counts: (
            counts[journal.SCHEDULED] == 1 and self.lease_requests(
                lease['uuid'])), 20, 0.05)
        self.assertIsNotNone(found)
        moved = self.row(journal.SCHEDULED)
        self.assertEqual(0, moved['attempts'])
        self.assertIn('rescheduled', moved['detail'])
        self.assertEqual([], self.runs())
        done = self.row(journal.DONE)
        (attempt, ran, end_time), = self.runs()
        new_end = self.api.leases[lease['uuid']]['end_time']
        self.assertEqual(new_end, end_time)
        due = datetime.datetime.fromisoformat(new_end.rstrip('Z')).replace(
            tzinfo=datetime.timezone.utc) - datetime.timedelta(seconds=1)
        self.assertGreaterEqual(float(ran), due.timestamp())
        self.assertEqual(('1', 1), (attempt, done['attempts']))
        self.assertEqual(2, len(self.lease_requests(lease['uuid'])))

    def test_a_lease_esi_leap_no_longer_knows_is_skipped(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(1))
        self.fulfil(lease)
        row = self.row(journal.SKIPPED)
        self.assertEqual('esi-leap no longer knows lease %s' % lease['uuid'],
                         row['detail'])
        self.assertEqual(0, row['attempts'])
        self.assertEqual([], self.runs())

    def test_an_ended_lease_is_skipped(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(1))
        self.api.leases[lease['uuid']] = dict(lease, status='expired')
        self.fulfil(lease)
        self.assertEqual('lease %s is expired' % lease['uuid'],
                         self.row(journal.SKIPPED)['detail'])
        self.assertEqual([], self.runs())

    def test_an_api_fault_is_retried_then_the_action_runs(self):
        lease = fake_esi_leap.lease_data(end_time=_iso(1))
        self.api.leases[lease['uuid']] = lease
        self.api.faults.extend([503])
        self.fulfil(lease)
        done = self.row(journal.DONE)
        self.assertEqual(2, done['attempts'])
        (attempt, _, end_time), = self.runs()
        self.assertEqual(('2', lease['end_time']), (attempt, end_time))


class NoCredentialsTest(base.TestCase):
    """Without [esi_leap], a timed job fires as it was scheduled."""

    def check_config(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(0, manage.main(
                ['--config-file', os.path.join(self.dir, 'test.conf'),
                 'check-config'], conf=type(self.conf)(),
                setup_logging=False))
        return out.getvalue()

    def test_it_fires_as_scheduled_and_check_config_says_so(self):
        self.script('warn.sh', WARN % os.path.join(self.dir, 'calls'))
        self.load(RULE % {'dir': self.dir, 'esi_leap': ''})
        out = self.check_config()
        notes = [line for line in out.splitlines()
                 if line.startswith('Note: ')]
        self.assertEqual(1, len(notes), out)
        self.assertIn('[esi_leap]', notes[0])
        pipe = self.start_pipeline()
        listener.FulfillEndpoint(pipe, requeue_delay=0).info(
            [fake_esi_leap.endpoint_message(
                fake_esi_leap.lease_data(end_time=_iso(1)))])
        self.assertIsNotNone(cases.wait_counts(pipe.journal, lambda c: (
            c[journal.DONE] == 1), 20, 0.05))

    def test_with_an_endpoint_check_config_has_no_note(self):
        self.script('warn.sh')
        self.load(RULE % {'dir': self.dir, 'esi_leap': '''
[esi_leap]
endpoint_override = http://127.0.0.1:9/'''})
        self.assertNotIn('Note: ', self.check_config())
