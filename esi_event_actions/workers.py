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
"""Workers: run journal jobs, in order per node, in parallel across nodes.

Jobs reach the workers in memory.  The transaction that journals fresh jobs
also claims them for this instance (see :meth:`Journal.add`), and the
source hands them straight to the pool (:meth:`WorkerPool.handoff`): no
query takes them from the journal again.  A dispatcher thread claims, with
a query, only what memory cannot know: jobs left running by a crash,
retries falling due, jobs written by another process (``manage replay``,
``journal retry``) and, on a shared journal, jobs other instances wrote
behind theirs or abandoned.

A recorder thread writes the ends of jobs in groups: one transaction, and
so one fsync, for every job that finished since the last one, within
:data:`COMMIT_WINDOW`.  A job whose end was not committed when the service
died runs again at the next start (at-least-once).  At most ``size`` jobs
run at once and a worker starts no job while ``2 * size`` are running or
waiting for their end to be committed, so a crash reruns at most
``2 * size`` jobs.

Memory is bounded: at most :data:`QUEUED_PER_WORKER` jobs per worker wait
in memory.  A hand-off or a claim first reserves the places left, and the
transaction that journals or claims jobs takes no more than that: the
rest of a large batch (a long history polled at once) waits in the
journal for the claims.  A source that finds no room waits for some, up to
:data:`HANDOFF_WAIT`, then leaves all its jobs in the journal.
"""

import collections
import contextlib
import datetime
import heapq
import itertools
import socket
import threading
import time
import uuid

from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions import journal as journal_mod
from esi_event_actions import metrics as metrics_mod
from esi_event_actions import retries
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

# Pause after the journal failed, so that a database outage does not become
# a busy loop.
_JOURNAL_RETRY_DELAY = 1.0
# How often done jobs older than the retention are deleted.
_PRUNE_INTERVAL = 3600.0
#: Longest a finished job waits before its end is committed.
COMMIT_WINDOW = 0.005
#: Jobs per worker that may wait in memory to start.
QUEUED_PER_WORKER = 16
#: Longest a source waits for room in memory before it leaves its jobs to
#: the journal's claims: a stuck action must not hold a batch of
#: notifications unacknowledged.
HANDOFF_WAIT = 5.0
#: Characters kept of a result's one-line detail.
DETAIL_LIMIT = 1024
# What the journal's exit_status column holds (a 32-bit integer).
_INT_MIN, _INT_MAX = -2 ** 31, 2 ** 31 - 1


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


class _Handoff:
    """One source's hand-off of the jobs of one journal transaction.

    ``claim_args`` are the :meth:`Journal.add` arguments that claim the
    new jobs for the pool, or nothing when the pool cannot take them now;
    calling the hand-off with what ``add`` returned gives them to the
    workers.
    """

    def __init__(self, pool, claim_args, epoch):
        self._pool = pool
        self.claim_args = claim_args
        self.epoch = epoch

    def __call__(self, jobs):
        self._pool._take(jobs, self.epoch)


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
        self._journal = journal
        self._runner = runner
        self._size = size
        self._output_limit = output_limit
        self._policy = policy or (lambda job: retries.RetryPolicy())
        self._lease = lease
        self._poll = poll_interval
        self._dead_blocks = dead_blocks
        self.owner = owner or new_owner()
        self._retention = retention
        self._metrics = metrics
        self._admission = admission and admission(self.owner, lease)
        self.capacity = size * QUEUED_PER_WORKER
        lock = threading.Lock()
        self._lock = lock
        self._work = threading.Condition(lock)      # workers wait here
        self._ended = threading.Condition(lock)     # the recorder
        self._claims = threading.Condition(lock)    # the dispatcher
        self._changed = threading.Condition(lock)   # sources, wait_idle
        # Jobs in memory by node (a job without a node is its own), in
        # run order; the head of a busy node is running.
        self._nodes = {}
        self._busy = set()
        self._ready = collections.deque()
        # Nodes whose next job waits for its rule's limits: (when it asks
        # again, tie-breaker, node).
        self._held = []
        self._held_count = itertools.count()
        self._queued = 0
        # Places in memory promised to a hand-off or a claim under way:
        # what they bring in fills them, so capacity holds by construction.
        self._reserved = 0
        self._running = 0
        self._unrecorded = 0
        self._ends = []
        self._releases = []
        self._recording = 0
        # Nodes whose jobs the journal may hold: after one of their ends
        # is committed, a claim may find their next job.
        self._journal_nodes = set()
        # Nodes whose queue went back to the journal behind a retry, by
        # the number of the commit that records it (see _take).
        self._parked = {}
        self._taken = self._committed = 0
        self._epochs = collections.Counter()
        self._claim_due = True
        self._claiming = False
        self._started = self._stopping = self._closed = False
        self._threads = []
        self._recorder = None
        self._outages = {
            'record': journal_mod.Outage(LOG, 'Recording the end of jobs'),
            'claim': journal_mod.Outage(LOG, 'Claiming jobs'),
            'renew': journal_mod.Outage(LOG, 'Renewing the lease on jobs')}
        self._last_renew = time.monotonic()
        self._last_prune = float('-inf')

    def start(self):
        for index in range(self._size):
            self._spawn(self._worker, 'esi-worker-%d' % index)
        self._spawn(self._dispatch, 'esi-dispatcher')
        self._recorder = self._spawn(self._record, 'esi-recorder')
        self._started = True

    def _spawn(self, target, name):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    # What sources call.

    @contextlib.contextmanager
    def handoff(self, wait=HANDOFF_WAIT, want=1):
        """A :class:`_Handoff` for one journal transaction.

        Waits up to ``wait`` seconds for room in memory first: for
        ``want`` jobs (as much as there can be), so that a busy pool takes
        whole batches rather than slivers of each, which would cost a
        claim for every sliver left in the journal.
        """
        want = max(1, min(want, self.capacity))
        with self._lock:
            if self._started:
                self._changed.wait_for(
                    lambda: self._stopping or self._room_left() >= want,
                    wait)
            room = (self._started and not self._stopping and
                    self._reserve())
            epoch = self._committed
            self._epochs[epoch] += 1
        claim_args = dict(owner=self.owner, lease=self._lease,
                          dead_blocks=self._dead_blocks,
                          limit=room) if room else {}
        try:
            yield _Handoff(self, claim_args, epoch)
        finally:
            with self._lock:
                self._reserved -= room or 0
                self._epochs[epoch] -= 1
                if not self._epochs[epoch]:
                    del self._epochs[epoch]
                self._forget_parked()

    def submit(self):
        """Tell the pool that the journal has jobs for a claim."""
        with self._lock:
            self._want_claim()

    def wait_idle(self, timeout=None):
        """Block until nothing runs or is runnable now, all recorded."""
        with self._lock:
            return self._changed.wait_for(
                lambda: not self._nodes and self._flushed() and
                not self._claim_due and not self._claiming, timeout)

    def flush(self, timeout=None):
        """Block until every end so far is committed."""
        with self._lock:
            return self._changed.wait_for(self._flushed, timeout)

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
            for cond in (self._work, self._claims, self._ended,
                         self._changed):
                cond.notify_all()
        # The recorder last: it commits what the others leave.
        for thread in [t for t in self._threads if t is not self._recorder]:
            thread.join(_left(deadline))
        with self._lock:
            self._release_queued()
            self._closed = True
            self._ended.notify()
        for thread in self._threads:
            thread.join(_left(deadline))
        return not any(t.is_alive() for t in self._threads)

    # In memory, under the lock.

    def _room_left(self):
        return self.capacity - self._queued - self._reserved

    def _reserve(self):
        """Promise every free place in memory; how many."""
        room = max(0, self._room_left())
        self._reserved += room
        return room

    def _take(self, jobs, epoch):
        with self._lock:
            for job in jobs:
                if job.state == journal_mod.SKIPPED:
                    continue
                if job.state != journal_mod.RUNNING:
                    if job.node:
                        self._journal_nodes.add(job.node)
                    self._want_claim()
                elif self._parked.get(job.node, 0) > epoch:
                    # The transaction that claimed it looked at the journal
                    # before the retry holding its node was recorded there.
                    self._releases.append(job.id)
                    self._ended.notify()
                else:
                    self._enqueue(job)

    def _enqueue(self, job):
        key = job.node or ('job', job.id)
        queue = self._nodes.get(key)
        if queue is None:
            self._nodes[key] = collections.deque([job])
            self._ready.append(key)
            self._work.notify()
        else:
            # Mostly the newest; an older event goes before the later ones
            # that have not started.
            index = len(queue)
            first = 1 if key in self._busy else 0
            while index > first and queue[index - 1].order > job.order:
                index -= 1
            queue.insert(index, job)
        self._queued += 1

    def _next_of(self, key, end):
        """After ``end``: what its node runs next, if anything."""
        queue = self._nodes[key]
        queue.popleft()
        self._busy.discard(key)
        if end.state == journal_mod.RETRY or (
                end.state == journal_mod.DEAD and self._dead_blocks):
            # The rest of the node waits behind it in the journal.
            self._releases.extend(job.id for job in queue)
            self._queued -= len(queue)
            queue.clear()
            if end.job.node:
                self._journal_nodes.add(end.job.node)
                self._parked[end.job.node] = self._taken + 1
        if queue:
            self._ready.append(key)
            self._work.notify()
        else:
            del self._nodes[key]

    def _release_queued(self):
        self._held = []
        for key, queue in self._nodes.items():
            waiting = list(queue)[1:] if key in self._busy else list(queue)
            self._releases.extend(job.id for job in waiting)
        self._nodes = {key: collections.deque([queue[0]])
                       for key, queue in self._nodes.items()
                       if key in self._busy}
        self._ready.clear()
        self._queued = 0

    def _want_claim(self):
        self._claim_due = True
        self._claims.notify()

    def _forget_parked(self):
        # A parked node matters to transactions that began before the
        # commit recording why it is parked, and to no later one.
        oldest = min(self._epochs, default=self._committed)
        self._parked = {node: number for node, number in
                        self._parked.items() if number > oldest}

    def _flushed(self):
        return not (self._ends or self._releases or self._recording)

    def _may_start(self):
        return self._stopping or (
            (self._ready or self._held_due()) and self._room())

    def _room(self):
        return self._running + self._unrecorded < 2 * self._size

    def _held_due(self):
        return self._held and self._held[0][0] <= time.monotonic()

    def _held_wait(self):
        if not self._held:
            return None
        return max(0.0, self._held[0][0] - time.monotonic())

    def _hold(self, key, wait):
        heapq.heappush(self._held, (time.monotonic() + wait,
                                    next(self._held_count), key))

    def _wake(self, rules):
        """Let the held nodes of ``rules`` ask again now."""
        now = time.monotonic()
        self._held = [
            (now if self._nodes[key][0].rule in rules else due, n, key)
            for due, n, key in self._held]
        heapq.heapify(self._held)
        self._work.notify_all()

    # The workers.

    def _worker(self):
        while True:
            with self._lock:
                # Until the first held node may ask again; a held node
                # that is due but has no room waits for an end.
                self._work.wait_for(self._may_start,
                                    self._held_wait() or None)
                if self._stopping:
                    return
                while self._held_due():
                    self._ready.append(heapq.heappop(self._held)[2])
                # The wait also ends when a held node is due, room or not.
                if not self._ready or not self._room():
                    continue
                key = self._ready.popleft()
                job = self._nodes[key][0]
                self._busy.add(key)
                self._queued -= 1
                self._running += 1
                self._changed.notify_all()
            wait = self._admission and self._admission.admit(job)
            if wait:
                with self._lock:
                    self._busy.discard(key)
                    self._running -= 1
                    if self._stopping:
                        # Back to the journal, as stop() sends the queue.
                        queue = self._nodes[key]
                        queue.popleft()
                        if not queue:
                            del self._nodes[key]
                        self._releases.append(job.id)
                        self._ended.notify()
                    else:
                        self._queued += 1
                        self._hold(key, wait)
                continue
            end = self._process(job)
            with self._lock:
                self._running -= 1
                self._unrecorded += 1
                self._ends.append(end)
                self._next_of(key, end)
                if len(self._ends) == 1 or self._commit_now():
                    self._ended.notify()

    def _process(self, job):
        started_at = journal_mod.utcnow()
        started = time.monotonic()
        try:
            result = self._runner(job, job.attempts)
        except Exception as exc:
            LOG.exception('Action of rule %s crashed on job %d',
                          job.rule, job.id)
            result = base.Result(base.FAILURE, 'action crashed: %s' % exc)
        duration = time.monotonic() - started
        try:
            result = self._bounded(result)
            state, next_at = self._outcome(job, result)
        except Exception as exc:
            # Whatever a plugin returned, or a retry policy computed, this
            # thread must live on to record the end and run the next job.
            LOG.exception('Cannot read the result of job %d', job.id)
            result = base.Result(base.FAILURE, 'unusable result: %s: %s'
                                 % (type(exc).__name__, exc))
            state, next_at = journal_mod.DEAD, None
        self._log(job, state, result, duration, next_at)
        self._metrics.finished(job.rule, state, duration)
        return journal_mod.End(
            job, state, result, duration, started_at,
            started_at + datetime.timedelta(seconds=duration), next_at)

    def _bounded(self, result):
        """``result`` with its detail and output within their limits."""
        if not isinstance(result, base.Result):
            raise TypeError('an action returned %s, not a Result'
                            % type(result).__name__)
        result.detail = str(result.detail or '')[:DETAIL_LIMIT]
        result.output = str(result.output or '')[:self._output_limit]
        if result.exit_status is not None:
            result.exit_status = int(result.exit_status)
            if not _INT_MIN <= result.exit_status <= _INT_MAX:
                result.exit_status = None
        return result

    def _outcome(self, job, result):
        if result.ok:
            return journal_mod.DONE, None
        policy = self._policy(job)
        if result.status == base.FAILURE or (
                job.attempts >= policy.max_attempts):
            return journal_mod.DEAD, None
        return journal_mod.RETRY, journal_mod.utcnow() + datetime.timedelta(
            seconds=policy.delay(job.attempts, result.retry_after))

    @staticmethod
    def _log(job, state, result, duration, next_at):
        log = LOG.info if state == journal_mod.DONE else LOG.warning
        retry = (' next attempt at %sZ' % next_at.isoformat(
            timespec='seconds')) if next_at else ''
        log('Job %(job)d rule %(rule)s event %(type)s %(event)s node '
            '%(node)s lease %(lease)s attempt %(attempt)d: %(state)s in '
            '%(duration).3fs (%(detail)s)%(retry)s',
            dict(job.event.log_fields(), job=job.id, rule=job.rule,
                 attempt=job.attempts, state=state, duration=duration,
                 detail=safetext.printable(result.detail), retry=retry))

    # The recorder: the group commit of ends.

    def _commit_now(self):
        return self._stopping or len(self._ends) >= self._size or (
            self._running + self._unrecorded >= 2 * self._size)

    def _record(self):
        while True:
            with self._lock:
                self._ended.wait_for(
                    lambda: self._ends or self._releases or self._closed)
                if not (self._ends or self._releases):
                    return
                self._ended.wait_for(self._commit_now, COMMIT_WINDOW)
                ends, self._ends = self._ends, []
                releases, self._releases = self._releases, []
                self._recording = len(ends) + len(releases)
                self._taken += 1
            self._commit(ends, releases)
            freed = {end.job.rule for end in ends if end.job.slot}
            for end in ends:
                if end.job.slot:
                    self._admission.ended(end.job)
            with self._lock:
                if freed:
                    self._wake(freed)
                self._committed = self._taken
                self._recording = 0
                self._unrecorded -= len(ends)
                if self._journal_nodes.intersection(
                        end.job.node for end in ends):
                    self._want_claim()
                self._forget_parked()
                self._work.notify(len(ends))
                self._changed.notify_all()

    def _commit(self, ends, releases):
        while True:
            try:
                lost = self._journal.record(self.owner, ends, releases)
                break
            except Exception as exc:
                if journal_mod.permanent(exc):
                    # The journal recorded what it could of each end; an
                    # end it refuses whole would be refused for ever.
                    LOG.error('Cannot record the end of job(s) %s: %s',
                              ', '.join(str(e.job.id) for e in ends),
                              safetext.printable(journal_mod.reason(exc)))
                    return
                self._outages['record'].failed(exc)
                # Until recorded, the jobs stay "running" under our lease:
                # keep trying rather than let them run again needlessly,
                # but when stopping, leave them to the next start.
                if self._stopping:
                    return
                time.sleep(_JOURNAL_RETRY_DELAY)
        self._outages['record'].succeeded()
        for job_id in sorted(lost):
            LOG.warning('Job %d was taken over by another instance while '
                        'it ran (lease expired)', job_id)

    # The dispatcher: claims, lease renewal, pruning.

    def _dispatch(self):
        while True:
            with self._lock:
                self._claims.wait_for(
                    lambda: self._stopping or (
                        self._claim_due and self._room_left() > 0),
                    self._wait_time())
                if self._stopping:
                    return
                # Woken or not: retries fall due and other processes add
                # jobs without telling us.
                limit = self._reserve()
                if limit > 0:
                    self._claim_due = False
                self._claiming = True
                probed = set(self._journal_nodes)
            self._renew()
            self._prune()
            claimed = self._claim(limit) if limit > 0 else []
            with self._lock:
                self._claiming = False
                self._claimed(claimed, limit, probed)
                self._reserved -= limit
                self._changed.notify_all()

    def _claimed(self, claimed, limit, probed):
        if self._stopping:
            self._releases.extend(job.id for job in claimed)
            self._ended.notify()
            return
        for job in claimed:
            if job.node:
                self._journal_nodes.add(job.node)
            self._enqueue(job)
        if claimed and len(claimed) == limit:
            # A full claim may have left more behind.
            self._claim_due = True
        found = {job.node for job in claimed}
        self._journal_nodes -= {node for node in probed
                                if node not in found and
                                node not in self._nodes}

    def _wait_time(self):
        wait = self._poll
        if self._nodes:
            wait = min(wait, self._lease / 3.0)
        return wait

    def _claim(self, limit):
        try:
            claimed = self._journal.claim(self.owner, limit, self._lease,
                                          self._dead_blocks)
        except Exception as exc:
            self._outages['claim'].failed(exc)
            time.sleep(_JOURNAL_RETRY_DELAY)
            self.submit()
            return []
        self._outages['claim'].succeeded()
        return claimed

    def _prune(self):
        if self._retention is None or (
                time.monotonic() - self._last_prune < _PRUNE_INTERVAL):
            return
        self._last_prune = time.monotonic()
        cutoff = journal_mod.utcnow() - datetime.timedelta(
            seconds=self._retention)
        try:
            count = self._journal.purge(
                cutoff, states=[journal_mod.DONE, journal_mod.SKIPPED])
        except Exception:
            LOG.exception('Cannot prune done jobs from the journal')
            return
        if count:
            LOG.info('Pruned %d done or skipped job(s) older than %s',
                     count, cutoff)

    def _renew(self):
        if not (self._nodes or self._unrecorded) or (
                time.monotonic() - self._last_renew < self._lease / 3.0):
            return
        try:
            self._journal.renew(self.owner, self._lease)
        except Exception as exc:
            self._outages['renew'].failed(exc)
            return
        self._outages['renew'].succeeded()
        self._last_renew = time.monotonic()


def _left(deadline):
    return None if deadline is None else max(0, deadline - time.monotonic())
