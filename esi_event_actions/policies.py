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
"""When a job may start: the rules' max_concurrency and rate_limit.

The worker pool asks :meth:`Admission.admit` before it runs a job.  A job
that may not start yet waits in memory, claimed in the journal, and its
node's later jobs wait behind it: the order per node spans rules.

``max_concurrency`` holds across the instances sharing a journal: each
running job of such a rule holds a row of ``rule_slots``
(:meth:`Journal.take_slot`), freed by the record of its end, or by its
lease expiring if its instance dies.  ``rate_limit`` is a token bucket per
instance, which nothing keeps across a restart.
"""

import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# How soon a job refused a slot asks again, when no end in this instance
# wakes it first: a slot may be freed by another instance.
SLOT_RETRY = 1.0


class TokenBucket:
    """``count`` starts per ``period`` seconds, with a burst of ``count``."""

    def __init__(self, count, period, clock=time.monotonic):
        self._rate = count / period
        self._burst = float(count)
        self._tokens = float(count)
        self._clock = clock
        self._at = clock()

    def wait(self):
        """Seconds until a start is allowed; 0 when one is (and take it)."""
        now = self._clock()
        self._tokens = min(self._burst,
                           self._tokens + (now - self._at) * self._rate)
        self._at = now
        # Sums of fractions of a token fall short of 1 by rounding.
        if self._tokens >= 1 - 1e-9:
            return 0.0
        return (1 - self._tokens) / self._rate

    def take(self):
        self._tokens -= 1

    def give_back(self):
        """Undo :meth:`take` for a start that did not happen."""
        self._tokens = min(self._burst, self._tokens + 1)


class Admission:
    """Decides, per job, whether its rule's limits let it start now.

    :param rule: callable ``(name) -> Rule or None``.
    :param journal: where the slots of max_concurrency live.
    """

    def __init__(self, rule, journal, owner, lease):
        self._rule = rule
        self._journal = journal
        self._owner = owner
        self._lease = lease
        self._lock = threading.Lock()
        self._buckets = {}
        self._running = {}

    def admit(self, job):
        """None if ``job`` may start now, else seconds to wait first.

        A job admitted under max_concurrency holds its slot (``job.slot``)
        until :meth:`ended`.
        """
        rule = self._rule(job.rule)
        if rule is None or not (rule.max_concurrency or rule.rate_limit):
            return None
        with self._lock:
            if rule.max_concurrency and self._running.get(
                    rule.name, 0) >= rule.max_concurrency:
                return SLOT_RETRY
            bucket = self._bucket(rule)
            wait = bucket.wait() if bucket else 0.0
            if wait:
                return wait
            # Taken now, under the lock: another worker checking while this
            # one asks the journal for a slot must find it gone.
            if bucket:
                bucket.take()
            if rule.max_concurrency:
                self._running[rule.name] = self._running.get(
                    rule.name, 0) + 1
        if rule.max_concurrency and not self._take_slot(job, rule):
            with self._lock:
                if bucket:
                    bucket.give_back()
                self._running[rule.name] -= 1
            return SLOT_RETRY
        return None

    def ended(self, job):
        """``job``'s end is recorded: its slot is free."""
        if job.slot:
            with self._lock:
                self._running[job.rule] -= 1

    def _bucket(self, rule):
        if not rule.rate_limit:
            return None
        bucket = self._buckets.get(rule.name)
        if bucket is None:
            bucket = self._buckets[rule.name] = TokenBucket(*rule.rate_limit)
        return bucket

    def _take_slot(self, job, rule):
        try:
            job.slot = self._journal.take_slot(
                rule.name, rule.max_concurrency, self._owner, job.id,
                self._lease)
        except Exception as exc:
            # The journal is down: the job waits, as the others do.
            LOG.warning('Cannot take a max_concurrency slot of rule %s '
                        'for job %d: %s', rule.name, job.id, exc)
            return False
        return job.slot
