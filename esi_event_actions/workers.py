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
"""Workers: run journal jobs, in order per node, in parallel across nodes."""

import dataclasses
import datetime
import queue
import socket
import threading
import time
import types
import uuid

from oslo_log import log as logging
import tenacity

from esi_event_actions.actions import base
from esi_event_actions import journal as journal_mod

LOG = logging.getLogger(__name__)

# Pause after the journal failed, so that a database outage does not become
# a busy loop.
_JOURNAL_RETRY_DELAY = 1.0
# How often done jobs older than the retention are deleted.
_PRUNE_INTERVAL = 3600.0


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a failing job is tried."""

    max_attempts: int = 5
    base_delay: float = 10.0
    max_delay: float = 600.0

    def delay(self, attempt):
        """Seconds to wait after failed attempt number ``attempt``.

        Exponential from ``base_delay``, capped at ``max_delay``, plus up
        to ``base_delay`` of random jitter so that jobs failing together
        (a webhook that is down) do not all come back at once.
        """
        wait = tenacity.wait_exponential_jitter(
            initial=self.base_delay, max=self.max_delay,
            jitter=self.base_delay)
        return wait(types.SimpleNamespace(attempt_number=attempt))


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
    """A bounded pool of threads running jobs claimed from the journal.

    A dispatcher thread claims as many runnable jobs as there are idle
    workers; the journal only offers the oldest unfinished job of each
    node, so jobs about one node run strictly one after the other, in
    arrival order, even across retries and across service instances.

    :param runner: callable ``(job, attempt) -> Result``.
    :param policy: callable ``(job) -> RetryPolicy``.
    :param lease: seconds a claim holds a job; renewed while it runs.
    :param retention: seconds done jobs are kept, or None for ever.
    """

    def __init__(self, journal, runner, size, output_limit=4096,
                 policy=None, lease=60.0, poll_interval=1.0,
                 dead_blocks=False, owner=None, retention=None,
                 metrics=None):
        self._journal = journal
        self._runner = runner
        self._size = size
        self._output_limit = output_limit
        self._policy = policy or (lambda job: RetryPolicy())
        self._lease = lease
        self._poll = poll_interval
        self._dead_blocks = dead_blocks
        self.owner = owner or new_owner()
        self._cond = threading.Condition()
        self._work = queue.SimpleQueue()
        self._busy = 0
        self._woken = True
        self._drained = False
        self._stopping = False
        self._threads = []
        self._last_renew = time.monotonic()
        self._retention = retention
        self._metrics = metrics
        self._last_prune = float('-inf')

    def start(self):
        for index in range(self._size):
            self._spawn(self._worker, 'esi-worker-%d' % index)
        self._spawn(self._dispatch, 'esi-dispatcher')

    def _spawn(self, target, name):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def submit(self, jobs=None):
        """Tell the pool that the journal has new jobs."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stop(self, timeout=None):
        """Claim nothing more; wait up to ``timeout`` for running jobs.

        Returns False if some action was still running at the deadline;
        its job stays marked running and runs again later.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for _ in range(self._size):
            self._work.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            left = None if deadline is None else max(
                0, deadline - time.monotonic())
            thread.join(left)
        return not any(t.is_alive() for t in self._threads)

    def wait_idle(self, timeout=None):
        """Block until nothing is running and nothing is runnable now."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._busy and self._drained and
                not self._woken, timeout)

    # The dispatcher.

    def _dispatch(self):
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopping or (
                        self._woken and self._busy < self._size),
                    self._wait_time())
                if self._stopping:
                    return
                idle = self._size - self._busy
                self._woken = False
                # Until this claim says otherwise, work may be waiting.
                self._drained = False
            self._renew()
            self._prune()
            claimed = self._claim(idle)
            with self._cond:
                self._busy += len(claimed)
                if idle:
                    # A full claim may have left more behind: look again.
                    self._woken = self._woken or len(claimed) == idle
                    self._drained = not claimed
                if self._stopping:
                    self._busy -= len(claimed)
                    self._journal.release(self.owner,
                                          [j.id for j in claimed])
                    return
                self._cond.notify_all()
            for job in claimed:
                self._work.put(job)

    def _wait_time(self):
        # Retries fall due and other instances add jobs without telling
        # us, so look at the journal now and then even when not woken.
        wait = self._poll
        if self._busy:
            wait = min(wait, self._lease / 3.0)
        return wait

    def _claim(self, limit):
        if limit <= 0:
            return []
        try:
            return self._journal.claim(self.owner, limit, self._lease,
                                       self._dead_blocks)
        except Exception:
            LOG.exception('Cannot claim jobs from the journal')
            time.sleep(_JOURNAL_RETRY_DELAY)
            self.submit()
            return []

    def _prune(self):
        if self._retention is None or (
                time.monotonic() - self._last_prune < _PRUNE_INTERVAL):
            return
        self._last_prune = time.monotonic()
        cutoff = journal_mod.utcnow() - datetime.timedelta(
            seconds=self._retention)
        try:
            count = self._journal.purge(cutoff, states=[journal_mod.DONE])
        except Exception:
            LOG.exception('Cannot prune done jobs from the journal')
            return
        if count:
            LOG.info('Pruned %d done job(s) older than %s', count, cutoff)

    def _renew(self):
        if not self._busy or (time.monotonic() - self._last_renew <
                              self._lease / 3.0):
            return
        try:
            self._journal.renew(self.owner, self._lease)
            self._last_renew = time.monotonic()
        except Exception:
            LOG.exception('Cannot renew the lease on running jobs')

    # The workers.

    def _worker(self):
        while True:
            job = self._work.get()
            if job is None:
                return
            try:
                self._process(job)
            finally:
                with self._cond:
                    self._busy -= 1
                    # Its node may now have a runnable job.
                    self._woken = True
                    self._cond.notify_all()

    def _process(self, job):
        started = time.monotonic()
        try:
            result = self._runner(job, job.attempts)
        except Exception as exc:
            LOG.exception('Action of rule %s crashed on job %d',
                          job.rule, job.id)
            result = base.Result(base.FAILURE, 'action crashed: %s' % exc)
        duration = time.monotonic() - started
        result.output = (result.output or '')[:self._output_limit]
        state, next_at = self._outcome(job, result)
        self._log(job, state, result, duration, next_at)
        if self._metrics is not None:
            self._metrics.finished(job.rule, state, duration)
        self._record(job, state, result, duration, next_at)

    def _outcome(self, job, result):
        if result.ok:
            return journal_mod.DONE, None
        policy = self._policy(job)
        if result.status == base.FAILURE or (
                job.attempts >= policy.max_attempts):
            return journal_mod.DEAD, None
        return journal_mod.RETRY, journal_mod.utcnow() + datetime.timedelta(
            seconds=policy.delay(job.attempts))

    def _record(self, job, state, result, duration, next_at):
        while True:
            try:
                if not self._journal.finish(job.id, self.owner, state,
                                            result, duration, next_at):
                    LOG.warning('Job %d was taken over by another instance '
                                'while it ran (lease expired)', job.id)
                return
            except Exception:
                # Until recorded, the job stays "running" under our lease:
                # keep trying rather than let it run again needlessly.
                LOG.exception('Cannot record the end of job %d', job.id)
                if self._stopping:
                    return
                time.sleep(_JOURNAL_RETRY_DELAY)

    @staticmethod
    def _log(job, state, result, duration, next_at):
        log = LOG.info if state == journal_mod.DONE else LOG.warning
        retry = (' next attempt at %sZ' % next_at.isoformat(
            timespec='seconds')) if next_at else ''
        log('Job %(job)d rule %(rule)s event %(type)s %(event)s node '
            '%(node)s attempt %(attempt)d: %(state)s in %(duration).3fs '
            '(%(detail)s)%(retry)s',
            {'job': job.id, 'rule': job.rule, 'type': job.event.event_type,
             'event': job.event.id, 'node': job.node,
             'attempt': job.attempts, 'state': state, 'duration': duration,
             'detail': result.detail, 'retry': retry})
