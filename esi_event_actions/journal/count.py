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
"""on_count: which of a rule's jobs of one lease acts.

What a count means is the policy's
(:class:`esi_event_actions.policies.OnCount`); this module counts, in the
transaction that adds the jobs, and marks the jobs the policy skips.

A job's count is the number of its rule's jobs of its lease whose id is
no higher than its own: the jobs themselves are the tally, so nothing
else has to be kept, and a redelivered event, which adds no job, counts
once.  On PostgreSQL the add locks the lease before it inserts
(:func:`lock_leases`), so that of two instances adding jobs of one lease
the later one's jobs have the higher ids and it sees the earlier one's.
"""

from esi_event_actions.journal.model import SKIPPED
from esi_event_actions.journal import schema
from esi_event_actions.journal import statements
from esi_event_actions import safetext


def lock_leases(conn, rows, counts):
    """On PostgreSQL, lock the leases of the rows of counted rules.

    Taken after the nodes' locks, before the rows are inserted.  A lease's
    jobs are about one node, locked already; but a payload may name no
    node, and no two batches of one lease may count at once.
    """
    leases = sorted({row['lease'] for row in rows if row['lease'] and
                     row['rule'] in (counts or ())})
    if leases and conn.dialect.name == 'postgresql':
        conn.execute(statements.LOCK_NODES, {
            'space': statements.LEASE_LOCK_SPACE, 'nodes': leases})


def apply(conn, jobs, counts, now):
    """Skip the new ``jobs`` that are not the Nth of their rule and lease.

    :param counts: rule names to their OnCount.
    :returns: the ids of the jobs skipped.
    """
    skipped = set()
    for job in jobs:
        policy = counts.get(job.rule)
        if policy is None:
            continue
        why = policy.decide(*_seen(conn, job, policy))
        if why is not None:
            _skip(conn, job, why, now)
            skipped.add(job.id)
    return skipped


def _seen(conn, job, policy):
    """(how many jobs up to ``job``, the Nth's id if past it)."""
    lease = job.event.lease
    if not lease:
        return None, None
    # The lease as Store.add stores it.
    key = {'b_rule': job.rule, 'b_lease': safetext.identifier(lease)}
    seen = conn.execute(statements.COUNT_UP_TO, dict(
        key, b_id=job.id, b_limit=policy.nth + 1)).scalar()
    if seen <= policy.nth:
        return seen, None
    return seen, conn.execute(statements.NTH_JOB, dict(
        key, b_offset=policy.nth - 1)).scalar()


def _skip(conn, job, why, now):
    # A timed rule's job may have been stored scheduled: it waits no more.
    detail = safetext.storable(why)
    conn.execute(schema.jobs.update().where(
        schema.jobs.c.id == job.id).values(
            state=SKIPPED, owner=None, attempts=0, lease_expires_at=None,
            next_attempt_at=None, finished_at=now, detail=detail))
    job.state, job.attempts, job.detail = SKIPPED, 0, detail
