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
"""Lease contexts: what a lease's actions wrote, for its later jobs.

A fulfil action makes something (a floating IP, a VLAN, a CMDB record)
that the delete action must undo.  Each lease has a small JSON object, its
context: an action adds keys to it with its result, and every later job of
the lease receives it as it stands when that job starts.

The writes of an attempt are recorded with its end, in the same
transaction (:meth:`Contexts.write`, called by the group commit), so a job
that runs again after a crash sees the context as committed.  The jobs of a
lease run one at a time, in order, across instances (its node's order):
nothing else writes a lease's context while a job of it runs, but an
operator's repair (``manage context set``).

A context is kept until its lease ends (a job of a ``delete.*`` event of
it ends) and for a retention after that, as long as the lease has
unfinished jobs; then the claimer prunes it with the old jobs.
"""

import json

from oslo_log import log as logging
import sqlalchemy as sa

from esi_event_actions.journal import model
from esi_event_actions.journal.schema import contexts
from esi_event_actions.journal.schema import jobs
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

#: Default largest context of one lease, in bytes of its JSON text.
MAX_BYTES = 16384

# The events that end a lease.
DELETE_PREFIX = 'esi_leap.lease.delete.'

_UNFINISHED = (model.PENDING, model.RUNNING, model.RETRY, model.SCHEDULED)


class ContextError(ValueError):
    """A context write that can never be stored: too large, or no JSON."""


def merge(base, updates):
    """``base`` with ``updates`` laid over it: a key set to None goes."""
    merged = dict(base)
    for key, value in (updates or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def encode(context, limit):
    """The JSON text of ``context``, checked.

    :raises ContextError: not an object of JSON values, or over ``limit``
        bytes.
    """
    if not isinstance(context, dict) or not all(
            isinstance(key, str) for key in context):
        raise ContextError('a context is a JSON object')
    try:
        text = safetext.dumps(context, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ContextError('not JSON: %s' % exc)
    if len(text) > limit:
        raise ContextError('%d bytes, over the limit of %d'
                           % (len(text), limit))
    return text


def written(ends):
    """(lease, updates) of the ``ends`` that write a context, in order."""
    for end in ends:
        updates = getattr(end.result, 'context', None)
        lease = updates and end.job.event.lease
        if lease:
            yield safetext.identifier(lease), updates


def note(conn, jobs, seq):
    """Note on claimed ``jobs`` whether their lease has a context.

    One statement for the lot, in the claiming transaction: a job whose
    lease had none, and that no end of this instance wrote since ``seq``
    (see :meth:`esi_event_actions.workers.recorder.Recorder.context_of`),
    needs no read of its own when it starts.
    """
    if seq is None or not jobs:
        return
    leases = [job.event.lease and safetext.identifier(job.event.lease)
              for job in jobs]
    wanted = sorted({lease for lease in leases if lease})
    have = set(conn.execute(sa.select(contexts.c.lease).where(
        contexts.c.lease.in_(wanted))).scalars()) if wanted else set()
    for job, lease in zip(jobs, leases):
        job.has_context = lease in have
        job.context_seq = seq


def _ended(ends):
    """The leases whose delete event's job is among ``ends``."""
    for end in ends:
        event = end.job.event
        if event is not None and event.lease and event.event_type.startswith(
                DELETE_PREFIX) and end.state in model.FINAL_STATES:
            yield safetext.identifier(event.lease)


class Contexts:
    """The lease contexts (a mixin of the Journal)."""

    #: Largest context of one lease, in bytes (``[journal]
    #: context_max_bytes``).
    context_limit = MAX_BYTES
    #: Seconds a context is kept after its lease ended (``[journal]
    #: context_retention_days``); None: for ever.
    context_retention = None

    def context(self, lease):
        """The context of ``lease`` as committed: a dict, maybe empty."""
        if not lease:
            return {}
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(contexts.c.data).where(
                contexts.c.lease == safetext.identifier(lease))).scalar()
        return json.loads(text) if text else {}

    def set_context(self, lease, updates):
        """An operator's repair: lay ``updates`` over the context.

        :returns: the context as stored.
        :raises ContextError: the result would not fit.
        """
        lease = safetext.identifier(lease)
        with self._begin() as conn:
            return self._write(conn, lease, updates, model.utcnow())

    def write_contexts(self, conn, ends, now):
        """Record the context writes of ``ends``, in the ends' transaction.

        A write that no longer fits (an operator's repair made the context
        grow since the job started) is dropped, and said: the worker
        checked it against the context its job started with.
        """
        for lease, updates in written(ends):
            try:
                self._write(conn, lease, updates, now)
            except ContextError as exc:
                LOG.warning('Context write of lease %s dropped: %s',
                            safetext.printable(lease), exc)
        ended = sorted(_ended(ends))
        if ended:
            conn.execute(contexts.update().where(
                contexts.c.lease.in_(ended),
                contexts.c.ended_at.is_(None)).values(ended_at=now))

    def _write(self, conn, lease, updates, now):
        query = sa.select(contexts.c.data).where(contexts.c.lease == lease)
        if self.engine.dialect.name == 'postgresql':
            query = query.with_for_update()
        text = conn.execute(query).scalar()
        merged = merge(json.loads(text) if text else {}, updates)
        data = encode(merged, self.context_limit)
        values = {'data': data, 'size': len(data), 'updated_at': now}
        if text is None:
            conn.execute(contexts.insert().values(lease=lease, **values))
        else:
            conn.execute(contexts.update().where(
                contexts.c.lease == lease).values(**values))
        return merged

    def context_rows(self, limit=None):
        """The stored contexts (lease, size, updated_at), newest first."""
        query = sa.select(contexts.c.lease, contexts.c.size,
                          contexts.c.updated_at).order_by(
            contexts.c.updated_at.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [row._asdict() for row in conn.execute(query)]

    def purge_contexts(self, older_than):
        """Delete the contexts of leases that ended before ``older_than``.

        A lease with a job still to run keeps its context.

        :returns: how many.
        """
        busy = sa.select(jobs.c.id).where(
            jobs.c.lease == contexts.c.lease,
            jobs.c.state.in_(_UNFINISHED)).exists()
        with self._begin() as conn:
            return conn.execute(contexts.delete().where(
                contexts.c.ended_at < older_than, ~busy)).rowcount
