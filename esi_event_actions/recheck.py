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
"""A timed job's lease, read again from esi-leap when the job falls due.

A timed job's time is computed from its event, which may be days old when
it falls due: esi-leap sends no notification when a lease's ``end_time``
is moved, nor before a lease ends.  With the ``[esi_leap]`` options set,
:class:`Recheck` reads the lease (``GET /v1/leases/<uuid>``) just before
the action would run, and decides:

- esi-leap no longer knows the lease, or it has ended: the job is skipped,
  with the reason;
- the lease's time moved so that the job's time is still to come: the job
  is scheduled again for its new time;
- otherwise the action runs, on the event with the lease as it is now.

A failure to read the lease is one that retrying can fix: the job is
retried as after any action failure.
"""

from esi_event_actions.actions import base
from esi_event_actions import history
from esi_event_actions.journal import model
from esi_event_actions.workers import execute

# esi-leap's lease statuses of a lease that has ended or is ending: a job
# timed from it has nobody left to act for.
ENDED = frozenset(['deleted', 'expired', 'wait cancel', 'wait expire'])


class Recheck:
    """Decides, from the lease as esi-leap has it now, what a timed job does.

    :param client: a :class:`esi_event_actions.history.HistoryClient` (or
        anything whose ``lease(uuid)`` returns the lease, None when esi-leap
        does not know it, and raises
        :class:`~esi_event_actions.history.HistoryError`).
    """

    def __init__(self, client):
        self._client = client

    def __call__(self, job, timer):
        """The event to run ``job``'s action on, or how the job ends.

        :returns: an :class:`esi_event_actions.event.Event`, a RETRY
            :class:`~esi_event_actions.actions.base.Result`, or a
            :class:`~esi_event_actions.workers.execute.Verdict`.
        """
        event = job.event
        uuid = event.lease
        if uuid is None:
            return event
        try:
            lease = self._client.lease(uuid)
        except history.HistoryError as exc:
            return base.Result(base.RETRY, 'cannot read lease %s from '
                               'esi-leap: %s' % (uuid, exc))
        if lease is None:
            return execute.Verdict(model.SKIPPED, 'esi-leap no longer knows '
                                   'lease %s' % uuid)
        status = lease.get('status')
        if status in ENDED:
            return execute.Verdict(model.SKIPPED, 'lease %s is %s'
                                   % (uuid, status))
        fresh = event.with_data(history.lease_data(lease))
        due, _ = timer.due(fresh)
        if due is not None and due > model.utcnow():
            return execute.Verdict(
                model.SCHEDULED, 'at %s is now %sZ: rescheduled' % (
                    timer.text, due.isoformat(timespec='seconds')),
                next_attempt_at=due)
        return fresh
