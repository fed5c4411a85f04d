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
"""The record of how attempts ended: the workers' group commit."""

import dataclasses

from oslo_log import log as logging

from esi_event_actions.journal import errors
from esi_event_actions.journal import model
from esi_event_actions.journal import statements as sql
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)


def _end_row(end, owner):
    result = end.result
    return {'b_id': end.job.id, 'b_owner': owner, 'b_state': end.state,
            'b_exit_status': result.exit_status, 'b_duration': end.duration,
            'b_detail': safetext.storable(result.detail),
            'b_output': safetext.storable(result.output),
            'b_next': end.next_attempt_at, 'b_started': end.started_at,
            'b_tried': 1 if end.tried else 0,
            'b_finished': end.finished_at
            if end.state in model.FINAL_STATES else None}


class Ends:
    """Records ends and releases of claimed jobs (a mixin of the Journal)."""

    def record(self, owner, ends=(), releases=()):
        """Record how attempts ended, and hand back jobs never started.

        One transaction, and so one fsync, for all of them: the workers'
        group commit.  ``ends`` are :class:`End` records; ``releases`` the
        ids of jobs ``owner`` claimed but did not start, which wait for a
        claim again.

        If the database refuses a value of one end (see :func:`permanent`),
        the ends are recorded one by one, and the one refused is recorded
        without its detail and output, which say why instead: an end is
        never retried for ever.

        :returns: the ids ``owner`` no longer held.  Another instance
            claimed them when their lease expired, and its record wins.
        """
        try:
            return self._record(owner, ends, releases)
        except Exception as exc:
            if not (ends and errors.permanent(exc)):
                raise
        lost = self._record(owner, (), releases)
        for end in ends:
            lost |= self._record_alone(owner, end)
        return lost

    def _record_alone(self, owner, end):
        try:
            return self._record(owner, [end], ())
        except Exception as exc:
            if not errors.permanent(exc):
                raise
            why = errors.reason(exc)
        LOG.warning('Job %(job)d ended %(state)s, but the journal cannot '
                    'store its detail or output (%(why)s): recorded '
                    'without them', {'job': end.job.id, 'state': end.state,
                                     'why': safetext.printable(why)})
        bare = model.Bare('detail and output not stored: %s' % why)
        return self._record(owner, [dataclasses.replace(end, result=bare)],
                            ())

    def _record(self, owner, ends, releases):
        ids = [end.job.id for end in ends] + list(releases)
        if not ids:
            return set()
        slotted = [end.job.id for end in ends if end.job.slot]
        with self._begin() as conn:
            owned = self._record_ends(conn, owner, ids, ends)
            self.write_contexts(conn, [end for end in ends
                                       if end.job.id in owned],
                                model.utcnow())
            back = [job_id for job_id in releases if job_id in owned]
            if back:
                conn.execute(sql.RELEASE, {'ids': back, 'holder': owner})
            if slotted:
                conn.execute(sql.FREE_SLOTS, {'ids': slotted, 'holder': owner})
        return set(ids) - owned

    def _record_ends(self, conn, owner, ids, ends):
        """Record the ``ends`` that ``owner`` holds; the ids it holds."""
        rows = [_end_row(end, owner) for end in ends]
        if self.shared:
            owned = set(conn.execute(sql.OWNED, {
                'ids': ids, 'holder': owner}).scalars())
            rows = [row for row in rows if row['b_id'] in owned]
            if rows:
                conn.execute(sql.RECORD_END, rows)
            return owned
        # One instance per SQLite journal, so its jobs are all its own:
        # one statement records them, and its own condition skips any
        # that are not.
        if rows and conn.execute(sql.RECORD_END, rows).rowcount == len(rows):
            return set(ids)
        return set(ids) - set(conn.execute(sql.NOT_HELD, {
            'ids': ids, 'holder': owner}).scalars())
