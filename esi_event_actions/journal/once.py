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
"""The once_keys table: which job acted on a once_per rule's value.

What a key means, and when its holder no longer counts, is the policy's
(:class:`esi_event_actions.policies.OncePer`); this module only takes,
reads and hands over keys, and marks the jobs a key skips.
"""

from esi_event_actions import event as event_mod
from esi_event_actions.journal.model import SKIPPED
from esi_event_actions.journal import schema
from esi_event_actions.journal import statements
from esi_event_actions import safetext


def key_value(value):
    """The once_keys value of ``value``: its text, or a digest.

    A digest when the text is long or holds what a column cannot store (a
    NUL, a lone surrogate), so that two values never share a key.
    """
    return safetext.identifier(event_mod.as_text(value), 200)


def take(conn, sql, job, policy, now):
    """Take ``job``'s once_per key, unless another job acted on it.

    The key is inserted in the caller's transaction, so two jobs of one
    batch, or of two instances, cannot both take it: the second insert
    waits for the first to commit, then finds the key.

    :param sql: the journal's dialect statements.
    :returns: (the value, the id of the job that acted on it, or None
        when ``job`` holds the key now).
    """
    value = policy and job.event.lookup(policy.path)
    if value is None or value is event_mod.MISSING:
        return value, None
    key = {'b_rule': job.rule, 'b_value': key_value(value)}
    mine = dict(key, b_job=job.id, b_at=now)
    if conn.execute(sql.take_once, mine).first():
        return value, None
    holder = conn.execute(sql.once_holder, key).first()
    if holder is None:
        # A purge of its dead holder deleted the key meanwhile.
        conn.execute(sql.take_once, mine)
        return value, None
    if holder.job_id == job.id:
        return value, None
    if policy.blocks(holder.state, holder.ran_at, now):
        return value, holder.job_id
    conn.execute(statements.TAKE_OVER_ONCE, mine)
    return value, None


def skip(conn, job, policy, value, holder, now):
    """Store ``job`` skipped: ``holder`` acted on its value."""
    # The job that acted comes first: a table cuts the end.
    detail = 'job %d acted on once_per %s=%s' % (
        holder, policy.path,
        safetext.storable(event_mod.as_text(value)[:80]))
    conn.execute(schema.jobs.update().where(
        schema.jobs.c.id == job.id).values(
            state=SKIPPED, owner=None, attempts=0, lease_expires_at=None,
            finished_at=now, detail=detail))
    job.state, job.attempts, job.detail = SKIPPED, 0, detail


def apply(conn, sql, jobs, once, now):
    """Skip the ``jobs`` whose rule acted on their value already.

    :param once: rule names to their OncePer.
    """
    for job in jobs:
        policy = once.get(job.rule)
        value, holder = take(conn, sql, job, policy, now)
        if holder is not None:
            skip(conn, job, policy, value, holder, now)
