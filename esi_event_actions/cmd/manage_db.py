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
"""esi-event-actions-manage db: see, upgrade and stamp the journal's schema."""

from alembic import util as alembic_util
from sqlalchemy import exc as sa_exc

from esi_event_actions import journal
from esi_event_actions import migration


def _schema_engine(conf):
    # A Journal that does not prepare its schema: these commands must
    # work on a journal that a preparing Journal() refuses, which is what
    # they are for.
    return journal.Journal(conf.journal.connection,
                           conf.journal.sqlite_synchronous,
                           prepare=False).engine


def _schema_command(func):
    def run(conf):
        try:
            return func(conf, _schema_engine(conf))
        except (migration.SchemaError, alembic_util.CommandError) as exc:
            print('Cannot do that: %s' % exc)
            return 1
        except sa_exc.DBAPIError as exc:
            # The database's own words; the statement is in the debug log.
            print('The database refused: %s' % str(exc.orig).strip())
            return 1
    run.__doc__ = func.__doc__
    return run


@_schema_command
def do_db_upgrade(conf, engine):
    """Upgrade the journal's schema (the only way, for PostgreSQL)."""
    before, after = migration.upgrade(engine, conf.command.revision)
    if before == after:
        print('Journal schema already at %s' % after)
    else:
        print('Journal schema upgraded from %s to %s'
              % (before or 'nothing', after))
    return 0


@_schema_command
def do_db_current(conf, engine):
    """The journal's revision and whether this release runs on it."""
    state = migration.describe(engine)
    print('%s (%s; this release: %s; runs from %s)' % (
        state['revision'] or 'none', state['state'], state['head'],
        state['runs_from'] or '-'))
    return 0


@_schema_command
def do_db_history(conf, engine):
    """Every revision this release knows, oldest first."""
    with engine.connect() as conn:
        current = migration.current(conn)
    head = migration.head()
    for revision, summary, expand in migration.history():
        marks = [m for m, on in (('current', revision == current),
                                 ('head', revision == head)) if on]
        print('%s%s %s%s' % (
            revision, ' (%s)' % ', '.join(marks) if marks else '',
            summary, '' if not expand else
            ' [expand-only: the previous release runs on it]'))
    return 0


@_schema_command
def do_db_stamp(conf, engine):
    """Record a revision without changing the schema (after a restore)."""
    print('Journal schema stamped %s'
          % migration.stamp(engine, conf.command.revision))
    return 0


def add_db_parsers(subparsers):
    """The ``db`` command and its subcommands."""
    parser = subparsers.add_parser(
        'db', help='See and upgrade the journal\'s schema.')
    db_cmds = parser.add_subparsers(dest='db_command')
    db_cmds.required = True
    upgrade = db_cmds.add_parser(
        'upgrade', help='Upgrade the schema to a revision (default: the '
        'newest this release knows).')
    upgrade.add_argument('revision', nargs='?', default='head')
    upgrade.set_defaults(func=do_db_upgrade)
    db_cmds.add_parser(
        'current', help='Show the journal\'s revision.').set_defaults(
            func=do_db_current)
    db_cmds.add_parser(
        'history', help='List the revisions this release knows.'
    ).set_defaults(func=do_db_history)
    stamp = db_cmds.add_parser(
        'stamp', help='Record a revision as the journal\'s without '
        'changing its schema.')
    stamp.add_argument('revision')
    stamp.set_defaults(func=do_db_stamp)
