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
"""The journal's schema: alembic migrations, and the check made at start.

Revisions live in :mod:`esi_event_actions.migrations`.  Each declares
``expand_only``: whether the release before it can run on it.  The upgrade
writes into ``journal_meta``:

``schema_version``
    ``2`` (:data:`META_VERSION`) once alembic manages the schema.  The
    release before migrations wrote ``1`` and refuses anything higher, so
    it never runs on a migrated journal; this one refuses anything above
    ``2`` in turn, for a future change no revision can describe.
``runs_from``
    The oldest revision whose code can run on the schema: the newest
    revision at or below the current one that is not ``expand_only``.  An
    instance that finds a revision newer than its own runs on it only if
    it knows ``runs_from``.

At start (:func:`prepare`) an empty database gets the whole schema, on
SQLite and PostgreSQL alike.  A SQLite journal, which one instance owns,
is upgraded in place, adopting a journal made before migrations.  A shared
(PostgreSQL) journal is only ever upgraded by ``esi-event-actions-manage
db upgrade``: an instance that finds it behind refuses to start.
"""

import contextlib
import os

import sqlalchemy as sa

# alembic is imported only to change a schema or to describe one: an
# instance that finds its journal at HEAD, nearly every start, reads one
# row and spares every process the memory alembic takes.

#: The newest revision of this release; a unit test checks it against the
#: migrations.
HEAD = '0008'

META_VERSION = 2
# journal_meta schema versions written before migrations, and the revision
# that is the same schema.
PRE_ALEMBIC = {1: '0001'}
# PostgreSQL advisory lock held while the schema is checked or changed.
_LOCK_KEY = 0x45534945  # "ESIE"
_SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'migrations')
UPGRADE_COMMAND = 'esi-event-actions-manage db upgrade'


class SchemaError(Exception):
    """The journal's schema is not one this release can run on."""


def _config(conn=None):
    from alembic import config as alembic_config
    config = alembic_config.Config()
    config.set_main_option('script_location', _SCRIPTS)
    config.attributes['connection'] = conn
    return config


def scripts():
    """The alembic ScriptDirectory of the journal's revisions."""
    from alembic import script as alembic_script
    return alembic_script.ScriptDirectory.from_config(_config())


def head():
    return scripts().get_current_head()


def expand_only(revision):
    """Whether the release before ``revision`` can run on its schema."""
    return bool(getattr(revision.module, 'expand_only', False))


def history():
    """Every revision, oldest first, as (id, summary, expand_only)."""
    found = list(scripts().walk_revisions())
    return [(r.revision, (r.doc or '').strip().splitlines()[0],
             expand_only(r)) for r in reversed(found)]


@contextlib.contextmanager
def _locked(engine):
    """A transaction holding the schema lock (PostgreSQL's is shared)."""
    with engine.begin() as conn:
        if conn.dialect.name == 'postgresql':
            conn.execute(sa.text('SELECT pg_advisory_xact_lock(:key)'),
                         {'key': _LOCK_KEY})
        yield conn


def _meta(conn):
    if not sa.inspect(conn).has_table('journal_meta'):
        return {}
    return dict(conn.execute(sa.text(
        'SELECT key, value FROM journal_meta')).all())


def current(conn):
    """The journal's revision; None for an empty or pre-migration one."""
    if not sa.inspect(conn).has_table('alembic_version'):
        return None
    return conn.execute(sa.text(
        'SELECT version_num FROM alembic_version')).scalar()


def _pre_alembic(conn):
    """The revision a journal made before migrations is at, or None."""
    version = _meta(conn).get('schema_version')
    if version is None or current(conn) is not None:
        return None
    if int(version) not in PRE_ALEMBIC:
        raise SchemaError('the journal has schema version %s, which this '
                          'release does not know' % version)
    return PRE_ALEMBIC[int(version)]


def _runs_from(revision):
    for step in scripts().iterate_revisions(revision, 'base'):
        if not expand_only(step):
            return step.revision
    return revision


def _mark(conn):
    """Write journal_meta for the revision the journal is now at."""
    revision = current(conn)
    if revision is None:
        return
    conn.execute(sa.text('DELETE FROM journal_meta WHERE key IN '
                         "('schema_version', 'runs_from')"))
    conn.execute(sa.text('INSERT INTO journal_meta (key, value) VALUES '
                         "('schema_version', :version), "
                         "('runs_from', :runs_from)"),
                 {'version': str(META_VERSION),
                  'runs_from': _runs_from(revision)})


def _atomic(conn):
    """Make the DDL that follows part of ``conn``'s transaction.

    SQLite's Python driver opens a transaction only before a row change,
    so a migration's CREATE statements would each commit on their own and
    a failure midway would leave half a revision.  An explicit BEGIN makes
    the whole upgrade one transaction, and IMMEDIATE makes a second
    process wait for it rather than race it.
    """
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == 'sqlite' and not raw.in_transaction:
        conn.exec_driver_sql('BEGIN IMMEDIATE')


def _upgrade(conn, revision):
    from alembic import command
    _atomic(conn)
    adopted = _pre_alembic(conn)
    if adopted:
        command.stamp(_config(conn), adopted)
    command.upgrade(_config(conn), revision)
    _mark(conn)


def upgrade(engine, revision='head'):
    """Upgrade the journal to ``revision``; (revision before, after)."""
    with _locked(engine) as conn:
        before = current(conn) or _pre_alembic(conn)
        _upgrade(conn, revision)
        return before, current(conn)


def stamp(engine, revision):
    """Record ``revision`` as the journal's, changing nothing else."""
    from alembic import command
    with _locked(engine) as conn:
        _atomic(conn)
        command.stamp(_config(conn), revision, purge=True)
        _mark(conn)
        return current(conn)


def describe(engine):
    """What ``db current`` prints: revision, head, and what it means."""
    with engine.connect() as conn:
        revision = current(conn)
        pre = _pre_alembic(conn)
        meta = _meta(conn)
    known = {r for r, _, _ in history()}
    if revision is None:
        state = ('made before migrations (same as %s); %s adopts it'
                 % (pre, UPGRADE_COMMAND) if pre else 'empty')
    elif revision == head():
        state = 'up to date'
    elif revision in known:
        state = 'behind this release: run %s' % UPGRADE_COMMAND
    else:
        state = 'newer than this release'
    return {'revision': revision, 'head': head(), 'state': state,
            'runs_from': meta.get('runs_from')}


def prepare(engine, upgrade_allowed):
    """At start: leave the journal at a schema this release runs on.

    :param upgrade_allowed: upgrade an existing journal that is behind
        (SQLite); otherwise only an empty database is given a schema.
    :raises SchemaError: naming what to do.
    """
    with _locked(engine) as conn:
        meta = _meta(conn)
        version = meta.get('schema_version')
        if version is not None and int(version) > META_VERSION:
            # The way any release can refuse every older one.
            raise SchemaError('journal schema version %s is newer than '
                              'this release understands (%d)'
                              % (version, META_VERSION))
        revision = current(conn)
        if revision == HEAD:
            return
        if not sa.inspect(conn).has_table('jobs'):
            _upgrade(conn, 'head')
            return
        known = [r for r, _, _ in history()]
        behind = revision is None or revision in known
        if behind and upgrade_allowed:
            _upgrade(conn, 'head')
        elif behind:
            raise SchemaError(
                'the journal schema is at %s and this release needs %s; '
                'upgrade it with %s' % (revision or 'the version made '
                                        'before migrations', HEAD,
                                        UPGRADE_COMMAND))
        elif meta.get('runs_from') not in known:
            raise SchemaError(
                'the journal schema is at %s, newer than this release '
                '(%s), and this release cannot run on it (it needs code '
                'from revision %s on)' % (revision, HEAD,
                                          meta.get('runs_from')))
