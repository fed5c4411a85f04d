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
"""Rule policies end to end: real broker, real service, real scripts."""

import os
import subprocess

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import base

# Records when it started and ended, in one write.
TIMING = '''#!/bin/sh
start=$(date +%%s.%%N)
sleep %s
printf '%%s %%s %%s\\n' "$ESI_EVENT_ID" "$start" "$(date +%%s.%%N)" >> %s
'''


class PolicyTest(base.FunctionalTestCase):

    def timing(self, sleep):
        """A script logging (start, end) per run, and a reader of it."""
        path = os.path.join(self.dir, 'times')
        self.write('timing.sh', TIMING % (sleep, path), 0o755)

        def read():
            if not os.path.exists(path):
                return []
            with open(path) as f:
                return sorted((float(start), float(end)) for _, start, end
                              in (line.split() for line in f))
        return read

    def start(self, rules):
        svc = self.service(self.config(rules))
        svc.wait_listening()
        return svc

    def emit_leases(self, count, event_type='esi_leap.lease.fulfill.end'):
        for _ in range(count):
            self.esi_leap.emit(event_type, fake_esi_leap.lease_data())

    def test_max_concurrency_one_runs_one_at_a_time(self):
        times = self.timing(0.3)
        self.start('''
            [serial]
            events = esi_leap.lease.fulfill.end
            script = timing.sh
            max_concurrency = 1
            ''')
        # Distinct nodes: only the limit keeps them apart.
        self.emit_leases(5)
        base.wait_for(lambda: len(times()) == 5, 60, 'five runs')
        runs = times()
        for (_, end), (start, _) in zip(runs, runs[1:]):
            self.assertGreaterEqual(start, end, runs)
        self.assertEqual([journal.DONE] * 5,
                         [r['state'] for r in self.journal_rows()])

    def test_rate_limit_spaces_the_starts(self):
        times = self.timing(0)
        self.start('''
            [paced]
            events = esi_leap.lease.fulfill.end
            script = timing.sh
            rate_limit = 5/s
            ''')
        self.emit_leases(20)
        base.wait_for(lambda: len(times()) == 20, 60, 'twenty runs')
        starts = [start for start, _ in times()]
        # A burst of five, then fifteen more at five a second.
        self.assertGreaterEqual(starts[-1] - starts[0], 2.8)

    def test_once_per_lease_pages_once(self):
        pages = self.recorder('page.sh')
        svc = self.start('''
            [page]
            events = esi_leap.lease.fulfill.error
            script = page.sh
            once_per = uuid
            ''')
        # esi-leap retries a failing fulfilment every 60 s: same lease,
        # new notifications.
        lease = fake_esi_leap.lease_data(status='error')
        for _ in range(3):
            self.esi_leap.emit('esi_leap.lease.fulfill.error', lease)
        base.wait_for(lambda: len(self.journal_rows()) == 3 and not [
            r for r in self.journal_rows() if r['state'] not in (
                journal.DONE, journal.SKIPPED)], 60, 'three jobs')
        rows = self.journal_rows()
        done = [r for r in rows if r['state'] == journal.DONE]
        skipped = [r for r in rows if r['state'] == journal.SKIPPED]
        self.assertEqual((1, 2), (len(done), len(skipped)))
        self.assertEqual(1, len(pages.read()))
        for row in skipped:
            self.assertEqual('job %d acted on once_per uuid=%s'
                             % (done[0]['id'], lease['uuid']),
                             row['detail'])
        # What the policy decided is in the log, once per job.
        self.assertEqual(2, svc.log().count(
            ': skipped (job %d acted on once_per uuid=%s)'
            % (done[0]['id'], lease['uuid'])))

    def test_journal_retry_pages_no_more_than_the_listener(self):
        # The pager is down: each of esi-leap's retries of a failing
        # fulfilment makes a job that dies, each taking over from the
        # dead one before it.  Then the pager is back and one pages.
        down = os.path.join(self.dir, 'down')
        open(down, 'w').close()
        pages = self.recorder('page.sh', before='[ -e %s ] && exit 1'
                              % down)
        config = self.config('''
            [page]
            events = esi_leap.lease.fulfill.error
            script = page.sh
            once_per = uuid
            max_attempts = 1
            ''')
        svc = self.service(config)
        svc.wait_listening()
        lease = fake_esi_leap.lease_data(status='wait fulfill')
        for count in range(1, 4):
            self.esi_leap.emit('esi_leap.lease.fulfill.error', lease)
            base.wait_for(lambda: len(self.journal_rows(
                state=journal.DEAD)) == count, 60, '%d dead' % count)
        os.unlink(down)
        self.esi_leap.emit('esi_leap.lease.fulfill.error', lease)
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 60,
                      'one page')
        # The usual recovery step, while the service runs.
        proc = subprocess.run(base.MANAGE + [
            '--config-file', config, 'journal', 'retry', '--all-dead'],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('0 job(s) will run again', proc.stdout)
        self.assertEqual(3, proc.stdout.count('skipped: once_per'))
        # Another lease's page, after the retry: once it is done, the
        # service has claimed whatever the retry left to run.
        self.esi_leap.emit('esi_leap.lease.fulfill.error',
                           fake_esi_leap.lease_data(status='wait fulfill'))
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) == 2, 60, 'the other lease paged')
        self.assertEqual(2, len(pages.read()))
        self.assertEqual({journal.DONE: 2, journal.SKIPPED: 3}, {
            state: len(self.journal_rows(state=state))
            for state in (journal.DONE, journal.SKIPPED)})
        self.assertEqual([], self.journal_rows(state=journal.PENDING))

    def test_fallback_rule_takes_what_no_other_rule_does(self):
        dell = self.recorder('dell.sh')
        backstop = self.recorder('backstop.sh')
        self.start('''
            [dell]
            events = esi_leap.lease.fulfill.end
            filter_params = {"node_properties.vendor": {"regex": "dell",
                             "ignore_case": true}}
            script = dell.sh
            [backstop]
            events = esi_leap.lease.*
            fallback = true
            script = backstop.sh
            ''')
        taken = fake_esi_leap.lease_data(node_properties={'vendor': 'Dell'})
        untaken = fake_esi_leap.lease_data(node_properties={'vendor': 'HPE'})
        self.esi_leap.emit('esi_leap.lease.fulfill.end', taken)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', untaken)
        base.wait_for(lambda: dell.read() and backstop.read(), 60,
                      'both rules')
        base.wait_for(lambda: len(self.journal_rows()) == 2, 30, 'two jobs')
        self.assertEqual(1, len(dell.read()))
        self.assertEqual(1, len(backstop.read()))
        rules_of = {r['rule']: r['node'] for r in self.journal_rows()}
        self.assertEqual({'dell': taken['node_uuid'],
                          'backstop': untaken['node_uuid']}, rules_of)
