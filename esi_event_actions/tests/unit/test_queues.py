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
"""The worker queues alone: no threads, no journal, no clock, no sleep."""

import collections
import datetime

from hypothesis import settings
from hypothesis import stateful
from hypothesis import strategies as st
import testtools

from esi_event_actions.journal import model
from esi_event_actions.workers import queues

_EPOCH = datetime.datetime(2026, 1, 1)


def _job(job_id, node, minute=None, rule='r'):
    return model.Job(id=job_id, rule=rule, event=None, node=node,
                     state=model.RUNNING, attempts=1,
                     event_time=_EPOCH + datetime.timedelta(
                         minutes=job_id if minute is None else minute))


class NodeQueuesTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.queues = queues.NodeQueues(4)

    def put(self, *jobs):
        self.queues.reserve()
        for job in jobs:
            self.queues.put(job)
        self.queues.unreserve(self.queues.reserved)

    def start(self, now=0):
        job = self.queues.pop(now)
        if job is not None:
            self.queues.started(job)
        return job

    def test_one_job_per_node_at_a_time_in_event_order(self):
        self.put(_job(1, 'a'), _job(2, 'a'), _job(3, 'b'))
        first = self.start(0)
        second = self.start(0)
        self.assertEqual([1, 3], [first.id, second.id])
        self.assertIsNone(self.start(0))
        self.queues.done(first)
        self.assertEqual(2, self.start(0).id)

    def test_an_earlier_event_goes_before_what_has_not_started(self):
        running = _job(1, 'a', minute=10)
        self.put(running)
        self.assertIs(running, self.start(0))
        self.put(_job(2, 'a', minute=20), _job(3, 'a', minute=5))
        self.queues.done(running)
        order = []
        while self.queues:
            job = self.start(0)
            order.append(job.id)
            self.queues.done(job)
        self.assertEqual([3, 2], order)

    def test_reservations_bound_what_waits(self):
        self.assertEqual(4, self.queues.reserve())
        self.assertEqual(0, self.queues.reserve())
        self.assertEqual(0, self.queues.room_left())
        self.queues.put(_job(1, 'a'))
        self.queues.unreserve(4)
        self.assertEqual(3, self.queues.room_left())
        job = self.queues.pop(0)
        # Until the rule's limits let it start, it waits.
        self.assertEqual(3, self.queues.room_left())
        self.queues.started(job)
        self.assertEqual(4, self.queues.room_left())

    def test_a_held_node_starts_at_its_time_or_when_woken(self):
        job = _job(1, 'a', rule='limited')
        self.put(job, _job(2, 'b'))
        self.assertIs(job, self.queues.pop(0))
        self.queues.hold(job, 10.0)
        self.assertEqual(2, self.start(0).id)
        self.assertIsNone(self.start(9.9))
        self.assertEqual(10.0, self.queues.next_start())
        self.assertIs(job, self.queues.pop(10.0))
        self.queues.hold(job, 20.0)
        self.queues.wake({'other'})
        self.assertIsNone(self.start(0))
        self.queues.wake({'limited'})
        self.assertIs(job, self.start(0))

    def test_ready_nodes_start_before_held_ones_due(self):
        held = _job(1, 'a')
        self.put(held)
        self.queues.pop(0)
        self.queues.hold(held, 5.0)
        self.put(_job(2, 'b'))
        self.assertEqual([2, 1], [self.start(6.0).id,
                                  self.start(6.0).id])

    def test_a_retry_sends_its_node_s_other_jobs_away(self):
        first = _job(1, 'a')
        self.put(first, _job(2, 'a'), _job(3, 'a'), _job(4, 'b'))
        self.start(0)
        gone = self.queues.done(first, rest_waits=True)
        self.assertEqual([2, 3], [job.id for job in gone])
        self.assertFalse(self.queues.holds('a'))
        self.assertEqual(1, self.queues.waiting)

    def test_clear_waiting_keeps_only_the_running(self):
        running = _job(1, 'a')
        self.put(running, _job(2, 'a'), _job(3, 'b'))
        self.start(0)
        gone = self.queues.clear_waiting()
        self.assertEqual({2, 3}, {job.id for job in gone})
        self.assertEqual(0, self.queues.waiting)
        self.assertEqual({'a'}, self.queues.nodes())
        self.assertIsNone(self.start(0))
        self.queues.done(running)
        self.assertFalse(self.queues)

    def test_jobs_without_a_node_run_side_by_side(self):
        self.put(_job(1, None), _job(2, None))
        self.assertEqual({1, 2}, {self.start(0).id,
                                  self.start(0).id})


class NodeQueuesMachine(stateful.RuleBasedStateMachine):
    """Any sequence of the pool's calls keeps the queues' promises."""

    def __init__(self):
        super().__init__()
        self.queues = queues.NodeQueues(6)
        self.now = 0.0
        self.next_id = 0
        self.running = {}
        # What the model says waits in memory, per node.
        self.waiting = collections.defaultdict(list)

    def left(self, jobs):
        for job in jobs:
            self.waiting[job.node].remove(job)

    @stateful.rule(nodes=st.lists(st.sampled_from('abc'), max_size=8),
                   minutes=st.integers(0, 50))
    def hand_off(self, nodes, minutes):
        room = self.queues.reserve()
        for node in nodes[:room]:
            self.next_id += 1
            job = _job(self.next_id, node, minute=minutes)
            self.queues.put(job)
            self.waiting[node].append(job)
        self.queues.unreserve(room)

    @stateful.rule(admitted=st.booleans(), wait=st.floats(0, 5))
    def start(self, admitted, wait):
        job = self.queues.pop(self.now)
        if job is None:
            return
        assert job.node not in self.running, 'two jobs of one node'
        assert job.order == min(j.order for j in self.waiting[job.node])
        if admitted:
            self.queues.started(job)
            self.left([job])
            self.running[job.node] = job
        else:
            self.queues.hold(job, self.now + wait)

    @stateful.rule()
    def withdraw(self):
        job = self.queues.pop(self.now)
        if job is not None:
            self.left(self.queues.withdraw(job))

    @stateful.rule(node=st.sampled_from('abc'), retry=st.booleans())
    def end(self, node, retry):
        job = self.running.pop(node, None)
        if job is not None:
            self.left(self.queues.done(job, rest_waits=retry))

    @stateful.rule(seconds=st.floats(0, 3))
    def tick(self, seconds):
        self.now += seconds

    @stateful.rule()
    def stop(self):
        self.left(self.queues.clear_waiting())

    @stateful.invariant()
    def memory_is_bounded(self):
        assert 0 <= self.queues.waiting <= self.queues.capacity
        assert self.queues.reserved == 0
        assert self.queues.waiting == sum(map(len, self.waiting.values()))

    @stateful.invariant()
    def a_node_is_in_memory_while_it_has_jobs(self):
        for node in 'abc':
            assert self.queues.holds(node) == bool(
                self.waiting[node] or node in self.running)

    @stateful.invariant()
    def nothing_waits_for_ever(self):
        # A node with waiting jobs and none running can start one, now or
        # at the time a rule's limits gave it.
        if any(jobs and node not in self.running
               for node, jobs in self.waiting.items()):
            assert self.queues.next_start() is not None


NodeQueuesMachine.TestCase.settings = settings(max_examples=200,
                                               deadline=None)
NodeQueuesMachineTest = NodeQueuesMachine.TestCase
