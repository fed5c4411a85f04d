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
"""A rule's policies: once_per, on_count, max_concurrency, rate_limit.

Each is checked when its rule is loaded (:func:`read`), and decided here:

``once_per`` (:class:`OncePer`) is decided in the transaction that
journals a job, and again by ``journal retry`` for each dead job it makes
pending: the journal keeps, per rule and value, the job that acted on it
(``once_keys``), and asks :meth:`OncePer.blocks` whether that job still
keeps others from acting.

``max_concurrency`` and ``rate_limit`` (:class:`RateLimit`) decide when a
job may start: the worker pool asks :meth:`Admission.admit` before it runs
one.  A job that may not start yet waits in memory, claimed in the
journal, and its node's later jobs wait behind it: the order per node
spans rules.  ``max_concurrency`` holds across the instances sharing a
journal: each running job of such a rule holds a row of ``rule_slots``
(:meth:`Journal.take_slot`), freed by the record of its end, or by its
lease expiring if its instance dies.  ``rate_limit`` is a token bucket per
instance, which nothing keeps across a restart.

``on_count`` (:class:`OnCount`) is decided, as once_per is, in the
transaction that journals a job: :mod:`esi_event_actions.journal.count`
counts the rule's jobs of the lease and asks :meth:`OnCount.decide`.

``fallback`` is part of which rules act on an event, decided with their
filters by :meth:`esi_event_actions.rules.RuleSet.evaluate`.
"""

import collections
import dataclasses
import datetime
import fnmatch
import re
import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# How soon a job refused a slot asks again, when no end in this instance
# wakes it first: a slot may be freed by another instance.
SLOT_RETRY = 1.0

# The journal's state of a job that gave up.  Named here because the
# journal imports this module, not the reverse.
_DEAD = 'dead'

_RATE = re.compile(r'\s*(\d+)\s*/\s*([smh])\s*\Z')
_PERIODS = {'s': 1.0, 'm': 60.0, 'h': 3600.0}


class OncePer(collections.namedtuple('OncePer', 'path window')):
    """once_per: act at most once per value found at the dot ``path``.

    ``window`` is how many seconds a value is remembered, counted from the
    job that acted on it; 0 or None: for ever.
    """

    __slots__ = ()

    def blocks(self, holder_state, ran_at, now):
        """Whether the job holding a value keeps a new job from acting.

        :param holder_state: the journal state of the job that took the
            value's key; a dead job does not count.
        :param ran_at: when it took the key.
        :param now: a datetime comparable with ``ran_at``.
        """
        if holder_state == _DEAD:
            return False
        return not self.window or (
            ran_at + datetime.timedelta(seconds=self.window) > now)

    def describe(self):
        """The options, as check-config and test-rule show them."""
        shown = 'once_per=%s' % self.path
        if self.window:
            shown += ' once_per_window=%gs' % self.window
        return shown


@dataclasses.dataclass(frozen=True)
class OnCount:
    """on_count: act on the ``nth`` of the rule's events of one lease.

    The journal counts the rule's jobs of the lease, the new one included,
    in the transaction that journals it: a redelivered event adds no job,
    so it never counts twice, and jobs pruned from the journal no longer
    count.  ``what`` names the events counted, in the skipped jobs'
    details.
    """

    nth: int
    what: str

    def decide(self, seen, nth_job=None):
        """None if the job that is the ``seen``-th acts, else why not.

        :param seen: how many of the rule's jobs of the lease there are,
            up to this one; None for an event without a lease.
        :param nth_job: the id of the ``nth`` job, for one after it.
        """
        if seen is None:
            return 'on_count: the event names no lease to count it by'
        if seen == self.nth:
            return None
        if seen < self.nth:
            return '%d of %d %s for this lease' % (seen, self.nth, self.what)
        return 'the %s %s for this lease already acted: job %s' % (
            ordinal(self.nth), self.what, nth_job)

    def describe(self):
        """The option, as check-config and test-rule show it."""
        return 'on_count=%d' % self.nth


def ordinal(number):
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``..."""
    if number % 100 in (11, 12, 13):
        return '%dth' % number
    return '%d%s' % (number, {1: 'st', 2: 'nd', 3: 'rd'}.get(
        number % 10, 'th'))


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """rate_limit: at most ``count`` starts per ``period`` seconds.

    Each instance keeps its own :class:`TokenBucket`, with a burst of
    ``count``.
    """

    count: int
    period: float
    #: The option as the operator wrote it, to show it back.
    text: str

    def describe(self):
        """The option, as check-config and test-rule show it."""
        return 'rate_limit=%s' % self.text


def parse_rate(text):
    """The :class:`RateLimit` of a rate such as ``5/s``, ``10/m``, ``1/h``.

    :raises ValueError: ``text`` is no such rate.
    """
    found = _RATE.match(text)
    if not found or int(found.group(1)) < 1:
        raise ValueError('expected a rate such as 5/s, 30/m or 100/h (a '
                         'positive whole number of starts per second, '
                         'minute or hour), not %r' % text)
    return RateLimit(int(found.group(1)), _PERIODS[found.group(2)], text)


def read(option, error):
    """A rule's policies, as the fields of its :class:`rules.Rule`.

    :param option: callable ``(key) -> value`` of the rule's options,
        their types checked.
    :param error: callable ``(key, reason) -> exception`` to raise.
    """
    rate = option('rate_limit')
    return {'fallback': bool(option('fallback')),
            'max_concurrency': option('max_concurrency'),
            'rate_limit': parse_rate(rate) if rate else None,
            'once_per': _once_per(option, error),
            'on_count': _on_count(option),
            'timer': _timer(option, error)}


def _once_per(option, error):
    path = option('once_per')
    window = option('once_per_window')
    if path is not None and not path.strip():
        raise error('once_per', 'a dot path, such as uuid, is required')
    if window and path is None:
        raise error('once_per_window', 'only used with once_per')
    return OncePer(path.strip(), window) if path else None


def _on_count(option):
    nth = option('on_count')
    if nth is None:
        return None
    return OnCount(nth, ' or '.join(option('events') or ()) or 'events')


def _timer(option, error):
    text = option('at')
    if text is None:
        return None
    try:
        return parse_at(text, option('at_past'),
                        tuple(option('cancel_on') or ()))
    except ValueError as exc:
        raise error('at', str(exc))


_AT = re.compile(r'\s*([A-Za-z_][\w.]*)\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*'
                 r'([smhdw]))?\s*\Z')
_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}
#: The path that names the event's own time rather than a lease field.
EVENT_TIME = 'event_time'
#: What :meth:`Timer.decide` says a timed job does: wait for its time,
#: or, that time past, run at once or be skipped.
SCHEDULED, RUN, SKIP = 'scheduled', 'run', 'skip'
# Beyond this, a time is a mistake (and past what datetime can add).
_MAX_OFFSET = 10 * 365 * 86400


@dataclasses.dataclass(frozen=True)
class Timer:
    """at: a rule's jobs run at a time computed from their event.

    ``path`` is a dot path of a time in the event (``end_time``), or
    :data:`EVENT_TIME`; ``offset`` seconds are added to it.  ``past`` says
    what a job whose time has passed when it is journalled does: ``run``
    at once, or ``skip``.  An event of a type in ``cancel_on`` cancels the
    rule's waiting jobs of the same lease.
    """

    path: str
    offset: float
    past: str
    cancel_on: tuple
    #: The option as the operator wrote it, to show it back.
    text: str

    def due(self, event):
        """When ``event``'s job runs (naive UTC), or None and why not."""
        if self.path == EVENT_TIME:
            base = event.time
        else:
            base = _utc(event.lookup(self.path))
        if base is None:
            return None, '%s is not a time' % self.path
        return base + datetime.timedelta(seconds=self.offset), None

    def decide(self, event, now):
        """What ``event``'s job does, journalled at ``now`` (naive UTC).

        :returns: ``(state, due, why)``: :data:`SCHEDULED` for ``due``;
            its time past, :data:`RUN` at once; or :data:`SKIP`, and why.
        """
        due, why = self.due(event)
        if due is not None and due > now:
            return SCHEDULED, due, None
        if due is None or self.past == SKIP:
            return SKIP, due, why or 'its time, %sZ, had passed' % (
                due.isoformat(timespec='seconds'))
        return RUN, due, None

    def cancelled_by(self, event_type):
        """Whether an event of ``event_type`` cancels the waiting jobs."""
        return any(fnmatch.fnmatchcase(event_type, pattern)
                   for pattern in self.cancel_on)

    def describe(self):
        """The options, as check-config and test-rule show them."""
        shown = 'at=%s' % self.text
        if self.past != 'run':
            shown += ' at_past=%s' % self.past
        return shown


def parse_at(text, past='run', cancel_on=()):
    """The :class:`Timer` of ``at = <path> [+|- <duration>]``.

    :raises ValueError: ``text`` says no such time.
    """
    found = _AT.match(text)
    if not found:
        raise ValueError('expected a time in the lease (a dot path such as '
                         'end_time) or event_time, then + or - a duration '
                         'with a unit (s, m, h, d or w), such as '
                         '"end_time - 48h"; not %r' % text)
    path, sign, number, unit = found.groups()
    offset = float(number or 0) * _UNITS.get(unit, 1)
    if offset > _MAX_OFFSET:
        raise ValueError('an offset of more than ten years: %r' % text)
    if sign == '-':
        offset = -offset
    return Timer(path, offset, past, tuple(cancel_on), ' '.join(text.split()))


def _utc(value):
    """A time of the lease as a naive UTC datetime, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.datetime.fromisoformat(
            value.strip().replace('Z', '+00:00'))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(
            tzinfo=None)
    return moment


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
            bucket = self._buckets[rule.name] = TokenBucket(
                rule.rate_limit.count, rule.rate_limit.period)
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
