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
"""The memory bound, from each source: one batch of 200 nodes, one worker.

A worker's pool holds at most 16 jobs waiting in memory; the listener's
batch and the poller's whole poll go through the same hand-off, which
claims no more than that and leaves the rest pending in the journal.
"""

import os

from esi_event_actions import journal
from esi_event_actions import listener
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions import workers

NODES = 200

RULES = '''
[journal]
connection = sqlite:///%s/journal.sqlite
[worker]
workers = 1
poll_interval = 0.05
[esi_leap]
endpoint_override = %s
[poller]
start_from = beginning
[act]
events = esi_leap.lease.fulfill.end
script = gated.sh
'''


class MemoryBoundTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.api = self.useFixture(fake_esi_leap.API())
        self.gate = os.path.join(self.dir, 'gate')
        # Every run waits for the gate: what is claimed stays claimed.
        self.script('gated.sh', 'while [ ! -e %s ]; do sleep 0.02; done'
                    % self.gate)
        self.load(RULES % (self.dir, self.api.url))
        self.pipeline = self.start_pipeline()

    def assert_bounded_then_all_done(self):
        capacity = workers.QUEUED_PER_WORKER
        counts = self.pipeline.journal.counts()
        # One running, at most the capacity waiting; the rest pending.
        self.assertLessEqual(counts[journal.RUNNING], capacity + 1)
        self.assertEqual(NODES, counts[journal.RUNNING] +
                         counts[journal.PENDING])
        with open(self.gate, 'w'):
            pass
        done = cases.wait_counts(self.pipeline.journal, lambda counts: (
            counts[journal.DONE] == NODES), 60, 0.05)
        self.assertIsNotNone(done, self.pipeline.journal.counts())

    def test_a_listener_batch(self):
        endpoint = listener.FulfillEndpoint(self.pipeline, requeue_delay=0)
        endpoint.info([fake_esi_leap.lease_message(node_uuid='node-%03d' % n)
                       for n in range(NODES)])
        self.assert_bounded_then_all_done()

    def test_a_poll_of_a_long_history(self):
        for number in range(NODES):
            lease = fake_esi_leap.lease_data(uuid='lease-%03d' % number,
                                             node_uuid='node-%03d' % number)
            self.api.leases[lease['uuid']] = lease
            self.api.add(fake_esi_leap.FULFILL_END, lease['uuid'],
                         lease['resource_uuid'])
        poller = self.history_poller(self.pipeline)
        self.assertEqual(NODES, poller.poll())
        self.assert_bounded_then_all_done()
