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
"""Where a polled source stands, stored with the jobs it created."""

import sqlalchemy as sa

from esi_event_actions.journal import model
from esi_event_actions.journal.schema import checkpoints
from esi_event_actions.journal.schema import history_seen


class Checkpoints:
    """The event history poller's position (a mixin of the Journal)."""

    def _set_checkpoint(self, conn, checkpoint):
        insert = self._sql.insert
        stmt = insert(checkpoints).values(
            name=checkpoint.name, last_id=checkpoint.last_id,
            updated_at=model.utcnow())
        conn.execute(stmt.on_conflict_do_update(
            index_elements=['name'],
            set_={'last_id': stmt.excluded.last_id,
                  'updated_at': stmt.excluded.updated_at}))
        if checkpoint.seen:
            conn.execute(insert(history_seen).on_conflict_do_nothing(), [
                {'name': checkpoint.name, 'event_id': event_id}
                for event_id in checkpoint.seen])
        if checkpoint.forget_below is not None:
            conn.execute(history_seen.delete().where(
                history_seen.c.name == checkpoint.name,
                history_seen.c.event_id < checkpoint.forget_below))

    def checkpoint(self, name):
        """The last event id handled under ``name``, or None."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(checkpoints.c.last_id).where(
                checkpoints.c.name == name)).scalar()

    def seen(self, name):
        """The ids handled under ``name`` still in the look-back window."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(history_seen.c.event_id).where(
                history_seen.c.name == name)).scalars())
