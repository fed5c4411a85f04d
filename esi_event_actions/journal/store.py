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
"""The journal's store: add jobs, claim them, hold them, recover them.

One row per (event id, rule).  The unique key makes a redelivered
notification add nothing.  Jobs about one node run in the order of their
event time, then of their row number (arrival), one at a time.

A job runs under a claim: an owner (one service instance) and a lease
that the owner renews.  The transaction that adds fresh jobs also claims
them for the instance that adds them, when nothing else about their node
is unfinished.  What it does not claim is claimed with a query
(:meth:`Store.claim`): jobs of a busy node, jobs left running by a crash,
retries falling due, jobs written by another process, and on a shared
(PostgreSQL) journal the jobs of other instances, written behind theirs
or abandoned when a lease expired.  A claim locks its rows (``FOR UPDATE
SKIP LOCKED``).
"""

import collections
import datetime

import sqlalchemy as sa

from esi_event_actions import event as event_mod
from esi_event_actions.journal import contexts
from esi_event_actions.journal import count as count_mod
from esi_event_actions.journal import database
from esi_event_actions.journal import errors
from esi_event_actions.journal import model
from esi_event_actions.journal import once as once_mod
from esi_event_actions.journal import schema
from esi_event_actions.journal import statements as sql
from esi_event_actions import policies
from esi_event_actions import safetext

#: Characters kept of a rejected event's JSON text.
REJECTED_EVENT_LIMIT = 64 * 1024


def _claimed_job(row):
    return model.Job(id=row.id, rule=row.rule, node=row.node,
                     event=event_mod.Event.from_json(row.event),
                     state=model.RUNNING, attempts=row.attempts + 1,
                     event_time=row.event_time)


class Store(database.Database):
    """Adds, claims and holds jobs; keeps what cannot be stored."""

    def add(self, entries, checkpoint=None, once=None, claim=None,
            counts=None, timers=None, cancel=(), cancelled=None):
        """Store jobs for ``entries``, a list of (event, rule names).

        Runs in one transaction, which also stores ``checkpoint`` (a
        :class:`model.Checkpoint`) if given, so that jobs and position are
        stored together or not at all.  Jobs already present (a
        redelivery) are not stored again and not returned.

        ``once`` maps rule names to their OncePer: a job of such a rule
        whose value was acted on is stored SKIPPED, naming the job that
        acted.  ``counts`` maps rule names to their OnCount: a job of such
        a rule that is not the Nth of its rule and lease is stored
        SKIPPED, and takes no once_per key.

        With ``claim`` (a :class:`model.Claim`), the transaction also
        claims the new jobs (RUNNING, attempt 1), at most ``claim.limit``
        of them, the first in run order; those whose node has other
        unfinished jobs wait for a claim, PENDING, behind them.

        ``timers`` maps rule names to their Timer: a job of such a rule is
        stored SCHEDULED until its time (see :meth:`fire_timers`), or, its
        time past, pending or SKIPPED as the rule says.  ``cancel`` is a
        list of (lease, rule names, why): their scheduled jobs of that
        lease are CANCELLED, in the same transaction.  ``cancelled``, a
        callable, is given those jobs (CANCELLED, their ``detail`` the
        why), once committed, if there are any.

        :returns: the new jobs, in the order they must run.
        """
        now = model.utcnow()
        rows, events = [], {}
        for event, rules in entries:
            happened = event.time or now
            events[event.id] = event
            text = event.to_json()
            for rule in rules:
                rows.append(dict(_claim_columns(claim, now),
                                 event_id=event.id, rule=rule,
                                 event_type=event.event_type,
                                 node=event.node, event=text,
                                 lease=_lease(event), created_at=now,
                                 event_time=happened))
                _timed(rows[-1], (timers or {}).get(rule), event, now)
        if timers:
            # One statement inserts them all: every row binds every column.
            for row in rows:
                for column in _TIMED_COLUMNS:
                    row.setdefault(column, None)
        new, gone = [], []
        with self._begin() as conn:
            if rows:
                self._lock_nodes(conn, {e.node for e in events.values()})
                count_mod.lock_leases(conn, rows, counts)
                states = {(r['event_id'], r['rule']): r for r in rows}
                new = sorted((self._new_job(
                    r, events[r.event_id], states[r.event_id, r.rule])
                    for r in conn.execute(self._sql.add_jobs, rows)),
                    key=lambda job: job.order)
            skipped = set()
            if counts and new:
                skipped = count_mod.apply(conn, new, counts, now)
            if once and new:
                once_mod.apply(conn, self._sql, [
                    job for job in new if job.id not in skipped], once, now)
            if claim and new:
                self._unclaim(conn, new, claim)
                contexts.note(conn, [job for job in new
                                     if job.state == model.RUNNING],
                              claim.seq)
            # After the batch's own: an event that cancels comes after
            # the events before it.
            for lease, rules, why in cancel:
                gone += self._cancel(conn, lease, rules, why, now)
            if checkpoint is not None:
                self._set_checkpoint(conn, checkpoint)
        if gone and cancelled:
            cancelled(gone)
        return new

    @staticmethod
    def _new_job(row, event, stored):
        state = stored['state']
        return model.Job(id=row.id, rule=row.rule, event=event,
                         node=event.node, event_time=stored['event_time'],
                         state=state, detail=stored.get('detail'),
                         attempts=1 if state == model.RUNNING else 0)

    @staticmethod
    def _cancel(conn, lease, rules, why, now):
        if not (lease and rules):
            return []
        why = safetext.storable(why)
        return [model.Job(id=row.id, rule=row.rule, node=row.node,
                          event=event_mod.Event.from_json(row.event),
                          state=model.CANCELLED, detail=why,
                          event_time=row.event_time)
                for row in conn.execute(sql.CANCEL_TIMERS, {
                    'b_lease': safetext.identifier(lease),
                    'b_rules': list(rules), 'b_at': now, 'b_why': why})]

    def next_timer(self):
        """When the first scheduled job is due, or None."""
        with self.engine.connect() as conn:
            return conn.execute(sql.NEXT_TIMER).scalar()

    def fire_timers(self, now=None):
        """Make the scheduled jobs that are due pending.

        A fired job takes its place among its node's jobs at the time it
        was due.

        :returns: how many of each rule fired, a ``collections.Counter``.
        """
        with self._begin() as conn:
            return collections.Counter(conn.execute(sql.FIRE_TIMERS, {
                'now': now or model.utcnow()}).scalars())

    def _lock_nodes(self, conn, nodes):
        nodes = sorted(n for n in nodes if n is not None)
        if nodes and self.dialect == 'postgresql':
            conn.execute(sql.LOCK_NODES, {'space': sql.NODE_LOCK_SPACE,
                                          'nodes': nodes})

    @staticmethod
    def _unclaim(conn, new, claim):
        """Leave for a claim the new jobs the add may not claim.

        Those whose node has unfinished jobs other than the claimant's own
        running ones (the new ones included), and those past the claim's
        limit.
        """
        claimed = [job for job in new if job.state == model.RUNNING]
        nodes = sorted({job.node for job in claimed if job.node is not None})
        held = set(conn.execute(sql.HELD_NODES[claim.dead_blocks], {
            'nodes': nodes, 'holder': claim.owner}).scalars()
        ) if nodes else set()
        waiting = [job for job in claimed if job.node in held]
        if claim.limit is not None:
            free = [job for job in claimed if job.node not in held]
            waiting += free[claim.limit:]
        if waiting:
            conn.execute(sql.RELEASE, {'ids': [job.id for job in waiting],
                                       'holder': claim.owner})
            for job in waiting:
                job.state, job.attempts = model.PENDING, 0

    def claim(self, owner, limit, lease, dead_blocks=False, seq=None,
              next_timer=None):
        """Claim up to ``limit`` runnable jobs for ``owner``.

        A job is runnable when no unfinished job of its node happened
        before it (by event time, then journal order), no other job of its
        node runs under a live lease, and it is pending, due for a retry,
        or running under an expired lease (its owner died).  Claimed jobs
        are marked running under a lease of ``lease`` seconds.

        :param dead_blocks: whether a dead job holds back later jobs of its
            node until an operator retries or purges it.
        :param seq: the claimant's count of commits (see
            :attr:`model.Claim.seq`).
        """
        now = model.utcnow()
        with self._begin() as conn:
            _read_next_timer(conn, next_timer)
            rows = conn.execute(sql.CLAIMABLE[bool(dead_blocks)], {
                'now': now, 'limit': limit}).all()
            if not rows:
                return []
            conn.execute(sql.TAKE, {
                'ids': [r.id for r in rows], 'holder': owner,
                'expires': now + datetime.timedelta(seconds=lease)})
            jobs = [_claimed_job(r) for r in rows]
            contexts.note(conn, jobs, seq)
        return jobs

    def renew(self, owner, lease):
        """Extend the lease on every job and slot ``owner`` holds."""
        until = model.utcnow() + datetime.timedelta(seconds=lease)
        with self._begin() as conn:
            conn.execute(schema.jobs.update().where(
                schema.jobs.c.owner == owner,
                schema.jobs.c.state == model.RUNNING).values(
                    lease_expires_at=until))
            conn.execute(schema.rule_slots.update().where(
                schema.rule_slots.c.owner == owner).values(
                    lease_expires_at=until))

    def take_slot(self, rule, limit, owner, job_id, lease):
        """Take one of the ``limit`` slots of ``rule`` for a job to start.

        The slot is a row whose primary key is (rule, slot number): of two
        instances inserting the same one, only one succeeds.  Slots whose
        lease expired (their instance died) are free again.  The slot goes
        with the record of the job's end.  Returns whether one was free.
        """
        slots = schema.rule_slots
        now = model.utcnow()
        with self._begin() as conn:
            conn.execute(slots.delete().where(
                slots.c.rule == rule, slots.c.lease_expires_at < now))
            used = set(conn.execute(sa.select(slots.c.slot).where(
                slots.c.rule == rule)).scalars())
            for slot in range(limit):
                if slot in used:
                    continue
                if conn.execute(self._sql.take_slot, {
                        'b_rule': rule, 'b_slot': slot, 'b_job': job_id,
                        'b_owner': owner, 'b_until': now +
                        datetime.timedelta(seconds=lease)}).first():
                    return True
        return False

    def recover(self):
        """At start: run again what a crash interrupted.

        Only for a journal that no other instance uses (SQLite): every job
        still marked running was interrupted, since nothing else runs
        them.  A shared journal waits for the leases to expire instead.
        Returns the number of jobs recovered.
        """
        if self.shared:
            return 0
        with self._begin() as conn:
            conn.execute(schema.rule_slots.delete())
            return conn.execute(schema.jobs.update().where(
                schema.jobs.c.state == model.RUNNING).values(
                    state=model.PENDING, owner=None,
                    lease_expires_at=None)).rowcount

    def reject(self, event, rules, why):
        """Keep ``event``, whose jobs cannot be stored, for the operator.

        :param rules: the names of the rules it matched.
        :param why: the error the journal raised for it.
        """
        text = event.to_json()
        why = errors.reason(why)
        if len(text) > REJECTED_EVENT_LIMIT:
            text = text[:REJECTED_EVENT_LIMIT]
            why += ' (event text cut to %d characters)' % len(text)
        with self._begin() as conn:
            conn.execute(schema.rejected.insert().values(
                event_id=safetext.identifier(event.id or ''),
                event_type=safetext.identifier(event.event_type or ''),
                rules=safetext.storable(','.join(rules)), reason=why,
                event=text, rejected_at=model.utcnow()))


_TIMED_COLUMNS = ('next_attempt_at', 'finished_at', 'detail')


def _read_next_timer(conn, callback):
    """Call claim()'s next_timer with what :meth:`Store.next_timer` says.

    Read in the claim's transaction: on a server, a lookup of its own each
    turn of the claimer costs a connection check and a transaction, as
    much CPU as the claim.
    """
    if callback is not None:
        callback(conn.execute(sql.NEXT_TIMER).scalar())


def _lease(event):
    lease = event.lease
    return safetext.identifier(lease) if lease else None


def _timed(row, timer, event, now):
    """Make ``row`` wait for the time ``timer`` gives ``event``."""
    if timer is None:
        return
    state, due, why = timer.decide(event, now)
    if state == policies.SCHEDULED:
        row.update(state=model.SCHEDULED, owner=None, lease_expires_at=None,
                   next_attempt_at=due, event_time=due)
    elif state == policies.SKIP:
        row.update(state=model.SKIPPED, owner=None, lease_expires_at=None,
                   finished_at=now, detail='at %s: %s' % (timer.text, why))
    # Past, to run: at once, as any job.


def _claim_columns(claim, now):
    if claim is None:
        return dict(state=model.PENDING, owner=None, attempts=0,
                    lease_expires_at=None)
    return dict(state=model.RUNNING, owner=claim.owner, attempts=0,
                lease_expires_at=now + datetime.timedelta(
                    seconds=claim.lease))
