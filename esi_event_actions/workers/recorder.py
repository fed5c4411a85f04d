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
"""The group commit: the ends of jobs, recorded many per transaction.

One transaction, and so one fsync, records every job that ended since the
last one, within :data:`COMMIT_WINDOW`, and hands back the jobs claimed
but never started.  A job whose end was not committed when the service
died runs again at the next start (at-least-once).
"""

import threading
import time

from oslo_log import log as logging

from esi_event_actions.journal import contexts
from esi_event_actions.journal import errors
from esi_event_actions import outage
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

#: Leases whose last context write this instance remembers; past that it
#: forgets them all, and every job claimed before reads its context.
WROTE_LIMIT = 4096
#: Longest a finished job waits before its end is committed.
COMMIT_WINDOW = 0.005
# Pause after the journal failed, so that an outage is no busy loop.
RETRY_DELAY = 1.0


class Recorder:
    """A thread committing ends and releases in groups.

    Shares the pool's ``lock``: :meth:`add`, :meth:`release`,
    :meth:`flushed`, :meth:`nodes` and :meth:`close` are called with it
    held.  ``committed(ends)`` is called with it held after each commit.

    :param group: ends that make a commit start without waiting for the
        window.
    """

    def __init__(self, journal, owner, lock, group, committed,
                 window=COMMIT_WINDOW):
        self._journal = journal
        self._owner = owner
        self._group = group
        self._committed = committed
        self._window = window
        self._lock = lock
        self._pending = threading.Condition(lock)
        self._ends = []
        self._releases = []
        self._recording = []
        self._urgent = self._closed = False
        # Group commits so far; of each lease, the commit that last wrote
        # its context; commits before _forgotten are no longer known.
        self._commits = self._forgotten = 0
        self._wrote = {}
        self._outage = outage.Outage(LOG, 'Recording the end of jobs')

    def add(self, end, urgent=False):
        """Record ``end``; ``urgent`` when workers wait for the commit."""
        self._ends.append(end)
        self._urgent = self._urgent or urgent
        if len(self._ends) == 1 or self._commit_now():
            self._pending.notify()

    def release(self, jobs):
        """Hand ``jobs``, claimed and never started, back to the journal."""
        if jobs:
            self._releases.extend(job.id for job in jobs)
            self._pending.notify()

    def flushed(self):
        """Whether every end and release so far is committed."""
        return not (self._ends or self._releases or self._recording)

    def nodes(self):
        """The nodes of the ends not committed yet."""
        return {end.job.node for end in self._ends + self._recording}

    def context_of(self, job):
        """The context of ``job``'s lease, as the job must see it.

        The committed one, then the writes of the ends not committed yet:
        the job before it on its node may have ended a moment ago.  Read
        outside the lock (it takes it): the writes are taken first, so
        that a commit in between only applies some of them twice, in
        order, which changes nothing.

        The committed one is read only if the transaction that claimed the
        job saw one, or if this instance wrote one since: nothing else
        writes a lease's context while its job is claimed (its node's
        order), but an operator's repair.
        """
        lease = job.event.lease
        if not lease:
            return {}
        key = safetext.identifier(lease)
        with self._lock:
            pending = [updates for owner, updates in contexts.written(
                self._recording + self._ends) if owner == key]
            read = job.has_context or job.context_seq is None or (
                job.context_seq < self._forgotten or
                self._wrote.get(key, -1) > job.context_seq)
        context = self._journal.context(lease) if read else {}
        for updates in pending:
            context = contexts.merge(context, updates)
        return context

    def close(self):
        """Commit what is left, then end the thread; retry no outage."""
        self._closed = True
        self._pending.notify()

    def run(self):
        while True:
            with self._lock:
                self._pending.wait_for(
                    lambda: self._ends or self._releases or self._closed)
                if not (self._ends or self._releases):
                    return
                self._pending.wait_for(self._commit_now, self._window)
                ends, self._ends = self._ends, []
                releases, self._releases = self._releases, []
                self._recording, self._urgent = ends, False
            self._commit(ends, releases)
            with self._lock:
                self._recording = []
                self._count_commit(ends)
                self._committed(ends)

    def commits(self):
        """How many group commits so far (see :attr:`Claim.seq`)."""
        return self._commits

    def _count_commit(self, ends):
        self._commits += 1
        for lease, _ in contexts.written(ends):
            self._wrote[lease] = self._commits
        if len(self._wrote) > WROTE_LIMIT:
            self._wrote.clear()
            self._forgotten = self._commits

    def _commit_now(self):
        return (self._closed or self._urgent or
                len(self._ends) >= self._group)

    def _commit(self, ends, releases):
        while True:
            try:
                lost = self._journal.record(self._owner, ends, releases)
                break
            except Exception as exc:
                if errors.permanent(exc):
                    # The journal recorded what it could of each end; an
                    # end it refuses whole would be refused for ever.
                    LOG.error('Cannot record the end of job(s) %s: %s',
                              ', '.join(str(e.job.id) for e in ends),
                              safetext.printable(errors.reason(exc)))
                    return
                self._outage.failed(exc)
                # Until recorded, the jobs stay "running" under our lease:
                # keep trying rather than let them run again needlessly,
                # but when stopping, leave them to the next start.
                if self._closed:
                    return
                time.sleep(RETRY_DELAY)
        self._outage.succeeded()
        for job_id in sorted(lost):
            LOG.warning('Job %d was taken over by another instance while '
                        'it ran (lease expired)', job_id)
