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
"""The journal's statements, built once.

Building a statement costs more than running it on a small batch, so the
statements of the hot path are built at import, and those that depend on
the database's dialect once per journal (:func:`for_dialect`).
"""

import types

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from esi_event_actions.journal.model import CANCELLED
from esi_event_actions.journal.model import DEAD
from esi_event_actions.journal.model import PENDING
from esi_event_actions.journal.model import RETRY
from esi_event_actions.journal.model import RUNNING
from esi_event_actions.journal import schema
from esi_event_actions.journal.schema import jobs
from esi_event_actions.journal.schema import once_keys
from esi_event_actions.journal.schema import rule_slots

INSERTS = {'sqlite': sqlite.insert, 'postgresql': postgresql.insert}

IDS = sa.bindparam('ids', expanding=True)
OWNER = sa.bindparam('holder')
UNFINISHED = sa.text('jobs.' + schema.UNFINISHED_SQL)
UNFINISHED_COUNTS = sa.select(jobs.c.state, sa.func.count()).where(
    UNFINISHED).group_by(jobs.c.state)
FINAL_COUNTS = sa.select(schema.final_counts.c.state,
                         schema.final_counts.c.count)
OLDEST_UNFINISHED = sa.select(sa.func.min(jobs.c.created_at)).where(
    UNFINISHED)
# The newest job is the highest id: a primary key lookup, not a scan.
NEWEST = sa.select(jobs.c.created_at).order_by(jobs.c.id.desc()).limit(1)

# The scheduled jobs, through their partial index (the condition is its
# text, word for word).
_SCHEDULED = sa.text('jobs.' + schema.SCHEDULED_SQL)
SCHEDULED_COUNT = sa.select(sa.func.count()).select_from(jobs).where(
    _SCHEDULED)
NEXT_TIMER = sa.select(sa.func.min(jobs.c.next_attempt_at)).where(_SCHEDULED)
# Due: pending, ordered among its node's jobs at the time it was due.
# Both say which jobs they changed: the metrics count them by rule, and
# the log names each job cancelled.
FIRE_TIMERS = jobs.update().where(
    _SCHEDULED, jobs.c.next_attempt_at <= sa.bindparam('now')).values(
        state=PENDING, event_time=jobs.c.next_attempt_at,
        next_attempt_at=None).returning(jobs.c.rule)
CANCEL_TIMERS = jobs.update().where(
    _SCHEDULED, jobs.c.lease == sa.bindparam('b_lease'),
    jobs.c.rule.in_(sa.bindparam('b_rules', expanding=True))).values(
        state=CANCELLED, finished_at=sa.bindparam('b_at'),
        next_attempt_at=None, detail=sa.bindparam('b_why')).returning(
            jobs.c.id, jobs.c.rule, jobs.c.node, jobs.c.event,
            jobs.c.event_time)

# A dead or retrying job made to run again, with every attempt.
PENDING_AGAIN = jobs.update().where(
    jobs.c.id.in_(IDS), jobs.c.state.in_([DEAD, RETRY])).values(
        state=PENDING, attempts=0, next_attempt_at=None, finished_at=None,
        owner=None)
FREE_SLOTS = rule_slots.delete().where(
    rule_slots.c.job_id.in_(IDS), rule_slots.c.owner == OWNER)
TAKE_OVER_ONCE = once_keys.update().where(
    once_keys.c.rule == sa.bindparam('b_rule'),
    once_keys.c.value == sa.bindparam('b_value')).values(
        job_id=sa.bindparam('b_job'), ran_at=sa.bindparam('b_at'))

# PostgreSQL advisory locks on the nodes of a batch (the first key is a
# namespace): instances adding jobs about one node take turns, so that
# each sees what the other committed (see Journal.add).  Taken in key
# order, so that two batches never wait for each other.
NODE_LOCK_SPACE = 0x45534946  # "ESIF"
LOCK_NODES = sa.text(
    'SELECT pg_advisory_xact_lock(:space, k) FROM '
    '(SELECT DISTINCT hashtext(n) AS k FROM unnest(CAST(:nodes AS text[])) '
    'AS n ORDER BY k) AS keys')

# on_count's lock on the leases whose jobs it counts, taken after the
# nodes' (every batch takes its node locks first): two batches adding jobs
# of one lease take turns, so the later one's jobs have the higher ids and
# it counts the earlier one's.
LEASE_LOCK_SPACE = 0x45534943  # "ESIC"

# on_count: a rule's jobs of a lease up to a job, counted no further than
# the limit (past the Nth the number makes no difference); and the Nth.
_RULE_LEASE = (jobs.c.rule == sa.bindparam('b_rule'),
               jobs.c.lease == sa.bindparam('b_lease'))
COUNT_UP_TO = sa.select(sa.func.count()).select_from(sa.select(
    jobs.c.id).where(*_RULE_LEASE, jobs.c.id <= sa.bindparam('b_id')).limit(
        sa.bindparam('b_limit')).subquery())
NTH_JOB = sa.select(jobs.c.id).where(*_RULE_LEASE).order_by(jobs.c.id).limit(
    1).offset(sa.bindparam('b_offset'))


def _holding(table, dead_blocks):
    """The states in which a job of ``table`` holds its node's later jobs.

    The text repeats the partial indexes' condition word for word, which
    is what lets the database use them.
    """
    unfinished = sa.text('%s.%s' % (table.name, schema.UNFINISHED_SQL))
    if dead_blocks:
        return sa.or_(unfinished, table.c.state == DEAD)
    return unfinished


def _held_nodes_query(dead_blocks):
    """Nodes among :nodes with unfinished jobs the holder is not running.

    The holder's running jobs are in its memory, where its own new jobs
    queue behind them (see WorkerPool.take).
    """
    return sa.select(jobs.c.node).distinct().where(
        jobs.c.node.in_(sa.bindparam('nodes', expanding=True)),
        _holding(jobs, dead_blocks),
        sa.not_(sa.and_(jobs.c.state == RUNNING, jobs.c.owner == OWNER)))


def _claim_query(dead_blocks):
    """Up to :limit runnable jobs, oldest first (see Journal.claim)."""
    other = jobs.alias('earlier')
    now = sa.bindparam('now')
    # Jobs without a node have no order to keep: NULL equals nothing.
    # A job waits behind its node's earlier unfinished jobs, and behind
    # one that runs, earlier or not: an event that arrives late must not
    # run beside a later one that another instance started.
    before = sa.or_(other.c.event_time < jobs.c.event_time,
                    sa.and_(other.c.event_time == jobs.c.event_time,
                            other.c.id < jobs.c.id))
    running = sa.and_(other.c.state == RUNNING, other.c.id != jobs.c.id,
                      other.c.lease_expires_at >= now)
    blocked = sa.exists().where(
        other.c.node == jobs.c.node, _holding(other, dead_blocks),
        sa.or_(before, running))
    due = sa.or_(
        jobs.c.state == PENDING,
        sa.and_(jobs.c.state == RETRY, jobs.c.next_attempt_at <= now),
        sa.and_(jobs.c.state == RUNNING, jobs.c.lease_expires_at < now))
    return sa.select(
        jobs.c.id, jobs.c.rule, jobs.c.node, jobs.c.event, jobs.c.attempts,
        jobs.c.event_time).where(UNFINISHED, due, ~blocked).order_by(
            jobs.c.event_time, jobs.c.id).limit(
                sa.bindparam('limit')).with_for_update(skip_locked=True)


HELD_NODES = {flag: _held_nodes_query(flag) for flag in (False, True)}
CLAIMABLE = {flag: _claim_query(flag) for flag in (False, True)}
# Attempts are counted when they end (RECORD_END): a claim may never
# start its job, and a crash is not the action's failure.
TAKE = jobs.update().where(jobs.c.id.in_(IDS)).values(
    state=RUNNING, owner=OWNER, lease_expires_at=sa.bindparam('expires'))
# The jobs among :ids that the holder still holds, locked until the end of
# the transaction that records them.
OWNED = sa.select(jobs.c.id).where(
    jobs.c.id.in_(IDS), jobs.c.owner == OWNER,
    jobs.c.state == RUNNING).with_for_update()
NOT_HELD = sa.select(jobs.c.id).where(
    jobs.c.id.in_(IDS), sa.or_(jobs.c.owner.is_(None),
                               jobs.c.owner != OWNER))
RECORD_END = jobs.update().where(
    jobs.c.id == sa.bindparam('b_id'), jobs.c.owner == sa.bindparam('b_owner'),
    jobs.c.state == RUNNING).values(
        state=sa.bindparam('b_state'),
        attempts=jobs.c.attempts + sa.bindparam('b_tried'),
        exit_status=sa.bindparam('b_exit_status'),
        duration=sa.bindparam('b_duration'),
        detail=sa.bindparam('b_detail'), output=sa.bindparam('b_output'),
        next_attempt_at=sa.bindparam('b_next'),
        started_at=sa.bindparam('b_started'),
        finished_at=sa.bindparam('b_finished'), lease_expires_at=None)
# Claimed, never started.
RELEASE = jobs.update().where(
    jobs.c.id.in_(IDS), jobs.c.owner == OWNER,
    jobs.c.state == RUNNING).values(
        state=PENDING, owner=None, lease_expires_at=None)


def for_dialect(dialect):
    """The statements whose text depends on the database's dialect."""
    insert = INSERTS[dialect]
    # A purged holder (outer join, no state) was done: it counts.
    holder = sa.select(once_keys.c.job_id, once_keys.c.ran_at,
                       jobs.c.state).select_from(once_keys.outerjoin(
                           jobs, jobs.c.id == once_keys.c.job_id)).where(
        once_keys.c.rule == sa.bindparam('b_rule'),
        once_keys.c.value == sa.bindparam('b_value'))
    return types.SimpleNamespace(
        insert=insert,
        add_jobs=insert(jobs).on_conflict_do_nothing(
            index_elements=['event_id', 'rule']).returning(
                jobs.c.id, jobs.c.event_id, jobs.c.rule),
        take_once=insert(once_keys).values(
            rule=sa.bindparam('b_rule'), value=sa.bindparam('b_value'),
            job_id=sa.bindparam('b_job'), ran_at=sa.bindparam('b_at')
        ).on_conflict_do_nothing().returning(once_keys.c.job_id),
        once_holder=holder.with_for_update(of=once_keys) if (
            dialect == 'postgresql') else holder,
        take_slot=insert(rule_slots).values(
            rule=sa.bindparam('b_rule'), slot=sa.bindparam('b_slot'),
            job_id=sa.bindparam('b_job'), owner=sa.bindparam('b_owner'),
            lease_expires_at=sa.bindparam('b_until')
        ).on_conflict_do_nothing().returning(rule_slots.c.slot))
