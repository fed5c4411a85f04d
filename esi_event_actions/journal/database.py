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
"""The journal's database: the engine, transactions, the instance lock."""

import contextlib
import fcntl
import os
import threading

import sqlalchemy as sa

from esi_event_actions import fileutils
from esi_event_actions.journal import errors
from esi_event_actions.journal import schema
from esi_event_actions.journal import statements
from esi_event_actions import migration


def _sqlite_pragmas(synchronous):
    def on_connect(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        # WAL lets readers (the manage command) work beside the writer.
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA synchronous=%s' % synchronous)
        cursor.execute('PRAGMA busy_timeout=30000')
        cursor.close()
    return on_connect


class Database:
    """A journal's engine, on SQLite or PostgreSQL.

    :param prepare: bring the schema to this release's (see
        :mod:`esi_event_actions.migration`); False for a command that
        manages the schema itself.
    """

    def __init__(self, url, sqlite_synchronous='FULL', prepare=True):
        self.url = sa.engine.make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in statements.INSERTS:
            raise errors.JournalError('unsupported journal database %r (use '
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
        self._sql = statements.for_dialect(self.dialect)
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

    @contextlib.contextmanager
    def _reading(self, conn):
        """``conn``, or a connection of the engine's for reading."""
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as conn:
            yield conn

    def _prepare_schema(self):
        try:
            migration.prepare(self.engine, upgrade_allowed=not self.shared)
        except migration.SchemaError as exc:
            raise errors.JournalError(str(exc))

    def check_writable(self):
        """Raise if the journal cannot take a write now."""
        with self._begin() as conn:
            conn.execute(schema.journal_meta.update().where(
                schema.journal_meta.c.key == 'schema_version').values(
                    value=schema.journal_meta.c.value))

    def close(self):
        self.engine.dispose()


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
        raise errors.JournalError(
            'the journal %s is in use by another esi-event-actions process; '
            'a SQLite journal serves one instance (use PostgreSQL to share '
            'one)' % url.database)
    return lock_file
