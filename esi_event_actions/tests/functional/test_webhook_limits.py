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
"""A hostile webhook receiver, for real: the service stays in bounds."""

import os
import signal
import threading

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import httpserver
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import procs

# The worker holds far less than this unless it keeps what it is sent.
MEMORY_HEADROOM_KB = 256 * 1024
HUGE_BODY = 3 << 30
RULE = '''
    [hook]
    events = esi_leap.lease.fulfill.end
    action = webhook
    url = %s
    timeout = 3
    max_attempts = 2
    retry_base_delay = 0.2
    '''


def group_memory(pgid):
    """{pid: (VmRSS, VmHWM) in kB} of the live processes of group pgid."""
    found = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        state = procs.proc_state(int(entry))
        if not state or state[1] != pgid:
            continue
        try:
            with open('/proc/%s/status' % entry) as f:
                fields = dict(line.split(':', 1) for line in f)
        except OSError:
            continue
        if 'VmHWM' in fields:
            found[int(entry)] = tuple(int(fields[k].split()[0])
                                      for k in ('VmRSS', 'VmHWM'))
    return found


class MemoryWatch(threading.Thread):
    """Samples a service's memory; kills it past ``limit_kb`` over its start.

    Killing is what keeps a worker that reads all it is sent from taking
    the test host's memory with it; the test then fails on ``exceeded``.
    """

    def __init__(self, pgid):
        super().__init__(daemon=True)
        self.pgid = pgid
        self.start_kb = max(
            [hwm for _, hwm in group_memory(pgid).values()] or [0])
        self.peak_kb = self.start_kb
        self.exceeded = False
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            sizes = group_memory(self.pgid).values()
            self.peak_kb = max([self.peak_kb] + [max(s) for s in sizes])
            if self.peak_kb - self.start_kb > MEMORY_HEADROOM_KB:
                self.exceeded = True
                os.killpg(self.pgid, signal.SIGKILL)
                return


class WebhookLimitsTest(base.FunctionalTestCase):

    def deliver(self, answer):
        server = self.useFixture(httpserver.HTTPServer())
        server.answer = answer
        svc = self.service(self.config(RULE % server.url))
        svc.wait_listening()
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data())
        return server, svc

    def ended(self, svc, watch=None):
        def over():
            if watch and watch.exceeded:
                return True
            return self.journal_rows(state=journal.DEAD)
        base.wait_for(over, 120, 'the job to end')
        if watch and watch.exceeded:
            self.fail('the worker grew from %d to %d kB, and was killed'
                      % (watch.start_kb, watch.peak_kb))
        self.assertIsNone(svc.proc.poll(), 'the service died')
        return self.journal_rows()[0]

    def test_a_trickling_receiver_cannot_hold_a_job(self):
        # Headers, then a byte a second: no socket read ever times out.
        _, svc = self.deliver(httpserver.trickle(1))
        row = self.ended(svc)
        self.assertEqual((journal.DEAD, 2, 'no complete response within 3s'),
                         (row['state'], row['attempts'], row['detail']))

    def test_a_huge_answer_is_not_read(self):
        server, svc = self.deliver(httpserver.huge_body(HUGE_BODY))
        watch = MemoryWatch(svc.proc.pid)
        watch.start()
        self.addCleanup(watch.done.set)
        row = self.ended(svc, watch)
        watch.done.set()
        watch.join()
        after = group_memory(svc.proc.pid)
        self.assertLess(max(hwm for _, hwm in after.values()),
                        watch.start_kb + MEMORY_HEADROOM_KB)
        self.assertEqual((journal.DEAD, 2, 500),
                         (row['state'], row['attempts'], row['exit_status']))
        self.assertEqual('0123456789abcdef' * 256, row['output'])
        base.wait_for(lambda: len(server.sent) == 2, 60, 'both answers')
        self.assertLess(max(server.sent), HUGE_BODY // 8)

    def test_url_secrets_stay_out_of_the_log_and_journal(self):
        svc = self.service(self.config(RULE % httpserver.secret_url(),
                                       extra='[DEFAULT]\ndebug = true\n'))
        svc.wait_listening()
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data())
        row = self.ended(svc)
        self.assertIn('ConnectionError', row['detail'])
        self.assertIn('ConnectionError', svc.log())
        for secret in httpserver.URL_SECRETS:
            self.assertNotIn(secret, row['detail'])
            self.assertEqual([], [line for line in svc.log().splitlines()
                                  if secret in line])
