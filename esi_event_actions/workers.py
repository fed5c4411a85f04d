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

import collections
import threading
import time

from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions import journal as journal_mod

LOG = logging.getLogger(__name__)

# Pause before retrying a journal write that failed, so that a database
# outage does not become a busy loop.
_JOURNAL_RETRY_DELAY = 1.0


class WorkerPool:
    """A bounded pool of threads running jobs from the journal.

    Jobs about one node wait in one queue and run strictly one after the
    other, in the order they were submitted (their journal order).  A node
    whose head job is runnable sits in a ready queue; idle workers take
    nodes from it in turn, so one busy node never starves the others.

    :param journal: the :class:`esi_event_actions.journal.Journal`.
    :param runner: callable ``(job, attempt) -> Result`` that runs the
        job's action.
    """

    def __init__(self, journal, runner, size, output_limit=4096):
        self._journal = journal
        self._runner = runner
        self._size = size
        self._output_limit = output_limit
        self._cond = threading.Condition()
        self._queues = {}
        self._ready = collections.deque()
        self._running = 0
        self._stopping = False
        self._threads = []

    def start(self):
        for index in range(self._size):
            thread = threading.Thread(target=self._work, daemon=True,
                                      name='esi-worker-%d' % index)
            thread.start()
            self._threads.append(thread)

    def submit(self, jobs):
        """Queue jobs, which must be given in journal order."""
        with self._cond:
            for job in jobs:
                key = job.node or 'job:%d' % job.id
                queue = self._queues.get(key)
                if queue is None:
                    self._queues[key] = collections.deque([job])
                    self._ready.append(key)
                else:
                    queue.append(job)
            self._cond.notify_all()

    def stop(self, timeout=None):
        """Take no new job; wait up to ``timeout`` for running ones."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            left = None if deadline is None else max(
                0, deadline - time.monotonic())
            thread.join(left)
        return not any(t.is_alive() for t in self._threads)

    def wait_idle(self, timeout=None):
        """Block until no job is queued or running; return True if so."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._queues and not self._running, timeout)

    def _work(self):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._ready or self._stopping)
                if self._stopping:
                    return
                key = self._ready.popleft()
                job = self._queues[key][0]
                self._running += 1
            done = False
            try:
                done = self._process(job)
            finally:
                self._release(key, done)

    def _release(self, key, done):
        with self._cond:
            self._running -= 1
            queue = self._queues[key]
            if done:
                queue.popleft()
            if queue:
                # Not done: the job stays at its node's head and is tried
                # again, so nothing behind it overtakes it.
                self._ready.append(key)
            else:
                del self._queues[key]
            self._cond.notify_all()

    def _process(self, job):
        """Run one job; False if the journal could not record it."""
        try:
            attempt = self._journal.start(job.id)
        except Exception:
            LOG.exception('Journal unavailable; job %d waits', job.id)
            time.sleep(_JOURNAL_RETRY_DELAY)
            return False
        started = time.monotonic()
        try:
            result = self._runner(job, attempt)
        except Exception as exc:
            LOG.exception('Action of rule %s crashed on job %d',
                          job.rule, job.id)
            result = base.Result(base.FAILURE, 'action crashed: %s' % exc)
        duration = time.monotonic() - started
        result.output = (result.output or '')[:self._output_limit]
        state = journal_mod.DONE if result.ok else journal_mod.FAILED
        self._log(job, attempt, state, result, duration)
        try:
            self._journal.finish(job.id, state, result, duration)
        except Exception:
            # The action ran but its end is not recorded: the job stays
            # "running" and runs again after a restart (at least once).
            LOG.exception('Could not record the end of job %d', job.id)
        return True

    @staticmethod
    def _log(job, attempt, state, result, duration):
        log = LOG.info if result.ok else LOG.warning
        log('Job %(job)d rule %(rule)s event %(type)s %(event)s node '
            '%(node)s attempt %(attempt)d: %(state)s in %(duration).3fs '
            '(%(detail)s)',
            {'job': job.id, 'rule': job.rule, 'type': job.event.event_type,
             'event': job.event.id, 'node': job.node, 'attempt': attempt,
             'state': state, 'duration': duration, 'detail': result.detail})
