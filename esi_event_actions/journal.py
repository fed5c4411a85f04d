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
"""The journal: every job the service owes, durable before it is acked.

One row per (event id, rule).  The unique key makes a redelivered
notification add nothing.  Jobs about one node run in the order of their
event time, then of their row number (arrival).

A job runs under a claim: an owner (one service instance), an attempt
count and a lease that the owner renews.  The transaction that adds fresh
jobs also claims them for the instance that adds them, when nothing else
about their node is unfinished: the instance hands them to its workers
in memory (see :mod:`esi_event_actions.workers`).  What memory cannot know
is claimed with a query: jobs left running by a crash, retries falling due,
jobs written by another process, and on a shared (PostgreSQL) journal the
jobs of other instances, written behind theirs or abandoned when a lease
expired.  A claim locks its rows (``FOR UPDATE SKIP LOCKED``).

The ends of jobs are recorded in groups, one transaction for every job that
finished since the last one (:meth:`Journal.record`).
"""

import contextlib
import dataclasses
import datetime
import fcntl
import os
import threading

from oslo_log import log as logging
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from esi_event_actions import event as event_mod
from esi_event_actions import exception
from esi_event_actions import fileutils
from esi_event_actions import migration
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

#: Characters kept of the reason an event or an end could not be stored.
REASON_LIMIT = 500
#: Characters kept of a rejected event's JSON text.
REJECTED_EVENT_LIMIT = 64 * 1024

PENDING = 'pending'
RUNNING = 'running'
RETRY = 'retry'
DONE = 'done'
DEAD = 'dead'
# Journalled for a rule's once_per, not run: the value was seen.
SKIPPED = 'skipped'
STATES = (PENDING, RUNNING, RETRY, DONE, DEAD, SKIPPED)
FINAL_STATES = (DONE, DEAD, SKIPPED)

# The tables below are the schema's model; esi_event_actions.migrations
# changes a journal's schema to match it (see esi_event_actions.migration).
metadata = sa.MetaData()

jobs = sa.Table(
    'jobs', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('event_id', sa.String(255), nullable=False),
    sa.Column('rule', sa.String(255), nullable=False),
    sa.Column('event_type', sa.String(255), nullable=False),
    sa.Column('node', sa.String(255)),
    sa.Column('event', sa.Text, nullable=False),
    sa.Column('state', sa.String(16), nullable=False, default=PENDING),
    sa.Column('attempts', sa.Integer, nullable=False, default=0),
    sa.Column('created_at', sa.DateTime, nullable=False),
    # When the event happened, as its source says; jobs about one node run
    # in this order (then by id), not in the order the listener saw them.
    sa.Column('event_time', sa.DateTime, nullable=False),
    sa.Column('started_at', sa.DateTime),
    sa.Column('finished_at', sa.DateTime),
    sa.Column('next_attempt_at', sa.DateTime),
    sa.Column('owner', sa.String(255)),
    sa.Column('lease_expires_at', sa.DateTime),
    sa.Column('exit_status', sa.Integer),
    sa.Column('duration', sa.Float),
    sa.Column('detail', sa.Text),
    sa.Column('output', sa.Text),
    sa.UniqueConstraint('event_id', 'rule', name='uniq_jobs_event_rule'),
    sa.Index('ix_jobs_node_order', 'node', 'event_time', 'id'),
)

# Done jobs pile up; claims only ever look at unfinished ones.  Partial
# indexes over those keep a claim's cost independent of the history kept.
# The condition is literal SQL: a database only uses a partial index for a
# query whose condition it can see implies the index's, which bound
# parameters hide.
_UNFINISHED_SQL = "state IN ('pending', 'running', 'retry')"
sa.Index('ix_jobs_unfinished_order', jobs.c.event_time, jobs.c.id,
         sqlite_where=sa.text(_UNFINISHED_SQL),
         postgresql_where=sa.text(_UNFINISHED_SQL))
sa.Index('ix_jobs_unfinished_node', jobs.c.node, jobs.c.event_time,
         jobs.c.id, sqlite_where=sa.text(_UNFINISHED_SQL),
         postgresql_where=sa.text(_UNFINISHED_SQL))

# The event history poller's position: the highest event id it has handled.
checkpoints = sa.Table(
    'checkpoints', metadata,
    sa.Column('name', sa.String(255), primary_key=True),
    sa.Column('last_id', sa.BigInteger, nullable=False),
    sa.Column('updated_at', sa.DateTime, nullable=False),
)

# The history ids at or below the checkpoint that the poller has handled,
# kept for the look-back window only.
history_seen = sa.Table(
    'history_seen', metadata,
    sa.Column('name', sa.String(255), primary_key=True),
    sa.Column('event_id', sa.BigInteger, primary_key=True,
              autoincrement=False),
)

# How many jobs are done and dead, kept by triggers (migration 0002) in the
# transactions that change the jobs: reading them costs two rows, however
# much history the journal keeps.
final_counts = sa.Table(
    'final_counts', metadata,
    sa.Column('state', sa.String(16), primary_key=True),
    sa.Column('count', sa.BigInteger, nullable=False),
)

# The values a once_per rule has acted on, and the job that did (see
# Journal.add).
once_keys = sa.Table(
    'once_keys', metadata,
    sa.Column('rule', sa.String(255), primary_key=True),
    sa.Column('value', sa.String(255), primary_key=True),
    sa.Column('job_id', sa.Integer, nullable=False),
    sa.Column('ran_at', sa.DateTime, nullable=False),
)

# The running jobs of rules with max_concurrency, one row a slot: the
# primary key is what keeps instances from taking one slot twice.
rule_slots = sa.Table(
    'rule_slots', metadata,
    sa.Column('rule', sa.String(255), primary_key=True),
    sa.Column('slot', sa.Integer, primary_key=True, autoincrement=False),
    sa.Column('job_id', sa.Integer, nullable=False),
    sa.Column('owner', sa.String(255), nullable=False),
    sa.Column('lease_expires_at', sa.DateTime, nullable=False),
    sa.Index('ix_rule_slots_job', 'job_id'),
)

# Events whose jobs the journal refused for a reason no retry can change
# (see Journal.reject): kept for the operator instead of offered again.
rejected = sa.Table(
    'rejected', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('event_id', sa.String(255), nullable=False),
    sa.Column('event_type', sa.String(255), nullable=False),
    sa.Column('rules', sa.Text, nullable=False),
    sa.Column('reason', sa.Text, nullable=False),
    sa.Column('event', sa.Text, nullable=False),
    sa.Column('rejected_at', sa.DateTime, nullable=False),
)

journal_meta = sa.Table(
    'journal_meta', metadata,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.String(255), nullable=False),
)

_INSERTS = {'sqlite': sqlite.insert, 'postgresql': postgresql.insert}

# The statements of the hot path, built once: building a statement costs
# more than running it on a small batch.
_IDS = sa.bindparam('ids', expanding=True)
_OWNER = sa.bindparam('holder')
_UNFINISHED = sa.text('jobs.' + _UNFINISHED_SQL)
_UNFINISHED_COUNTS = sa.select(jobs.c.state, sa.func.count()).where(
    _UNFINISHED).group_by(jobs.c.state)
_FINAL_COUNTS = sa.select(final_counts.c.state, final_counts.c.count)
_OLDEST_UNFINISHED = sa.select(sa.func.min(jobs.c.created_at)).where(
    _UNFINISHED)
# The newest job is the highest id: a primary key lookup, not a scan.
_NEWEST = sa.select(jobs.c.created_at).order_by(jobs.c.id.desc()).limit(1)

# A dead or retrying job made to run again, with every attempt.
_PENDING_AGAIN = jobs.update().where(
    jobs.c.id.in_(_IDS), jobs.c.state.in_([DEAD, RETRY])).values(
        state=PENDING, attempts=0, next_attempt_at=None, finished_at=None,
        owner=None)
_FREE_SLOTS = rule_slots.delete().where(
    rule_slots.c.job_id.in_(_IDS), rule_slots.c.owner == _OWNER)
_TAKE_OVER_ONCE = once_keys.update().where(
    once_keys.c.rule == sa.bindparam('b_rule'),
    once_keys.c.value == sa.bindparam('b_value')).values(
        job_id=sa.bindparam('b_job'), ran_at=sa.bindparam('b_at'))

# PostgreSQL advisory locks on the nodes of a batch (the first key is a
# namespace): instances adding jobs about one node take turns, so that
# each sees what the other committed (see Journal.add).  Taken in key
# order, so that two batches never wait for each other.
_NODE_LOCK_SPACE = 0x45534946  # "ESIF"
_LOCK_NODES = sa.text(
    'SELECT pg_advisory_xact_lock(:space, k) FROM '
    '(SELECT DISTINCT hashtext(n) AS k FROM unnest(CAST(:nodes AS text[])) '
    'AS n ORDER BY k) AS keys')


def _held_nodes_query(dead_blocks):
    """Nodes among :nodes with unfinished jobs the holder is not running."""
    held = _UNFINISHED
    if dead_blocks:
        held = sa.or_(held, jobs.c.state == DEAD)
    return sa.select(jobs.c.node).distinct().where(
        jobs.c.node.in_(sa.bindparam('nodes', expanding=True)), held,
        sa.not_(sa.and_(jobs.c.state == RUNNING, jobs.c.owner == _OWNER)))


def _claim_query(dead_blocks):
    """Up to :limit runnable jobs, oldest first (see Journal.claim)."""
    earlier = jobs.alias('earlier')
    # Jobs without a node have no order to keep: NULL equals nothing.
    # The state tests repeat the partial indexes' conditions word for
    # word, which is what lets the database use them.
    blocked = sa.exists().where(
        earlier.c.node == jobs.c.node,
        sa.or_(sa.text('earlier.' + _UNFINISHED_SQL),
               earlier.c.state == DEAD) if dead_blocks
        else sa.text('earlier.' + _UNFINISHED_SQL),
        sa.or_(earlier.c.event_time < jobs.c.event_time,
               sa.and_(earlier.c.event_time == jobs.c.event_time,
                       earlier.c.id < jobs.c.id)))
    now = sa.bindparam('now')
    due = sa.or_(
        jobs.c.state == PENDING,
        sa.and_(jobs.c.state == RETRY, jobs.c.next_attempt_at <= now),
        sa.and_(jobs.c.state == RUNNING, jobs.c.lease_expires_at < now))
    return sa.select(
        jobs.c.id, jobs.c.rule, jobs.c.node, jobs.c.event, jobs.c.attempts,
        jobs.c.event_time).where(_UNFINISHED, due, ~blocked).order_by(
            jobs.c.event_time, jobs.c.id).limit(
                sa.bindparam('limit')).with_for_update(skip_locked=True)


_HELD_NODES = {flag: _held_nodes_query(flag) for flag in (False, True)}
_CLAIMABLE = {flag: _claim_query(flag) for flag in (False, True)}
_TAKE = jobs.update().where(jobs.c.id.in_(_IDS)).values(
    state=RUNNING, owner=_OWNER, attempts=jobs.c.attempts + 1,
    lease_expires_at=sa.bindparam('expires'))
# The jobs among :ids that the holder still holds, locked until the end of the
# transaction that records them.
_OWNED = sa.select(jobs.c.id).where(
    jobs.c.id.in_(_IDS), jobs.c.owner == _OWNER,
    jobs.c.state == RUNNING).with_for_update()
_NOT_HELD = sa.select(jobs.c.id).where(
    jobs.c.id.in_(_IDS), sa.or_(jobs.c.owner.is_(None),
                                jobs.c.owner != _OWNER))
_RECORD_END = jobs.update().where(
    jobs.c.id == sa.bindparam('b_id'), jobs.c.owner == sa.bindparam('b_owner'),
    jobs.c.state == RUNNING).values(
        state=sa.bindparam('b_state'),
        exit_status=sa.bindparam('b_exit_status'),
        duration=sa.bindparam('b_duration'),
        detail=sa.bindparam('b_detail'), output=sa.bindparam('b_output'),
        next_attempt_at=sa.bindparam('b_next'),
        started_at=sa.bindparam('b_started'),
        finished_at=sa.bindparam('b_finished'), lease_expires_at=None)
# Claimed, never started: the attempt did not happen.
_RELEASE = jobs.update().where(
    jobs.c.id.in_(_IDS), jobs.c.owner == _OWNER,
    jobs.c.state == RUNNING).values(
        state=PENDING, owner=None, lease_expires_at=None,
        attempts=jobs.c.attempts - 1)


@dataclasses.dataclass
class Checkpoint:
    """Where a polled source stands, stored with the jobs it created.

    ``last_id`` is the highest id handled; ``seen`` the ids handled by
    this pass; seen ids below ``forget_below`` are no longer needed.
    """

    name: str
    last_id: int
    seen: tuple = ()
    forget_below: int = None


class Outage:
    """Logs what one part of the service meets while the journal is down.

    One WARNING line per failed attempt, the traceback with the first of
    an outage only (at DEBUG after that), and one line when the journal
    answers again.
    """

    def __init__(self, logger, what):
        self._log = logger
        self._what = what
        self._failures = 0
        self._lock = threading.Lock()

    def failed(self, exc):
        with self._lock:
            self._failures += 1
            count = self._failures
        self._log.warning('%s failed (attempt %d): %s', self._what, count,
                          exc, exc_info=count == 1)
        if count > 1:
            self._log.debug('%s failed', self._what, exc_info=True)

    def succeeded(self):
        with self._lock:
            count, self._failures = self._failures, 0
        if count:
            self._log.info('The journal is back: %s again after %d failed '
                           'attempt(s)', self._what.lower(), count)


class JournalError(Exception):
    """The journal cannot be used as configured."""


def permanent(exc):
    """Whether ``exc`` came from the values written, not from an outage.

    A value the database cannot store (invalid text, a number out of
    range, a string too long for its column) fails the same way however
    often it is tried; a lost connection, a lock timeout or a deadlock may
    pass.  Retrying the first kind for ever would hold up everything
    behind it.
    """
    if isinstance(exc, sa.exc.DBAPIError):
        return (isinstance(exc, sa.exc.DataError) and
                not exc.connection_invalidated)
    if isinstance(exc, sa.exc.StatementError):
        # Raised before the database saw the statement: binding a value.
        exc = exc.orig
    return isinstance(exc, (UnicodeError, ValueError, TypeError,
                            OverflowError))


def reason(exc):
    """A one-line, storable account of ``exc``, without the statement."""
    cause = getattr(exc, 'orig', None) or exc
    lines = str(cause).strip().splitlines() or ['']
    text = '%s: %s' % (type(cause).__name__, lines[0])
    return safetext.storable(text[:REASON_LIMIT])


@dataclasses.dataclass
class Job:
    """A job as the workers see it.

    ``state`` is RUNNING for a job claimed by whoever got it from the
    journal, PENDING for one that waits for a claim.
    """

    id: int
    rule: str
    event: event_mod.Event
    node: str = None
    state: str = PENDING
    attempts: int = 0
    event_time: datetime.datetime = None
    #: Whether it holds one of its rule's max_concurrency slots.
    slot: bool = False
    #: Why a policy decided what it did (a SKIPPED job's detail).
    detail: str = None

    @property
    def order(self):
        """The key jobs about one node run in."""
        return (self.event_time or datetime.datetime.min, self.id)


@dataclasses.dataclass
class End:
    """How one attempt at a job ended, for :meth:`Journal.record`."""

    job: Job
    state: str
    result: object
    duration: float
    started_at: datetime.datetime
    finished_at: datetime.datetime
    next_attempt_at: datetime.datetime = None


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _sqlite_pragmas(synchronous):
    def on_connect(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        # WAL lets readers (the manage command) work beside the writer.
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA synchronous=%s' % synchronous)
        cursor.execute('PRAGMA busy_timeout=30000')
        cursor.close()
    return on_connect


def _job(row, **changes):
    job = Job(id=row.id, rule=row.rule, node=row.node,
              event=event_mod.Event.from_json(row.event),
              attempts=row.attempts, event_time=row.event_time)
    return dataclasses.replace(job, **changes)


def _new_job(row, event, happened, claim):
    return Job(id=row.id, rule=row.rule, event=event, node=event.node,
               state=claim['state'], attempts=claim['attempts'],
               event_time=happened)


def _once_value(value):
    """The once_keys value of ``value``: its text, or a digest.

    A digest when the text is long or holds what a column cannot store (a
    NUL, a lone surrogate), so that two values never share a key.
    """
    return safetext.identifier(event_mod.as_text(value), 200)


def _end_row(end, owner):
    result = end.result
    return {'b_id': end.job.id, 'b_owner': owner, 'b_state': end.state,
            'b_exit_status': result.exit_status, 'b_duration': end.duration,
            'b_detail': safetext.storable(result.detail),
            'b_output': safetext.storable(result.output),
            'b_next': end.next_attempt_at, 'b_started': end.started_at,
            'b_finished': end.finished_at if end.state in FINAL_STATES
            else None}


@dataclasses.dataclass
class _Bare:
    """The result recorded for an end whose own could not be stored."""

    detail: str
    output: str = ''
    exit_status: int = None


def lock_instance(url):
    """Make sure no other service process runs jobs from this journal.

    A SQLite journal serves one instance, which at start takes every job
    still marked running for one a crash interrupted: a second process
    would run them again.  Returns the locked file, to keep open for as
    long as the process (and the workers it forks, which inherit it)
    lives; None for PostgreSQL, whose journals are shared by design.

    :raises JournalError: another process holds the lock.
    """
    url = sa.engine.make_url(url)
    if url.get_backend_name() != 'sqlite' or url.database in (
            None, '', ':memory:'):
        return None
    path = os.path.abspath(url.database) + '.lock'
    lock_file = fileutils.open_private(path)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_file.close()
        raise JournalError(
            'the journal %s is in use by another esi-event-actions process; '
            'a SQLite journal serves one instance (use PostgreSQL to share '
            'one)' % url.database)
    return lock_file


class Journal:
    """Durable job store on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, url, sqlite_synchronous='FULL', prepare=True):
        self.url = sa.engine.make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in _INSERTS:
            raise JournalError('unsupported journal database %r (use '
                               'sqlite or postgresql)' % self.dialect)
        # A server may drop connections (a restart); a file does not, and a
        # ping before every transaction would cost a statement each.
        # Statements' parameters hold lessees' values: an error's text,
        # which is logged, must not.
        kwargs = {'pool_pre_ping': self.dialect != 'sqlite',
                  'hide_parameters': True}
        if self.dialect == 'sqlite':
            self._make_sqlite_dir()
            kwargs['connect_args'] = {'check_same_thread': False}
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.dialect == 'sqlite':
            sa.event.listen(self.engine, 'connect',
                            _sqlite_pragmas(sqlite_synchronous))
        # SQLite has one writer at a time; queueing writers here is cheaper
        # than letting them collide on the database lock.  PostgreSQL needs
        # no such help.
        self._write_lock = (threading.Lock() if self.dialect == 'sqlite'
                            else contextlib.nullcontext())
        insert = _INSERTS[self.dialect]
        self._insert = insert(jobs).on_conflict_do_nothing(
            index_elements=['event_id', 'rule']).returning(
                jobs.c.id, jobs.c.event_id, jobs.c.rule)
        self._take_once = insert(once_keys).values(
            rule=sa.bindparam('b_rule'), value=sa.bindparam('b_value'),
            job_id=sa.bindparam('b_job'), ran_at=sa.bindparam('b_at')
        ).on_conflict_do_nothing().returning(once_keys.c.job_id)
        # A purged holder (outer join, no state) was done: it counts.
        holder = sa.select(once_keys.c.job_id, once_keys.c.ran_at,
                           jobs.c.state).select_from(once_keys.outerjoin(
                               jobs, jobs.c.id == once_keys.c.job_id)).where(
            once_keys.c.rule == sa.bindparam('b_rule'),
            once_keys.c.value == sa.bindparam('b_value'))
        self._once_holder = holder.with_for_update(of=once_keys) if (
            self.dialect == 'postgresql') else holder
        self._take_slot = insert(rule_slots).values(
            rule=sa.bindparam('b_rule'), slot=sa.bindparam('b_slot'),
            job_id=sa.bindparam('b_job'), owner=sa.bindparam('b_owner'),
            lease_expires_at=sa.bindparam('b_until')
        ).on_conflict_do_nothing().returning(rule_slots.c.slot)
        if prepare:
            self._prepare_schema()

    @property
    def shared(self):
        """Whether several service instances may use this journal."""
        return self.dialect != 'sqlite'

    def _make_sqlite_dir(self):
        path = self.url.database
        if path and path != ':memory:':
            fileutils.create_private_file(path)

    @contextlib.contextmanager
    def _begin(self):
        """A write transaction."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _prepare_schema(self):
        try:
            migration.prepare(self.engine, upgrade_allowed=not self.shared)
        except migration.SchemaError as exc:
            raise JournalError(str(exc))

    def add(self, entries, checkpoint=None, owner=None, lease=60.0,
            dead_blocks=False, once=None, limit=None):
        """Store jobs for ``entries``, a list of (event, rule names).

        Runs in one transaction, which also stores ``checkpoint`` (a
        :class:`Checkpoint`) if given, so that jobs and position are
        stored together or not at all.  Jobs already present (a
        redelivery) are not stored again and not returned.

        With ``owner``, the transaction also claims the new jobs for it
        (RUNNING, attempt 1, a lease of ``lease`` seconds), except those
        whose node has unfinished jobs (or, with ``dead_blocks``, dead
        ones) that ``owner`` is not running: those wait for a claim,
        PENDING, behind what holds their node.  With ``limit``, at most
        that many are claimed, the first in run order; the others wait
        for a claim too.

        ``once`` maps rule names to their :class:`rules.OncePer`: a job of
        such a rule whose value was acted on is stored SKIPPED, naming the
        job that acted (see :meth:`_once`).

        :returns: the new jobs, in the order they must run.
        """
        now = utcnow()
        claim = dict(state=RUNNING, owner=owner, attempts=1,
                     lease_expires_at=now + datetime.timedelta(
                         seconds=lease)) if owner else dict(
            state=PENDING, owner=None, attempts=0, lease_expires_at=None)
        rows, events = [], {}
        for event, rules in entries:
            happened = event.time or now
            events[event.id] = (event, happened)
            text = event.to_json()
            for rule in rules:
                rows.append(dict(claim, event_id=event.id, rule=rule,
                                 event_type=event.event_type,
                                 node=event.node, event=text,
                                 created_at=now, event_time=happened))
        new = []
        with self._begin() as conn:
            if rows:
                self._lock_nodes(conn, {e.node for e, _ in events.values()})
                new = sorted((_new_job(r, *events[r.event_id], claim)
                              for r in conn.execute(self._insert, rows)),
                             key=lambda job: job.order)
            if once and new:
                self._once(conn, new, once, now)
            if owner and new:
                self._unclaim_held(
                    conn, [job for job in new if job.state != SKIPPED],
                    owner, dead_blocks)
                if limit is not None:
                    self._unclaim_over(conn, new, owner, limit)
            if checkpoint is not None:
                self._set_checkpoint(conn, checkpoint)
        return new

    def _once(self, conn, new, once, now):
        """Skip the new jobs whose rule acted on their value already.

        The (rule, value) key is inserted in this transaction, so two jobs
        of one batch, or of two instances, cannot both take it: the second
        insert waits for the first to commit, then finds the key.  A key
        whose job is dead, or older than the rule's window, is taken over.
        """
        for job in new:
            policy = once.get(job.rule)
            value, holder = self._once_key(conn, job, policy, now)
            if holder is not None:
                self._skip(conn, job, policy, value, holder, now)

    def _once_key(self, conn, job, policy, now):
        """Take ``job``'s once_per key, unless another job acted on it.

        :returns: (the value, the id of the job that acted on it, or None
            when ``job`` holds the key now).
        """
        value = policy and job.event.lookup(policy.path)
        if value is None or value is event_mod.MISSING:
            return value, None
        key = {'b_rule': job.rule, 'b_value': _once_value(value)}
        take = dict(key, b_job=job.id, b_at=now)
        if conn.execute(self._take_once, take).first():
            return value, None
        holder = conn.execute(self._once_holder, key).first()
        if holder is None:
            # A purge of its dead holder deleted the key meanwhile.
            conn.execute(self._take_once, take)
            return value, None
        if holder.job_id == job.id:
            return value, None
        fresh = not policy.window or (
            holder.ran_at + datetime.timedelta(seconds=policy.window) > now)
        if holder.state != DEAD and fresh:
            return value, holder.job_id
        conn.execute(_TAKE_OVER_ONCE, take)
        return value, None

    @staticmethod
    def _skip(conn, job, policy, value, holder, now):
        # The job that acted comes first: a table cuts the end.
        detail = 'job %d acted on once_per %s=%s' % (
            holder, policy.path,
            safetext.storable(event_mod.as_text(value)[:80]))
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(
            state=SKIPPED, owner=None, attempts=0, lease_expires_at=None,
            finished_at=now, detail=detail))
        job.state, job.attempts, job.detail = SKIPPED, 0, detail

    def _lock_nodes(self, conn, nodes):
        nodes = sorted(n for n in nodes if n is not None)
        if nodes and self.dialect == 'postgresql':
            conn.execute(_LOCK_NODES, {'space': _NODE_LOCK_SPACE,
                                       'nodes': nodes})

    @staticmethod
    def _unclaim_over(conn, new, owner, limit):
        """Leave for a claim the claimed jobs of ``new`` past ``limit``."""
        over = [job for job in new if job.state == RUNNING][limit:]
        if over:
            conn.execute(_RELEASE, {'ids': [job.id for job in over],
                                    'holder': owner})
            for job in over:
                job.state, job.attempts = PENDING, 0

    @staticmethod
    def _unclaim_held(conn, new, owner, dead_blocks):
        nodes = sorted({job.node for job in new if job.node is not None})
        if not nodes:
            return
        held = set(conn.execute(_HELD_NODES[dead_blocks], {
            'nodes': nodes, 'holder': owner}).scalars())
        waiting = [job for job in new if job.node in held]
        if not waiting:
            return
        conn.execute(_RELEASE, {'ids': [job.id for job in waiting],
                                'holder': owner})
        for job in waiting:
            job.state, job.attempts = PENDING, 0

    def reject(self, event, rules, why):
        """Keep ``event``, whose jobs cannot be stored, for the operator.

        :param rules: the names of the rules it matched.
        :param why: the error the journal raised for it.
        """
        text = event.to_json()
        why = reason(why)
        if len(text) > REJECTED_EVENT_LIMIT:
            text = text[:REJECTED_EVENT_LIMIT]
            why += ' (event text cut to %d characters)' % len(text)
        with self._begin() as conn:
            conn.execute(rejected.insert().values(
                event_id=safetext.identifier(event.id or ''),
                event_type=safetext.identifier(event.event_type or ''),
                rules=safetext.storable(','.join(rules)), reason=why,
                event=text, rejected_at=utcnow()))

    def rejected(self, limit=None):
        """The rejected events, newest first, as dicts."""
        query = sa.select(rejected).order_by(rejected.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def _set_checkpoint(self, conn, checkpoint):
        insert = _INSERTS[self.dialect]
        stmt = insert(checkpoints).values(
            name=checkpoint.name, last_id=checkpoint.last_id,
            updated_at=utcnow())
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

    def claim(self, owner, limit, lease, dead_blocks=False):
        """Claim up to ``limit`` runnable jobs for ``owner``.

        A job is runnable when no unfinished job of its node happened
        before it (by event time, then journal order) and it is pending,
        due for a retry, or running under an expired lease (its owner
        died).  Claimed jobs are marked running under a lease of
        ``lease`` seconds, their attempt counted.

        :param dead_blocks: whether a dead job holds back later jobs of its
            node until an operator retries or purges it.
        """
        now = utcnow()
        with self._begin() as conn:
            rows = conn.execute(_CLAIMABLE[bool(dead_blocks)], {
                'now': now, 'limit': limit}).all()
            if not rows:
                return []
            conn.execute(_TAKE, {
                'ids': [r.id for r in rows], 'holder': owner,
                'expires': now + datetime.timedelta(seconds=lease)})
        return [_job(r, state=RUNNING, attempts=r.attempts + 1)
                for r in rows]

    def renew(self, owner, lease):
        """Extend the lease on every job and slot ``owner`` holds."""
        until = utcnow() + datetime.timedelta(seconds=lease)
        with self._begin() as conn:
            conn.execute(jobs.update().where(
                jobs.c.owner == owner, jobs.c.state == RUNNING).values(
                    lease_expires_at=until))
            conn.execute(rule_slots.update().where(
                rule_slots.c.owner == owner).values(lease_expires_at=until))

    def take_slot(self, rule, limit, owner, job_id, lease):
        """Take one of the ``limit`` slots of ``rule`` for a job to start.

        The slot is a row whose primary key is (rule, slot number): of two
        instances inserting the same one, only one succeeds.  Slots whose
        lease expired (their instance died) are free again.  The slot goes
        with the record of the job's end.  Returns whether one was free.
        """
        now = utcnow()
        with self._begin() as conn:
            conn.execute(rule_slots.delete().where(
                rule_slots.c.rule == rule,
                rule_slots.c.lease_expires_at < now))
            used = set(conn.execute(sa.select(rule_slots.c.slot).where(
                rule_slots.c.rule == rule)).scalars())
            for slot in range(limit):
                if slot in used:
                    continue
                if conn.execute(self._take_slot, {
                        'b_rule': rule, 'b_slot': slot, 'b_job': job_id,
                        'b_owner': owner, 'b_until': now +
                        datetime.timedelta(seconds=lease)}).first():
                    return True
        return False

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
            if not (ends and permanent(exc)):
                raise
        lost = self._record(owner, (), releases)
        for end in ends:
            lost |= self._record_alone(owner, end)
        return lost

    def _record_alone(self, owner, end):
        try:
            return self._record(owner, [end], ())
        except Exception as exc:
            if not permanent(exc):
                raise
            why = reason(exc)
        LOG.warning('Job %(job)d ended %(state)s, but the journal cannot '
                    'store its detail or output (%(why)s): recorded '
                    'without them', {'job': end.job.id, 'state': end.state,
                                     'why': safetext.printable(why)})
        bare = _Bare('detail and output not stored: %s' % why)
        return self._record(owner, [dataclasses.replace(end, result=bare)],
                            ())

    def _record(self, owner, ends, releases):
        ids = [end.job.id for end in ends] + list(releases)
        if not ids:
            return set()
        slotted = [end.job.id for end in ends if end.job.slot]
        with self._begin() as conn:
            owned = self._record_ends(conn, owner, ids, ends)
            back = [job_id for job_id in releases if job_id in owned]
            if back:
                conn.execute(_RELEASE, {'ids': back, 'holder': owner})
            if slotted:
                conn.execute(_FREE_SLOTS, {'ids': slotted, 'holder': owner})
        return set(ids) - owned

    def _record_ends(self, conn, owner, ids, ends):
        """Record the ``ends`` that ``owner`` holds; the ids it holds."""
        rows = [_end_row(end, owner) for end in ends]
        if self.shared:
            owned = set(conn.execute(_OWNED, {
                'ids': ids, 'holder': owner}).scalars())
            rows = [row for row in rows if row['b_id'] in owned]
            if rows:
                conn.execute(_RECORD_END, rows)
            return owned
        # One instance per SQLite journal, so its jobs are all its own:
        # one statement records them, and its own condition skips any
        # that are not.
        if rows and conn.execute(_RECORD_END, rows).rowcount == len(rows):
            return set(ids)
        return set(ids) - set(conn.execute(_NOT_HELD, {
            'ids': ids, 'holder': owner}).scalars())

    def finish(self, job_id, owner, state, result, duration,
               next_attempt_at=None):
        """Record how one attempt ended; False if ``owner`` lost the job."""
        now = utcnow()
        end = End(Job(id=job_id, rule=None, event=None), state, result,
                  duration, now - datetime.timedelta(seconds=duration), now,
                  next_attempt_at)
        return not self.record(owner, [end])

    def release(self, owner, job_ids):
        """Hand claimed jobs that never started back to the pool."""
        self.record(owner, releases=job_ids)

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
            conn.execute(rule_slots.delete())
            return conn.execute(jobs.update().where(
                jobs.c.state == RUNNING).values(
                    state=PENDING, owner=None,
                    lease_expires_at=None)).rowcount

    def retry(self, job_ids=None, all_dead=False, once=None):
        """Make the given dead or waiting jobs, or every dead one, pending.

        Their attempt count restarts, so they get every attempt again.
        Returns the number of jobs made pending (see :meth:`retry_jobs`).
        """
        return len(self.retry_jobs(job_ids, all_dead, once)[0])

    def retry_jobs(self, job_ids=None, all_dead=False, once=None):
        """Make jobs pending again, unless their once_per forbids it.

        ``once`` maps rule names to their :class:`rules.OncePer`, as for
        :meth:`add`: a job whose value another job has acted on since it
        died is skipped instead, naming that job, so that a retry never
        acts twice where the listener would not.  Of several retried jobs
        with one value, the oldest runs and the others are skipped.

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
        now = utcnow()
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
                conn.execute(_PENDING_AGAIN, {'ids': plain})
        return retried, skipped

    def _retry_once(self, conn, job_id, rule, policy, now):
        """Skip, or make pending, a job of a once_per rule; who acted."""
        job = Job(id=job_id, rule=rule, event=event_mod.Event.from_json(
            conn.execute(sa.select(jobs.c.event).where(
                jobs.c.id == job_id)).scalar()))
        value, holder = self._once_key(conn, job, policy, now)
        if holder is not None:
            self._skip(conn, job, policy, value, holder, now)
            return holder
        # Pending at once: a later job of the value finds it so.
        conn.execute(_PENDING_AGAIN, {'ids': [job_id]})
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

    def check_writable(self):
        """Raise if the journal cannot take a write now."""
        with self._begin() as conn:
            conn.execute(journal_meta.update().where(
                journal_meta.c.key == 'schema_version').values(
                    value=journal_meta.c.value))

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

        Costs the unfinished jobs, read through their partial index, and
        two rows of final counts: not the history kept.
        """
        with self._reading(conn) as conn:
            found = dict(conn.execute(_UNFINISHED_COUNTS).all())
            found.update(conn.execute(_FINAL_COUNTS).all())
        return {state: found.get(state, 0) for state in STATES}

    def status(self, conn=None):
        """Counts, and when the oldest unfinished and newest jobs came."""
        with self._reading(conn) as conn:
            return {'jobs': self.counts(conn),
                    'oldest_unfinished': conn.execute(
                        _OLDEST_UNFINISHED).scalar(),
                    'newest_job': conn.execute(_NEWEST).scalar()}

    @contextlib.contextmanager
    def _reading(self, conn):
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as conn:
            yield conn

    def close(self):
        self.engine.dispose()


def check_config(conf):
    """Open the journal once: its URL, schema version and reachability.

    :raises ConfigErrors: naming the [journal] connection option.
    """
    try:
        Journal(conf.journal.connection,
                conf.journal.sqlite_synchronous).close()
    except Exception as exc:
        raise exception.ConfigErrors([exception.ConfigError(
            'cannot open the journal: %s' % exc, section='journal',
            key='connection')])
