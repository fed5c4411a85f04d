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
"""The journal's schema migrations, and what an instance does at start."""

import datetime
import os
import subprocess
import sys

from alembic import autogenerate
from alembic import migration as alembic_migration
import fixtures
import sqlalchemy as sa

from esi_event_actions import journal
from esi_event_actions.journal import schema
from esi_event_actions import migration
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                        'fixtures')
# What the pre-migration fixture holds (written by that release's code).
V1_COUNTS = {'pending': 11, 'running': 2, 'retry': 2, 'done': 6, 'dead': 3,
             'skipped': 0, 'scheduled': 0, 'cancelled': 0}
# Columns later revisions added, absent from a journal made before them.
ADDED_COLUMNS = {'lease'}


class MigrationTest(base.TestCase):
    """On SQLite; the functional tests run it on PostgreSQL too."""

    #: Whether an instance upgrades an existing journal itself.
    upgrades_at_start = True

    def setUp(self):
        super().setUp()
        self.url = self.journal_url()
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)

    def journal_url(self):
        return 'sqlite:///%s' % os.path.join(self.dir, 'j.sqlite')

    def open(self):
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        return store

    def load_v1(self):
        """The journal the release before migrations wrote."""
        name = 'journal-v1-%s.sql' % self.engine.dialect.name
        with open(os.path.join(FIXTURES, name)) as f:
            script = f.read()
        raw = self.engine.raw_connection()
        try:
            if self.engine.dialect.name == 'sqlite':
                raw.executescript(script)
            else:
                raw.cursor().execute(script)
                raw.commit()
        finally:
            raw.close()

    def meta(self):
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(
                schema.journal_meta.c.key,
                schema.journal_meta.c.value)).all())

    def revision(self):
        with self.engine.connect() as conn:
            return migration.current(conn)

    def snapshot(self):
        """Every row of every table but the schema's own."""
        with self.engine.connect() as conn:
            found = {}
            for table in (schema.jobs, schema.checkpoints,
                          schema.history_seen):
                columns = [c for c in table.c if c.name not in ADDED_COLUMNS]
                found[table.name] = sorted(
                    tuple(row) for row in conn.execute(sa.select(*columns)))
            return found

    def test_head_is_the_newest_migration(self):
        self.assertEqual(migration.scripts().get_current_head(),
                         migration.HEAD)

    def test_a_journal_at_head_opens_without_alembic(self):
        self.open()
        code = ('import sys; from esi_event_actions import journal; '
                'journal.Journal(%r).close(); '
                'print("alembic" in sys.modules)' % self.url)
        out = subprocess.run([sys.executable, '-c', code], check=True,
                             capture_output=True, text=True).stdout
        self.assertEqual('False', out.strip())

    def test_an_empty_database_gets_the_whole_schema(self):
        self.open()
        self.assertEqual(migration.head(), self.revision())
        self.assertEqual({'schema_version': '2', 'runs_from': '0001'},
                         self.meta())

    def test_models_and_migrations_agree(self):
        self.open()
        with self.engine.connect() as conn:
            context = alembic_migration.MigrationContext.configure(
                conn, opts={'compare_type': True})
            diff = autogenerate.compare_metadata(context, schema.metadata)
        self.assertEqual([], diff)

    def test_a_pre_migration_journal_is_adopted_with_every_row(self):
        self.load_v1()
        before = self.snapshot()
        self.assertEqual(('history', 42), before['checkpoints'][0][:2])
        self.assertEqual(24, len(before['jobs']))
        if self.upgrades_at_start:
            store = self.open()
        else:
            exc = self.assertRaises(journal.JournalError, journal.Journal,
                                    self.url)
            self.assertIn(migration.UPGRADE_COMMAND, str(exc))
            self.assertEqual(('0001', migration.head()),
                             migration.upgrade(self.engine))
            store = self.open()
        self.assertEqual(migration.head(), self.revision())
        self.assertEqual(before, self.snapshot())
        self.assertEqual(V1_COUNTS, store.counts())
        self.assertEqual(42, store.checkpoint('history'))
        # The release before migrations refuses version 2: it never runs
        # on a migrated journal.
        self.assertEqual('2', self.meta()['schema_version'])
        # And the adopted journal works: its ids go on, its counts follow.
        new, = store.add([(fake_esi_leap.lease_event('after'), ['r'])])
        self.assertGreater(new.id, max(r[0] for r in before['jobs']))
        claimed = store.claim('me', 50, 60)
        for job in claimed:
            ends.finish(store, job.id, 'me', journal.DONE, cases.OK, 0.1)
        counts = store.counts()
        self.assertEqual(V1_COUNTS['done'] + len(claimed),
                         counts[journal.DONE])
        self.assertEqual(sum(V1_COUNTS.values()) + 1, sum(counts.values()))

    def test_a_journal_behind_this_release(self):
        migration.upgrade(self.engine, '0001')
        store = journal.Journal(self.url, prepare=False)
        self.addCleanup(store.close)
        for state, number in ((journal.DONE, 3), (journal.DEAD, 2),
                              (journal.PENDING, 1)):
            with self.engine.begin() as conn:
                for i in range(number):
                    conn.execute(schema.jobs.insert().values(
                        event_id='%s-%d' % (state, i), rule='r',
                        event_type='t', event='{}', state=state,
                        attempts=1, created_at=journal.utcnow(),
                        event_time=journal.utcnow()))
        if self.upgrades_at_start:
            self.open()
        else:
            exc = self.assertRaises(journal.JournalError, journal.Journal,
                                    self.url)
            self.assertIn('at 0001 and this release needs %s'
                          % migration.head(), str(exc))
            self.assertIn(migration.UPGRADE_COMMAND, str(exc))
            migration.upgrade(self.engine)
        self.assertEqual(migration.head(), self.revision())
        # The migration counted what was there before its triggers.
        self.assertEqual((1, 3, 2), tuple(
            self.open().counts()[s] for s in (
                journal.PENDING, journal.DONE, journal.DEAD)))

    def test_a_failed_revision_leaves_nothing_behind(self):
        migration.upgrade(self.engine, '0001')

        def broken(op, final):
            raise RuntimeError('the disk is full')
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.migrations.counts.create_triggers', broken))
        self.assertRaises(RuntimeError, migration.upgrade, self.engine)
        # 0002 created its table before it failed: rolled back with it.
        self.assertEqual('0001', self.revision())
        self.assertFalse(sa.inspect(self.engine).has_table('final_counts'))

    def _newer(self, runs_from):
        self.open()
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version "
                                 "SET version_num = '0099'"))
            conn.execute(sa.text("UPDATE journal_meta SET value = :v "
                                 "WHERE key = 'runs_from'"),
                         {'v': runs_from})

    def test_a_newer_schema_this_release_can_run_on(self):
        # A rolling upgrade: the next release added what this one ignores.
        self._newer('0003')
        self.assertEqual([], self.open().rows())
        self.assertEqual('0099', self.revision())

    def test_a_newer_schema_this_release_cannot_run_on(self):
        self._newer('0099')
        exc = self.assertRaises(journal.JournalError, journal.Journal,
                                self.url)
        self.assertIn('newer than this release', str(exc))
        self.assertEqual('0099', self.revision())

    def test_final_counts_follow_every_change(self):
        store = self.open()
        store.add([(fake_esi_leap.lease_event('m%d' % i, 'n%d' % i),
                    ['a', 'b']) for i in range(6)])
        claimed = store.claim('me', 20, 60)
        states = [journal.DONE] * 6 + [journal.DEAD] * 4 + [journal.RETRY] * 2
        for job, state in zip(claimed, states):
            ends.finish(store, job.id, 'me', state, cases.OK, 0.1,
                        next_attempt_at=journal.utcnow())
        self.assertEqual(self.counted(), store.counts())
        store.retry(all_dead=True)
        self.assertEqual(self.counted(), store.counts())
        store.purge(journal.utcnow() + datetime.timedelta(days=1))
        self.assertEqual(self.counted(), store.counts())
        self.assertEqual(0, store.counts()[journal.DONE])

    def counted(self):
        """The counts by a scan of the whole table."""
        with self.engine.connect() as conn:
            found = dict(conn.execute(sa.select(
                schema.jobs.c.state, sa.func.count()).group_by(
                    schema.jobs.c.state)).all())
        return {state: found.get(state, 0) for state in journal.STATES}


class HistoryCostTest(cases.JournalTestCase):
    """What a scrape costs must not grow with the done jobs kept."""

    def done_jobs(self, number, start=0):
        now = journal.utcnow()
        with self.journal.engine.begin() as conn:
            conn.execute(schema.jobs.insert(), [
                dict(event_id='old-%d' % i, rule='r', event_type='t',
                     event='{}', state=journal.DONE, attempts=1,
                     created_at=now, event_time=now, finished_at=now)
                for i in range(start, start + number)])

    def steps(self):
        """SQLite virtual machine steps taken by counts() and status()."""
        taken = [0]

        def step():
            taken[0] += 1
            return 0
        with self.journal.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.set_progress_handler(step, 1)
            try:
                self.journal.status(conn)
            finally:
                raw.set_progress_handler(None, 1)
        return taken[0]

    def test_counts_and_status_cost_the_unfinished_jobs_only(self):
        self.add(('a1', 'A'), ('b1', 'B'))
        self.done_jobs(100)
        small = self.steps()
        self.done_jobs(5000, start=100)
        self.assertEqual(5100, self.journal.counts()[journal.DONE])
        # A scan would take tens of thousands more steps.
        self.assertLess(abs(self.steps() - small), 50)
        # Unfinished jobs do cost: the check can see a scan.
        self.add(*[('c%d' % i, 'C') for i in range(500)])
        self.assertGreater(self.steps() - small, 500)
