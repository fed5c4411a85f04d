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
"""The jobs waiting in memory: one queue per node, and the room left.

No threads, no journal, no clock: the pool calls these under its lock
and says what time it is.  Jobs about one node run one at a time, by
event time then journal order; nodes take turns, first come first served,
except a node whose next job a rule's limits hold until a given time.
"""

import collections
import heapq
import itertools

# A node whose next job may start now sorts before every held one.
_NOW = float('-inf')


def node_key(job):
    """The queue of ``job``: its node; a job without a node has its own."""
    return job.node or ('job', job.id)


class NodeQueues:
    """Per-node queues, the order nodes start in, and a bounded memory.

    ``capacity`` bounds the jobs waiting to start: a job waits until
    :meth:`started`, even once :meth:`pop` ped, while the pool asks its
    rule's limits whether it may start.  A hand-off or a claim
    :meth:`reserve` s places before it brings jobs in, and :meth:`put`
    fills them: with every caller doing so, :attr:`waiting` never exceeds
    the capacity.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        # Jobs by node in run order; the head of a busy node is running.
        self._queues = {}
        self._busy = set()
        # Busy nodes whose head was popped and has not started.
        self._asking = set()
        # Nodes whose head may start at a time: (time, tie-breaker, key),
        # _NOW for those that may start now.  A node is here once at most,
        # and only while it is not busy.
        self._starts = []
        self._count = itertools.count()
        self.waiting = 0
        self.reserved = 0

    def __bool__(self):
        return bool(self._queues)

    def holds(self, node):
        """Whether a job about ``node`` is in memory."""
        return node in self._queues

    def nodes(self):
        """The nodes with jobs in memory."""
        return set(self._queues)

    # The room left.

    def room_left(self):
        return self.capacity - self.waiting - self.reserved

    def reserve(self):
        """Promise every free place; how many."""
        room = max(0, self.room_left())
        self.reserved += room
        return room

    def unreserve(self, count):
        """Give back places promised by :meth:`reserve`."""
        self.reserved -= count

    # Jobs in and out.

    def put(self, job):
        """Queue ``job`` behind the jobs of its node that run before it."""
        key = node_key(job)
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = collections.deque([job])
            self._push(_NOW, key)
        else:
            # Mostly the newest; an older event goes before the later ones
            # that have not started.
            index = len(queue)
            first = 1 if key in self._busy else 0
            while index > first and queue[index - 1].order > job.order:
                index -= 1
            queue.insert(index, job)
        self.waiting += 1

    def pop(self, now):
        """The next job that may start at ``now``, or None.

        Its node is busy from now on: the job is :meth:`started`, or put
        back with :meth:`hold`.
        """
        if not self._starts or self._starts[0][0] > now:
            return None
        key = heapq.heappop(self._starts)[2]
        self._busy.add(key)
        self._asking.add(key)
        return self._queues[key][0]

    def started(self, job):
        """``job``, popped, runs: its place is free."""
        self._asking.discard(node_key(job))
        self.waiting -= 1

    def hold(self, job, until):
        """``job``, popped, may not start before ``until``."""
        key = node_key(job)
        self._busy.discard(key)
        self._asking.discard(key)
        self._push(until, key)

    def withdraw(self, job):
        """``job``, popped, will not start: it and its node leave memory.

        :returns: the jobs that left memory.
        """
        self.started(job)
        return [job] + self.done(job, rest_waits=True)

    def wake(self, rules):
        """Let the held nodes whose next job is of ``rules`` start now."""
        self._starts = [
            (_NOW if self._queues[key][0].rule in rules else at, n, key)
            for at, n, key in self._starts]
        heapq.heapify(self._starts)

    def done(self, job, rest_waits=False):
        """``job`` ended; with ``rest_waits``, its node's jobs leave memory.

        :returns: the jobs that left memory (they wait in the journal).
        """
        key = node_key(job)
        queue = self._queues[key]
        queue.popleft()
        self._busy.discard(key)
        gone = []
        if rest_waits:
            gone = list(queue)
            self.waiting -= len(gone)
            queue.clear()
        if queue:
            self._push(_NOW, key)
        else:
            del self._queues[key]
        return gone

    def clear_waiting(self):
        """Empty memory of every job that is not running; those jobs."""
        gone = []
        for key in list(self._queues):
            queue = self._queues[key]
            keep = 1 if key in self._busy else 0
            while len(queue) > keep:
                gone.append(queue.pop())
            if not queue:
                del self._queues[key]
        self._starts = []
        self.waiting = len(self._asking)
        return gone

    # When to look again.

    def next_start(self):
        """When the next job may start: _NOW, a time, or None for never."""
        return self._starts[0][0] if self._starts else None

    def _push(self, at, key):
        heapq.heappush(self._starts, (at, next(self._count), key))
