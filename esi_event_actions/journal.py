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
notification add nothing.  Rows are numbered in arrival order, which is the
order jobs about one node must run in.  Workers claim jobs from here, so
several service instances sharing one PostgreSQL journal share the work:
a claim locks its rows (``FOR UPDATE SKIP LOCKED``) and holds them under a
lease that its owner renews; the jobs of an owner that stops renewing are
claimed again by another once the lease has expired.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import os
import threading

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from esi_event_actions import event as event_mod

PENDING = 'pending'
RUNNING = 'running'
RETRY = 'retry'
DONE = 'done'
DEAD = 'dead'
STATES = (PENDING, RUNNING, RETRY, DONE, DEAD)
FINAL_STATES = (DONE, DEAD)

# Version 1: the first schema.  A schema change adds a step to _MIGRATIONS
# and bumps this number; the service applies the steps at start and refuses
# a journal newer than it knows.
SCHEMA_VERSION = 1
_MIGRATIONS = {}
# PostgreSQL advisory lock taken while creating or migrating the schema.
_SCHEMA_LOCK_KEY = 0x45534945  # "ESIE"

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

journal_meta = sa.Table(
    'journal_meta', metadata,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.String(255), nullable=False),
)

_INSERTS = {'sqlite': sqlite.insert, 'postgresql': postgresql.insert}


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


class JournalError(Exception):
    """The journal cannot be used as configured."""


@dataclasses.dataclass
class Job:
    """A job as the workers see it."""

    id: int
    rule: str
    event: event_mod.Event
    node: str = None
    state: str = PENDING
    attempts: int = 0


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
              attempts=row.attempts)
    return dataclasses.replace(job, **changes)


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
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lock_file = open(path, 'a')
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

    def __init__(self, url, sqlite_synchronous='FULL'):
        self.url = sa.engine.make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in _INSERTS:
            raise JournalError('unsupported journal database %r (use '
                               'sqlite or postgresql)' % self.dialect)
        kwargs = {'pool_pre_ping': True}
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
        self._create_schema()

    @property
    def shared(self):
        """Whether several service instances may use this journal."""
        return self.dialect != 'sqlite'

    def _make_sqlite_dir(self):
        path = self.url.database
        if path and path != ':memory:':
            os.makedirs(os.path.dirname(os.path.abspath(path)),
                        exist_ok=True)

    @contextlib.contextmanager
    def _begin(self):
        """A write transaction."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _create_schema(self):
        with self._begin() as conn:
            if self.dialect == 'postgresql':
                # Instances starting together would otherwise race to
                # create the same tables.
                conn.execute(sa.text('SELECT pg_advisory_xact_lock(:key)'),
                             {'key': _SCHEMA_LOCK_KEY})
            metadata.create_all(conn)
            row = conn.execute(sa.select(journal_meta.c.value).where(
                journal_meta.c.key == 'schema_version')).first()
            version = int(row.value) if row else None
            if version is None:
                conn.execute(journal_meta.insert().values(
                    key='schema_version', value=str(SCHEMA_VERSION)))
            elif version > SCHEMA_VERSION:
                raise JournalError(
                    'journal schema version %d is newer than this release '
                    'understands (%d)' % (version, SCHEMA_VERSION))
            else:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    _MIGRATIONS[step](conn)
                conn.execute(journal_meta.update().where(
                    journal_meta.c.key == 'schema_version').values(
                        value=str(SCHEMA_VERSION)))

    def add(self, entries, checkpoint=None):
        """Store jobs for ``entries``, a list of (event, rule names).

        Runs in one transaction, which also stores ``checkpoint`` (a
        :class:`Checkpoint`) if given, so that jobs and position are
        stored together or not at all.  Returns the new jobs in arrival order;
        jobs already present (a redelivery) are not returned.
        """
        now = utcnow()
        rows, events = [], {}
        for event, rules in entries:
            events[event.id] = event
            text = event.to_json()
            happened = event.time or now
            for rule in rules:
                rows.append(dict(event_id=event.id, rule=rule,
                                 event_type=event.event_type,
                                 node=event.node, event=text,
                                 state=PENDING, attempts=0,
                                 created_at=now, event_time=happened))
        stmt = _INSERTS[self.dialect](jobs).on_conflict_do_nothing(
            index_elements=['event_id', 'rule']).returning(
                jobs.c.id, jobs.c.event_id, jobs.c.rule)
        added = []
        with self._begin() as conn:
            if rows:
                added = conn.execute(stmt, rows).all()
            if checkpoint is not None:
                self._set_checkpoint(conn, checkpoint)
        return sorted((Job(id=r.id, rule=r.rule, event=events[r.event_id],
                           node=events[r.event_id].node) for r in added),
                      key=lambda job: job.id)

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
        blocking = [PENDING, RUNNING, RETRY]
        if dead_blocks:
            blocking.append(DEAD)
        earlier = jobs.alias('earlier')
        # Jobs without a node have no order to keep: NULL equals nothing.
        # The state tests repeat the partial indexes' conditions word for
        # word, which is what lets the database use them.
        blocked = sa.exists().where(
            earlier.c.node == jobs.c.node,
            sa.text('earlier.' + _UNFINISHED_SQL) if not dead_blocks
            else earlier.c.state.in_(blocking),
            sa.or_(earlier.c.event_time < jobs.c.event_time,
                   sa.and_(earlier.c.event_time == jobs.c.event_time,
                           earlier.c.id < jobs.c.id)))
        due = sa.or_(
            jobs.c.state == PENDING,
            sa.and_(jobs.c.state == RETRY, jobs.c.next_attempt_at <= now),
            sa.and_(jobs.c.state == RUNNING, jobs.c.lease_expires_at < now))
        query = sa.select(jobs.c.id, jobs.c.rule, jobs.c.node,
                          jobs.c.event, jobs.c.attempts).where(
            sa.text('jobs.' + _UNFINISHED_SQL), due, ~blocked).order_by(
                jobs.c.event_time, jobs.c.id).limit(limit).with_for_update(
                    skip_locked=True)
        with self._begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            conn.execute(jobs.update().where(
                jobs.c.id.in_([r.id for r in rows])).values(
                    state=RUNNING, owner=owner,
                    attempts=jobs.c.attempts + 1, started_at=now,
                    lease_expires_at=now + datetime.timedelta(
                        seconds=lease)))
        return [_job(r, state=RUNNING, attempts=r.attempts + 1)
                for r in rows]

    def renew(self, owner, lease):
        """Extend the lease on every job ``owner`` is running."""
        with self._begin() as conn:
            conn.execute(jobs.update().where(
                jobs.c.owner == owner, jobs.c.state == RUNNING).values(
                    lease_expires_at=utcnow() + datetime.timedelta(
                        seconds=lease)))

    def finish(self, job_id, owner, state, result, duration,
               next_attempt_at=None):
        """Record how an attempt ended; False if ``owner`` lost the job.

        A job whose lease expired may have been claimed by another
        instance meanwhile; that instance's record wins.
        """
        values = dict(state=state, exit_status=result.exit_status,
                      duration=duration, detail=result.detail,
                      output=result.output, next_attempt_at=next_attempt_at,
                      lease_expires_at=None)
        if state in FINAL_STATES:
            values['finished_at'] = utcnow()
        with self._begin() as conn:
            count = conn.execute(jobs.update().where(
                jobs.c.id == job_id, jobs.c.owner == owner,
                jobs.c.state == RUNNING).values(**values)).rowcount
        return count == 1

    def release(self, owner, job_ids):
        """Hand claimed jobs that never started back to the pool."""
        if not job_ids:
            return
        with self._begin() as conn:
            conn.execute(jobs.update().where(
                jobs.c.id.in_(job_ids), jobs.c.owner == owner,
                jobs.c.state == RUNNING).values(
                    state=PENDING, owner=None, lease_expires_at=None,
                    attempts=jobs.c.attempts - 1))

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
            return conn.execute(jobs.update().where(
                jobs.c.state == RUNNING).values(
                    state=PENDING, owner=None,
                    lease_expires_at=None)).rowcount

    def next_due(self):
        """When the earliest retry or expired lease falls due, or None."""
        query = sa.select(sa.func.min(sa.case(
            (jobs.c.state == RETRY, jobs.c.next_attempt_at),
            else_=jobs.c.lease_expires_at))).where(
                jobs.c.state.in_([RETRY, RUNNING]))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def retry(self, job_ids=None, all_dead=False):
        """Make the given dead or waiting jobs, or every dead one, pending.

        Their attempt count restarts, so they get every attempt again.
        Returns the number of jobs changed.
        """
        if all_dead and job_ids:
            raise ValueError('give job ids or all_dead, not both')
        if all_dead:
            where = [jobs.c.state == DEAD]
        else:
            where = [jobs.c.state.in_([DEAD, RETRY]),
                     jobs.c.id.in_(job_ids or [])]
        with self._begin() as conn:
            return conn.execute(jobs.update().where(*where).values(
                state=PENDING, attempts=0, next_attempt_at=None,
                finished_at=None, owner=None)).rowcount

    def purge(self, older_than, states=FINAL_STATES):
        """Delete finished jobs created before ``older_than``."""
        states = [s for s in states if s in FINAL_STATES]
        with self._begin() as conn:
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

    def counts(self):
        """Number of jobs in each state."""
        query = sa.select(jobs.c.state, sa.func.count()).group_by(
            jobs.c.state)
        with self.engine.connect() as conn:
            found = dict(conn.execute(query).all())
        return {state: found.get(state, 0) for state in STATES}

    def status(self):
        """Counts, and when the oldest unfinished and newest jobs came."""
        unfinished = jobs.c.state.in_([PENDING, RUNNING, RETRY])
        with self.engine.connect() as conn:
            oldest = conn.execute(sa.select(sa.func.min(
                jobs.c.created_at)).where(unfinished)).scalar()
            newest = conn.execute(sa.select(sa.func.max(
                jobs.c.created_at))).scalar()
        return {'jobs': self.counts(), 'oldest_unfinished': oldest,
                'newest_job': newest}

    def close(self):
        self.engine.dispose()
