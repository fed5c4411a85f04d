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
"""The worker threads, the hand-off from the sources, and stopping.

The transaction that journals fresh jobs also claims them for this
instance, when nothing else about their node is unfinished, and the
source hands them straight to the pool (:meth:`WorkerPool.take`): no query
takes them from the journal again.  The others wait in the journal for
the claimer (:mod:`.claimer`).

At most ``size`` jobs run at once, and a worker starts no job while
``2 * size`` are running or waiting for their end to be committed
(:mod:`.recorder`), so a crash reruns at most ``2 * size`` jobs.

Memory is bounded: at most :data:`QUEUED_PER_WORKER` jobs per worker wait
in memory (:mod:`.queues`).  A hand-off or a claim first reserves the
places left, and the transaction that journals or claims jobs takes no
more than that: the rest of a large batch (a long history polled at once)
waits in the journal for the claims.
"""

import contextlib
import socket
import threading
import time
import uuid

from esi_event_actions.journal import model
from esi_event_actions import metrics as metrics_mod
from esi_event_actions.workers import claimer
from esi_event_actions.workers import execute
from esi_event_actions.workers import queues as queues_mod
from esi_event_actions.workers import recorder

#: Jobs per worker that may wait in memory to start.
QUEUED_PER_WORKER = 16
#: Longest a source waits for room in memory before it leaves its jobs to
#: the journal's claims: a stuck action must not hold a batch of
#: notifications unacknowledged.
HANDOFF_WAIT = 5.0


def pool_options(conf):
    """WorkerPool arguments from the [worker] and [journal] options."""
    worker = conf.worker
    return dict(size=worker.workers, output_limit=worker.output_limit,
                lease=worker.lease_timeout,
                poll_interval=worker.poll_interval,
                dead_blocks=worker.dead_blocks_node,
                retention=conf.journal.done_retention_days * 86400 or None)


def new_owner():
    """A name for one service instance's claims in the journal."""
    return '%s:%s' % (socket.gethostname(), uuid.uuid4().hex[:12])


class WorkerPool:
    """A bounded pool of threads running jobs, in order per node.

    Jobs about one node run one after the other, by event time then
    arrival, even across retries and across service instances; jobs about
    different nodes run in parallel.

    :param runner: callable ``(job, attempt) -> Result``.
    :param policy: callable ``(job) -> RetryPolicy``.
    :param lease: seconds a claim holds a job; renewed while it is held.
    :param retention: seconds done jobs are kept, or None for ever.
    :param admission: callable ``(owner, lease) ->`` an object whose
        ``admit(job)`` says whether a job may start (None) or how long it
        waits first, and ``ended(job)`` hears of its recorded end (see
        :class:`esi_event_actions.policies.Admission`).
    """

    def __init__(self, journal, runner, size, output_limit=4096,
                 policy=None, lease=60.0, poll_interval=1.0,
                 dead_blocks=False, owner=None, retention=None,
                 metrics=metrics_mod.NO_METRICS, admission=None):
        self._size = size
        self._lease = lease
        self._dead_blocks = dead_blocks
        self.owner = owner or new_owner()
        self._admission = admission and admission(self.owner, lease)
        self._lock = lock = threading.Lock()
        self._work = threading.Condition(lock)      # workers wait here
        self._changed = threading.Condition(lock)   # sources, wait_idle
        self._queues = queues_mod.NodeQueues(size * QUEUED_PER_WORKER)
        #: Jobs that may wait in memory.
        self.capacity = self._queues.capacity
        self._recorder = recorder.Recorder(journal, self.owner, lock, size,
                                           self._committed)
        self._execute = execute.Executor(
            runner, policy, output_limit, metrics, self._recorder.context_of,
            journal.context_limit)
        self._claimer = claimer.Claimer(
            journal, self.owner, lock, self._queues, self._claimed,
            self._recorder.nodes, lease, poll_interval, dead_blocks,
            retention, metrics, self._recorder.commits)
        self._running = self._unrecorded = 0
        # Nodes whose jobs went back to the journal behind a retry (or a
        # dead job that blocks), until a claim brings that job back: a
        # transaction that read the journal before the retry was recorded
        # may still hand over a later job of the node.
        self._behind = set()
        self._started = self._stopping = False
        self._threads = []

    def start(self):
        for index in range(self._size):
            self._spawn(self._worker, 'esi-worker-%d' % index)
        self._spawn(self._claimer.run, 'esi-claimer')
        self._spawn(self._recorder.run, 'esi-recorder')
        self._started = True

    def _spawn(self, target, name):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # What sources call.

    @contextlib.contextmanager
    def handoff(self, wait=HANDOFF_WAIT, want=1):
        """A :class:`model.Claim` for one journal transaction, or None.

        Reserves room in memory for what the transaction claims, waiting
        up to ``wait`` seconds for ``want`` places first (as many as there
        can be), so that a busy pool takes whole batches rather than
        slivers of each, which would cost a claim for every sliver left in
        the journal.  None when the pool takes nothing now: the jobs wait
        for a claim.  Give what the transaction returned to :meth:`take`.
        """
        want = max(1, min(want, self.capacity))
        with self._lock:
            if self._started:
                self._changed.wait_for(lambda: self._stopping or (
                    self._queues.room_left() >= want), wait)
            room = (self._started and not self._stopping and
                    self._queues.reserve())
        try:
            yield model.Claim(self.owner, self._lease, self._dead_blocks,
                              room, self._recorder.commits()) if room else None
        finally:
            with self._lock:
                self._queues.unreserve(room or 0)

    def take(self, jobs):
        """Run the jobs a hand-off's transaction claimed; note the others.

        The claimed ones fill the places the hand-off reserved; call this
        inside the ``with`` block.  A claimed job queues behind the jobs
        of its node in memory; one whose node the journal holds earlier
        jobs of (a retry this instance has just sent back there, which the
        transaction may not have seen yet) goes back to the journal behind
        them.
        """
        with self._lock:
            for job in jobs:
                if job.state == model.SCHEDULED:
                    self._claimer.scheduled(job.event_time)
            claimed = [job for job in jobs if job.state == model.RUNNING]
            behind = [job for job in claimed if job.node in self._behind]
            self._recorder.release(behind)
            waiting = [job for job in jobs if job.state == model.PENDING]
            if waiting or behind:
                self._claimer.waiting(job.node for job in waiting)
                self._claimer.want()
            sent = {job.id for job in behind}
            self._deliver([job for job in claimed if job.id not in sent])

    def wait_idle(self, timeout=None):
        """Block until nothing runs or is runnable now, all recorded."""
        with self._lock:
            return self._changed.wait_for(
                lambda: not self._queues and self._recorder.flushed() and
                self._claimer.idle(), timeout)

    def stop(self, timeout=None):
        """Start nothing more; wait up to ``timeout`` for running jobs.

        Jobs waiting in memory go back to the journal, and every end is
        committed before this returns.  Returns False if some action was
        still running at the deadline; its job stays marked running and
        runs again later.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._stopping = True
            self._claimer.stop()
            self._work.notify_all()
            self._changed.notify_all()
        # The recorder last: it commits what the others leave.
        for thread in self._threads[:-1]:
            thread.join(_left(deadline))
        with self._lock:
            self._recorder.release(self._queues.clear_waiting())
            self._recorder.close()
        for thread in self._threads:
            thread.join(_left(deadline))
        return not any(t.is_alive() for t in self._threads)

    # Under the lock.

    def _claimed(self, jobs):
        # The journal's first unfinished job of each node is in memory
        # now: a later one queues behind it here.
        self._behind.difference_update(job.node for job in jobs)
        self._deliver(jobs)

    def _deliver(self, jobs):
        if self._stopping:
            self._recorder.release(jobs)
            return
        for job in jobs:
            self._queues.put(job)
        self._work.notify(len(jobs))
        self._changed.notify_all()

    def _committed(self, ends):
        self._unrecorded -= len(ends)
        freed = {end.job.rule for end in ends if end.job.slot}
        if freed:
            for end in ends:
                if end.job.slot:
                    self._admission.ended(end.job)
            self._queues.wake(freed)
            self._work.notify_all()
        self._claimer.ended(ends)
        self._work.notify(len(ends))
        self._changed.notify_all()

    def _room(self):
        return self._running + self._unrecorded < 2 * self._size

    def _next_job(self):
        """Wait for a job to start and room for it; None when stopping."""
        while not self._stopping:
            start = self._queues.next_start()
            now = time.monotonic()
            if start is not None and start <= now and self._room():
                job = self._queues.pop(now)
                self._running += 1
                if not self._admission:
                    self._running_now(job)
                return job
            # Until the first held node may ask again; a held node that is
            # due but has no room waits for an end.
            wait = None
            if start is not None and start > now:
                wait = start - now
            self._work.wait(wait)
        return None

    def _running_now(self, job):
        self._queues.started(job)
        self._claimer.room()
        self._changed.notify_all()

    # The workers.

    def _worker(self):
        while True:
            with self._lock:
                job = self._next_job()
            if job is None:
                return
            if self._admission and not self._admitted(job):
                continue
            end = self._execute(job)
            with self._lock:
                self._running -= 1
                self._unrecorded += 1
                self._recorder.add(end, urgent=self._stopping or (
                    not self._room()))
                rest_waits = end.state == model.RETRY or (
                    end.state == model.DEAD and self._dead_blocks)
                self._sent_back(self._queues.done(job, rest_waits),
                                job.node, rest_waits)
                self._work.notify()

    def _admitted(self, job):
        """Whether the rule's limits let ``job`` start; if not, it waits."""
        wait = self._admission.admit(job)
        with self._lock:
            if not wait:
                self._running_now(job)
                return True
            self._running -= 1
            if self._stopping:
                # Back to the journal, as stop() sends the queue.
                self._recorder.release(self._queues.withdraw(job))
            else:
                self._queues.hold(job, time.monotonic() + wait)
            return False

    def _sent_back(self, jobs, node, behind_it):
        """``jobs`` of ``node`` go back to the journal.

        ``behind_it``: they wait there behind the job that just ended,
        which waits for a retry or an operator.
        """
        self._recorder.release(jobs)
        if behind_it:
            self._claimer.waiting([node])
            if node:
                self._behind.add(node)


def _left(deadline):
    return None if deadline is None else max(0, deadline - time.monotonic())
