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
"""Timed jobs: when the next is due, and firing those that are.

A timed rule's job waits in the journal, scheduled (see
:meth:`esi_event_actions.journal.store.Store.add`).  The claimer's thread
asks, once a turn, when the first is due (one lookup in an index, however
many wait, made in the transaction of the turn's claim) and sleeps no
longer than that; the due ones become pending in one statement, and the
claim that follows takes them.  Nothing polls the scheduled jobs
themselves.
"""

import datetime

from oslo_log import log as logging

from esi_event_actions.journal import model
from esi_event_actions import metrics as metrics_mod
from esi_event_actions import outage

LOG = logging.getLogger(__name__)

# No claim has read the next due time since the last turn.
_UNREAD = object()


class Timers:
    """The journal's next timed job, as this instance last saw it."""

    def __init__(self, journal, metrics=metrics_mod.NO_METRICS):
        self._journal = journal
        self._metrics = metrics
        self.next = None
        self._read = _UNREAD
        self._outage = outage.Outage(LOG, 'Firing timed jobs')

    def scheduled(self, due):
        """A job was scheduled here for ``due``."""
        if self.next is None or due < self.next:
            self.next = due

    def read(self, due):
        """A claim read when the first job is due: the next turn's."""
        self._read = due
        if due is not None:
            self.scheduled(due)

    def fire(self):
        """Make the due jobs pending; how many.  Not under the lock."""
        now = model.utcnow()
        due, self._read = self._read, _UNREAD
        try:
            rules = {}
            if due is _UNREAD:
                # No claim since the last turn (no room, or it failed).
                due = self._journal.next_timer()
            if due is not None and due <= now:
                rules = self._journal.fire_timers(now)
                due = self._journal.next_timer()
        except Exception as exc:
            self._outage.failed(exc)
            return 0
        self._outage.succeeded()
        self.next = due
        for rule, count in rules.items():
            self._metrics.fired(rule, count)
        fired = sum(rules.values())
        if fired:
            LOG.info('%d timed job(s) fell due', fired)
        return fired

    def wait(self):
        """Seconds until the next is due, or None."""
        if self.next is None:
            return None
        left = self.next - model.utcnow()
        return max(0.0, left / datetime.timedelta(seconds=1))
