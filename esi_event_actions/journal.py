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
order jobs about one node must run in.
"""

import dataclasses
import datetime
import os
import threading

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from esi_event_actions import event as event_mod

PENDING = 'pending'
RUNNING = 'running'
DONE = 'done'
FAILED = 'failed'
STATES = (PENDING, RUNNING, DONE, FAILED)

SCHEMA_VERSION = 1

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
    sa.Column('started_at', sa.DateTime),
    sa.Column('finished_at', sa.DateTime),
    sa.Column('exit_status', sa.Integer),
    sa.Column('duration', sa.Float),
    sa.Column('detail', sa.Text),
    sa.Column('output', sa.Text),
    sa.UniqueConstraint('event_id', 'rule', name='uniq_jobs_event_rule'),
    sa.Index('ix_jobs_state', 'state'),
)

journal_meta = sa.Table(
    'journal_meta', metadata,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.String(255), nullable=False),
)

_INSERTS = {'sqlite': sqlite.insert, 'postgresql': postgresql.insert}


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


def _utcnow():
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


class Journal:
    """Durable job store on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, url, sqlite_synchronous='FULL'):
        self.url = sa.engine.make_url(url)
        dialect = self.url.get_backend_name()
        if dialect not in _INSERTS:
            raise JournalError('unsupported journal database %r (use '
                               'sqlite or postgresql)' % dialect)
        self._insert = _INSERTS[dialect]
        kwargs = {}
        if dialect == 'sqlite':
            self._make_sqlite_dir()
            kwargs['connect_args'] = {'check_same_thread': False}
        self.engine = sa.create_engine(self.url, **kwargs)
        if dialect == 'sqlite':
            sa.event.listen(self.engine, 'connect',
                            _sqlite_pragmas(sqlite_synchronous))
        # SQLite has one writer at a time; queueing writers here is cheaper
        # than letting them collide on the database lock.
        self._write_lock = threading.Lock()
        self._create_schema()

    def _make_sqlite_dir(self):
        path = self.url.database
        if path and path != ':memory:':
            os.makedirs(os.path.dirname(os.path.abspath(path)),
                        exist_ok=True)

    def _create_schema(self):
        with self._write_lock, self.engine.begin() as conn:
            metadata.create_all(conn)
            row = conn.execute(sa.select(journal_meta.c.value).where(
                journal_meta.c.key == 'schema_version')).first()
            if row is None:
                conn.execute(journal_meta.insert().values(
                    key='schema_version', value=str(SCHEMA_VERSION)))
            elif int(row.value) > SCHEMA_VERSION:
                raise JournalError(
                    'journal schema version %s is newer than this release '
                    'understands (%d)' % (row.value, SCHEMA_VERSION))

    def add(self, entries):
        """Store jobs for ``entries``, a list of (event, rule names).

        Runs in one transaction.  Returns the new jobs in arrival order;
        jobs already present (a redelivery) are not returned.
        """
        now = _utcnow()
        rows, events = [], {}
        for event, rules in entries:
            events[event.id] = event
            text = event.to_json()
            for rule in rules:
                rows.append(dict(event_id=event.id, rule=rule,
                                 event_type=event.event_type,
                                 node=event.node, event=text,
                                 state=PENDING, attempts=0,
                                 created_at=now))
        if not rows:
            return []
        stmt = self._insert(jobs).on_conflict_do_nothing(
            index_elements=['event_id', 'rule']).returning(
                jobs.c.id, jobs.c.event_id, jobs.c.rule)
        with self._write_lock, self.engine.begin() as conn:
            added = conn.execute(stmt, rows).all()
        return sorted((Job(id=r.id, rule=r.rule, event=events[r.event_id],
                           node=events[r.event_id].node) for r in added),
                      key=lambda job: job.id)

    def start(self, job_id):
        """Mark a job running; return its attempt number."""
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(
                state=RUNNING, attempts=jobs.c.attempts + 1,
                started_at=_utcnow()))
            return conn.execute(sa.select(jobs.c.attempts).where(
                jobs.c.id == job_id)).scalar_one()

    def finish(self, job_id, state, result, duration):
        """Record how a job ended."""
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(
                state=state, finished_at=_utcnow(),
                exit_status=result.exit_status, duration=duration,
                detail=result.detail, output=result.output))

    def unfinished(self):
        """Jobs to run at start, in arrival order.

        A job still marked running was interrupted by a crash: nothing
        records that it finished, so it runs again.
        """
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.state == RUNNING)
                         .values(state=PENDING))
            rows = conn.execute(sa.select(
                jobs.c.id, jobs.c.rule, jobs.c.node, jobs.c.event,
                jobs.c.attempts).where(jobs.c.state == PENDING)
                .order_by(jobs.c.id)).all()
        return [Job(id=r.id, rule=r.rule, node=r.node,
                    event=event_mod.Event.from_json(r.event),
                    attempts=r.attempts) for r in rows]

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

    def close(self):
        self.engine.dispose()
