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
"""Claims: what the journal holds that memory cannot know.

Fresh jobs reach the workers in memory (see :mod:`.pool`).  A claim, a
query, finds the rest: jobs left running by a crash, retries falling due,
jobs written by another process (``manage replay``, ``journal retry``),
jobs of a node that was busy when they were journalled and, on a shared
journal, jobs other instances wrote behind theirs or abandoned.

The claimer's thread also renews the lease on what this instance holds,
and prunes old done jobs: periodic tasks of the same loop.
"""

import datetime
import threading
import time

from oslo_log import log as logging

from esi_event_actions.journal import model
from esi_event_actions import metrics as metrics_mod
from esi_event_actions import outage
from esi_event_actions.workers import timers

LOG = logging.getLogger(__name__)

# Pause after a claim failed, so that an outage is no busy loop.
RETRY_DELAY = 1.0
# How often done jobs older than the retention are deleted.
PRUNE_INTERVAL = 3600.0


class Claimer:
    """A thread claiming jobs from the journal into the pool's queues.

    Knows which nodes the journal may hold jobs of (:meth:`waiting`): after
    an end of one of them is committed, their next job may be claimable,
    and a claim looks for it at once rather than at the next poll.

    Shares the pool's ``lock``; its methods but :meth:`run` are called
    with it held, and so are its callables.

    :param queues: the pool's :class:`.queues.NodeQueues`, where the claim
        reserves its room.
    :param deliver: callable ``(jobs)``: the jobs claimed.
    :param in_flight: callable: the nodes of ends not committed yet.
    :param commits: callable: the recorder's count of commits, which a
        claim notes on its jobs (see :attr:`journal.Claim.seq`).
    """

    def __init__(self, journal, owner, lock, queues, deliver, in_flight,
                 lease=60.0, poll_interval=1.0, dead_blocks=False,
                 retention=None, metrics=metrics_mod.NO_METRICS,
                 commits=lambda: None):
        self._journal = journal
        self._owner = owner
        self._lock = lock
        self._queues = queues
        self._deliver = deliver
        self._in_flight = in_flight
        self._lease = lease
        self._poll = poll_interval
        self._dead_blocks = dead_blocks
        self._wake = threading.Condition(lock)
        self._due = True
        self._claiming = self._stopping = False
        self._waiting = set()
        self._renew = _Every(lease / 3.0, self._renew_leases,
                             time.monotonic())
        self._prune = _Every(PRUNE_INTERVAL, self._prune_done) if (
            retention is not None or journal.context_retention) else None
        self._retention = retention
        self._commits = commits
        self._timers = timers.Timers(journal, metrics)
        self._outages = {'claim': outage.Outage(LOG, 'Claiming jobs'),
                         'renew': outage.Outage(
                             LOG, 'Renewing the lease on jobs')}

    def want(self):
        """Claim soon: the journal has jobs for this instance."""
        self._due = True
        self._wake.notify()

    def waiting(self, nodes):
        """The journal holds jobs of ``nodes`` behind what runs in memory."""
        self._waiting.update(n for n in nodes if n is not None)

    def ended(self, ends):
        """``ends`` are committed: claim what waited behind them.

        A timed job scheduled again at fire time (see
        :mod:`esi_event_actions.recheck`) is due at its new time.
        """
        if not self._waiting.isdisjoint(end.job.node for end in ends):
            self.want()
        for end in ends:
            if end.state == model.SCHEDULED:
                self.scheduled(end.next_attempt_at)

    def scheduled(self, due):
        """A timed job was scheduled for ``due``: wake up for it."""
        self._timers.scheduled(due)
        self._wake.notify()

    def room(self):
        """Memory has room again: a claim due may go ahead."""
        if self._due:
            self._wake.notify()

    def idle(self):
        """Whether no claim is due or under way."""
        return not (self._due or self._claiming)

    def stop(self):
        self._stopping = True
        self._wake.notify()

    def run(self):
        while True:
            with self._lock:
                self._wake.wait_for(lambda: self._stopping or (
                    self._due and self._queues.room_left() > 0),
                    self._wait_time())
                if self._stopping:
                    return
            self._timers.fire()
            with self._lock:
                # Woken or not: retries fall due and other processes add
                # jobs without telling us.
                limit = self._queues.reserve()
                if limit:
                    self._due = False
                self._claiming = True
                probed = self._settled()
            self._renew.run()
            if self._prune:
                self._prune.run()
            jobs = self._claim(limit) if limit else []
            with self._lock:
                self._queues.unreserve(limit)
                self._claiming = False
                self._take(jobs, limit, probed)

    def _settled(self):
        """The waiting nodes of which nothing is in memory.

        A claim that does not find one of them shows that the journal
        holds nothing runnable of it; any other may have ended while the
        claim ran.
        """
        return {node for node in self._waiting
                if not self._queues.holds(node)} - self._in_flight()

    def _take(self, jobs, limit, probed):
        # A claim finds the first job of a node: the rest may follow it.
        found = {job.node for job in jobs}
        self.waiting(found)
        self._waiting -= probed - found
        if jobs and len(jobs) == limit:
            # A full claim may have left more behind.
            self._due = True
        self._deliver(jobs)

    def _wait_time(self):
        wait = self._poll
        if self._queues:
            wait = min(wait, self._lease / 3.0)
        due = self._timers.wait()
        return wait if due is None else min(wait, due)

    def _claim(self, limit):
        try:
            jobs = self._journal.claim(self._owner, limit, self._lease,
                                       self._dead_blocks, self._commits(),
                                       next_timer=self._timers.read)
        except Exception as exc:
            self._outages['claim'].failed(exc)
            time.sleep(RETRY_DELAY)
            with self._lock:
                self.want()
            return []
        self._outages['claim'].succeeded()
        return jobs

    def _renew_leases(self):
        with self._lock:
            if not (self._queues or self._in_flight()):
                return True
        try:
            self._journal.renew(self._owner, self._lease)
        except Exception as exc:
            self._outages['renew'].failed(exc)
            return False
        self._outages['renew'].succeeded()
        return True

    def _prune_done(self):
        try:
            self._prune_jobs()
            self._prune_contexts()
        except Exception:
            LOG.exception('Cannot prune old jobs or contexts from the '
                          'journal')
        return True

    def _prune_jobs(self):
        if self._retention is None:
            return
        cutoff = _ago(self._retention)
        count = self._journal.purge(
            cutoff, states=[model.DONE, model.SKIPPED, model.CANCELLED])
        if count:
            LOG.info('Pruned %d done or skipped job(s) older than %s',
                     count, cutoff)

    def _prune_contexts(self):
        if not self._journal.context_retention:
            return
        cutoff = _ago(self._journal.context_retention)
        count = self._journal.purge_contexts(cutoff)
        if count:
            LOG.info('Pruned the context of %d lease(s) ended before %s',
                     count, cutoff)


def _ago(seconds):
    return model.utcnow() - datetime.timedelta(seconds=seconds)


class _Every:
    """A task the claimer's loop runs at most every ``interval`` seconds.

    A task returning False (it failed) runs again at the next turn.
    """

    def __init__(self, interval, task, last=float('-inf')):
        self._interval = interval
        self._task = task
        self._last = last

    def run(self):
        if time.monotonic() - self._last < self._interval:
            return
        if self._task():
            self._last = time.monotonic()
