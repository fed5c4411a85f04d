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
"""What operators read and repair: rows, counts, retries, purges."""

import sqlalchemy as sa

from esi_event_actions import event as event_mod
from esi_event_actions.journal import model
from esi_event_actions.journal.model import CANCELLED
from esi_event_actions.journal.model import DEAD
from esi_event_actions.journal.model import FINAL_STATES
from esi_event_actions.journal.model import RETRY
from esi_event_actions.journal.model import SCHEDULED
from esi_event_actions.journal.model import STATES
from esi_event_actions.journal import once as once_mod
from esi_event_actions.journal import schema
from esi_event_actions.journal.schema import jobs
from esi_event_actions.journal.schema import once_keys
from esi_event_actions.journal import statements as sql


class Admin:
    """The operator's reads and repairs (a mixin of the Journal)."""

    def retry(self, job_ids=None, all_dead=False, once=None):
        """Make the given dead or waiting jobs, or every dead one, pending.

        Their attempt count restarts, so they get every attempt again.
        Returns the number of jobs made pending (see :meth:`retry_jobs`).
        """
        return len(self.retry_jobs(job_ids, all_dead, once)[0])

    def retry_jobs(self, job_ids=None, all_dead=False, once=None):
        """Make jobs pending again, unless their once_per forbids it.

        ``once`` maps rule names to their OncePer, as for :meth:`add`: a
        job whose value another job has acted on since it died is skipped
        instead, naming that job, so that a retry never acts twice where
        the listener would not.  Of several retried jobs with one value,
        the oldest runs and the others are skipped.

        :returns: (the ids made pending, [(id skipped, id that acted)]).
        """
        if all_dead and job_ids:
            raise ValueError('give job ids or all_dead, not both')
        if all_dead:
            where = [jobs.c.state == DEAD]
        else:
            where = [jobs.c.state.in_([DEAD, RETRY]),
                     jobs.c.id.in_(job_ids or [])]
        once = once or {}
        now = model.utcnow()
        retried, skipped = [], []
        with self._begin() as conn:
            # Locked until the commit: a retry falling due is not claimed
            # meanwhile by a running instance.
            rows = conn.execute(sa.select(jobs.c.id, jobs.c.rule).where(
                *where).order_by(jobs.c.id).with_for_update()).all()
            for row in rows:
                holder = row.rule in once and self._retry_once(
                    conn, row.id, row.rule, once[row.rule], now)
                if holder:
                    skipped.append((row.id, holder))
                else:
                    retried.append(row.id)
            plain = [row.id for row in rows if row.rule not in once]
            if plain:
                conn.execute(sql.PENDING_AGAIN, {'ids': plain})
        return retried, skipped

    def _retry_once(self, conn, job_id, rule, policy, now):
        """Skip, or make pending, a job of a once_per rule; who acted."""
        job = model.Job(id=job_id, rule=rule, event=event_mod.Event.from_json(
            conn.execute(sa.select(jobs.c.event).where(
                jobs.c.id == job_id)).scalar()))
        value, holder = once_mod.take(conn, self._sql, job, policy, now)
        if holder is not None:
            once_mod.skip(conn, job, policy, value, holder, now)
            return holder
        # Pending at once: a later job of the value finds it so.
        conn.execute(sql.PENDING_AGAIN, {'ids': [job_id]})
        return None

    def purge(self, older_than, states=FINAL_STATES):
        """Delete finished jobs created before ``older_than``."""
        states = [s for s in states if s in FINAL_STATES]
        with self._begin() as conn:
            if DEAD in states:
                # A dead job never counted for once_per: with its row gone,
                # its key would.
                conn.execute(once_keys.delete().where(
                    once_keys.c.job_id.in_(sa.select(jobs.c.id).where(
                        jobs.c.state == DEAD,
                        jobs.c.created_at < older_than))))
            return conn.execute(jobs.delete().where(
                jobs.c.state.in_(states),
                jobs.c.created_at < older_than)).rowcount

    def get(self, job_id):
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(
                jobs.c.id == job_id)).first()
        return row._asdict() if row else None

    def rows(self, limit=None, **where):
        """Job rows (as dicts), oldest first.

        :param where: column=value filters (state, rule, node, event_type);
            None values are ignored.
        """
        query = sa.select(jobs).order_by(jobs.c.id)
        for column, value in where.items():
            if value is not None:
                query = query.where(jobs.c[column] == value)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(query)]

    def counts(self, conn=None):
        """Number of jobs in each state.

        Costs the unfinished and scheduled jobs, read through their
        partial indexes, and two rows of final counts: not the history
        kept.
        """
        with self._reading(conn) as conn:
            found = dict(conn.execute(sql.UNFINISHED_COUNTS).all())
            found.update(conn.execute(sql.FINAL_COUNTS).all())
            found[SCHEDULED] = conn.execute(sql.SCHEDULED_COUNT).scalar()
        return {state: found.get(state, 0) for state in STATES}

    def status(self, conn=None):
        """Counts, and when the oldest unfinished and newest jobs came."""
        with self._reading(conn) as conn:
            return {'jobs': self.counts(conn),
                    'oldest_unfinished': conn.execute(
                        sql.OLDEST_UNFINISHED).scalar(),
                    'newest_job': conn.execute(sql.NEWEST).scalar()}

    def timers(self, rule=None, limit=None):
        """The scheduled jobs, soonest first, as dicts."""
        query = sa.select(jobs.c.id, jobs.c.rule, jobs.c.lease, jobs.c.node,
                          jobs.c.next_attempt_at.label('due'),
                          jobs.c.event_type, jobs.c.event_id).where(
            jobs.c.state == SCHEDULED).order_by(jobs.c.next_attempt_at,
                                                jobs.c.id)
        if rule is not None:
            query = query.where(jobs.c.rule == rule)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def cancel(self, job_ids, why):
        """Cancel the given scheduled jobs; the ids cancelled."""
        with self._begin() as conn:
            return list(conn.execute(jobs.update().where(
                jobs.c.id.in_(job_ids), jobs.c.state == SCHEDULED).values(
                    state=CANCELLED, next_attempt_at=None,
                    finished_at=model.utcnow(), detail=why).returning(
                        jobs.c.id)).scalars())

    def rejected(self, limit=None):
        """The rejected events, newest first, as dicts."""
        query = sa.select(schema.rejected).order_by(
            schema.rejected.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
