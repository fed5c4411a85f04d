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
"""One job per node at a time across instances, and attempts that ran.

On a real broker, with real service processes and scripts.
"""

import datetime
import os

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import raw

# Logs "<node> <start> <end>" per run, in one write.
TIMING = '''#!/bin/sh
start=$(date +%%s.%%N)
sleep %s
printf '%%s %%s %%s\\n' "$1" "$start" "$(date +%%s.%%N)" >> %s
'''

NODES = 12


def _overlapping(runs):
    """The nodes that ran two jobs at once."""
    by_node = {}
    for node, start, end in runs:
        by_node.setdefault(node, []).append((start, end))
    found = set()
    for node, spans in by_node.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if start < end:
                found.add(node)
    return found


class LateArrivalTest(base.FunctionalTestCase):
    """An event stamped earlier than one running elsewhere waits for it."""

    def timing(self, seconds):
        path = os.path.join(self.dir, 'times')
        self.write('timing.sh', TIMING % (seconds, path), 0o755)

        def read():
            if not os.path.exists(path):
                return []
            with open(path) as f:
                return [(node, float(start), float(end)) for node, start, end
                        in (line.split() for line in f)]
        return read

    def test_two_instances_never_run_one_node_twice_at_once(self):
        runs = self.timing(2)
        rules = '''
            [act]
            events = esi_leap.lease.fulfill.start,esi_leap.lease.fulfill.end
            script = timing.sh
            script_params = node_uuid
            '''
        extra = self.shared_journal()
        instances = [self.service(self.config(
            rules, extra=extra, name='%s.conf' % name), name=name)
            for name in ('one', 'two')]
        for svc in instances:
            svc.wait_listening()
        leases = [fake_esi_leap.lease_data(node_uuid='node-%02d' % n)
                  for n in range(NODES)]
        # fulfill.end now; then, late, the fulfill.start of the same
        # leases stamped a minute earlier (a host whose clock is behind,
        # or a redelivery).
        self.publish('esi_leap.lease.fulfill.end', leases,
                     raw.utc_timestamp())
        base.wait_for(lambda: len(self.journal_rows()) == NODES, 30,
                      'the fulfill.end jobs')
        early = str(journal.utcnow() - datetime.timedelta(seconds=60))
        self.publish('esi_leap.lease.fulfill.start', leases, early)
        base.wait_for(lambda: len(runs()) == 2 * NODES, 120,
                      'every job run')
        self.assertEqual(set(), _overlapping(runs()))
        self.assertEqual([journal.DONE] * 2 * NODES,
                         [r['state'] for r in self.journal_rows()])

    def publish(self, event_type, leases, timestamp):
        raw.publish(self.transport_url, self.topic, [
            raw.envelope(event_type, fake_esi_leap.payload(lease),
                         timestamp=timestamp) for lease in leases])


class HeldJobAttemptsTest(base.FunctionalTestCase):
    """A job waiting for a max_concurrency slot counts no attempt."""

    def test_kill_9_while_a_job_waits_for_its_slot(self):
        attempts = os.path.join(self.dir, 'attempts')
        go = os.path.join(self.dir, 'go')
        # Whichever job has the one slot runs until the test lets it end;
        # the other waits for the slot, claimed.
        self.write('slow.sh', '''#!/bin/sh
            echo "$ESI_EVENT_ID $ESI_ATTEMPT" >> %s
            while [ ! -e %s ]; do sleep 0.1; done
            ''' % (attempts, go), 0o755)
        svc = self.service(self.config('''
            [serial]
            events = esi_leap.lease.fulfill.end
            script = slow.sh
            max_concurrency = 1
            '''))
        svc.wait_listening()
        for _ in range(2):
            self.esi_leap.emit('esi_leap.lease.fulfill.end',
                               fake_esi_leap.lease_data())
        for crash in range(3):
            base.wait_for(lambda: len(self.journal_rows(
                state=journal.RUNNING)) == 2 and len(
                    self.lines(attempts)) == crash + 1, 60,
                'one job running, one waiting for the slot')
            svc.kill()
            svc.start()
            svc.wait_listening()
        with open(go, 'w'):
            pass
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) == 2, 60, 'both jobs done')
        # Each run is the first attempt: neither the crashes nor the
        # waits were the action's failures.
        self.assertEqual({'1'}, {n for _, n in self.lines(attempts)})
        self.assertEqual([1, 1], [r['attempts']
                                  for r in self.journal_rows()])

    @staticmethod
    def lines(path):
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f]
