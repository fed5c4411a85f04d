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
"""The journal's claims on a real PostgreSQL, as shared by instances.

The unit tests of the journal and of what runs on it take their database
from ``journal_url()``.  :data:`ON_POSTGRES` names those that run here
again, each on a database of its own on the shared private PostgreSQL,
with what changes where instances share the journal.  They are named,
not imported: no test module imports another (``unit/test_layout.py``).
"""

import collections
import importlib
import threading
import time

import sqlalchemy as sa

from esi_event_actions import event
from esi_event_actions import journal
from esi_event_actions.journal import schema
from esi_event_actions import migration
from esi_event_actions import policies
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import postgres


UNIT = 'esi_event_actions.tests.unit.'


class PostgresMixin:
    """A journal of its own on the shared private PostgreSQL."""

    def journal_url(self):
        return self.useFixture(postgres.PostgresFixture()).url


class SharedJournal:
    """What the journal tests check otherwise on a shared journal."""

    def test_wal_mode(self):
        # No WAL mode to check on PostgreSQL; what the SQLite test's mode
        # guards (readers beside the writer) it has by design.
        self.assertTrue(self.journal.shared)

    def test_one_service_instance_per_sqlite_journal(self):
        # Shared by design: every instance may claim from it.
        self.assertIsNone(journal.lock_instance(self.url))

    def test_recover_after_a_crash(self):
        # A shared journal never assumes a running job is orphaned: only
        # an expired lease hands it to another instance.
        self.add(('a1', 'A'))
        self.journal.claim('crashed', 1, 60)
        self.assertEqual(0, self.open().recover())
        self.assertEqual([], self.claim(owner='other'))

    def test_concurrent_claims_never_share_a_job_or_a_node(self):
        self.add(*[('%s-%d' % (n, i), n)
                   for i in range(30) for n in 'ABCDEF'])
        claimed, lock, errors = [], threading.Lock(), []

        def instance(owner):
            store = journal.Journal(self.url)
            try:
                while True:
                    jobs = store.claim(owner, 3, 60)
                    if not jobs:
                        with lock:
                            if len(claimed) == 180:
                                return
                        time.sleep(0.01)
                        continue
                    with lock:
                        running = {j.node for _, j in claimed
                                   if j.state == journal.RUNNING}
                        for job in jobs:
                            if job.node in running:
                                errors.append(job.event.id)
                            running.add(job.node)
                            claimed.append((owner, job))
                    for job in jobs:
                        with lock:
                            job.state = journal.DONE
                        ends.finish(
                            store, job.id, owner, journal.DONE, cases.OK, 0.0)
            finally:
                store.close()
        threads = [threading.Thread(target=instance, args=('i%d' % n,))
                   for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertEqual([], errors)
        ids = [job.id for _, job in claimed]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(180, self.journal.counts()[journal.DONE])
        for node in 'ABCDEF':
            self.assertEqual(['%s-%d' % (node, i) for i in range(30)],
                             [j.event.id for _, j in claimed
                              if j.node == node])


class SharedMigrations:
    """The schema's migrations where instances share it."""

    # Only esi-event-actions-manage db upgrade changes a shared journal.
    upgrades_at_start = False

    def test_instances_starting_together_make_one_schema(self):
        errors = []

        def start():
            try:
                journal.Journal(self.url).close()
            except Exception as exc:
                errors.append(exc)
        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(migration.head(), self.revision())


class PostgresCountsTest(PostgresMixin, cases.JournalTestCase):
    """The counts' triggers under instances recording ends at once."""

    def test_ends_recorded_in_crossed_orders_do_not_deadlock(self):
        specs = [('m%d' % i, 'n%d' % i) for i in range(4)]
        ids = [job.id for job in self.add(*specs)]
        engines = [sa.create_engine(self.url) for _ in range(2)]
        conns = [engine.connect() for engine in engines]
        for engine, conn in zip(engines, conns):
            self.addCleanup(engine.dispose)
            self.addCleanup(conn.close)
            conn.begin()
            # A test that fails must not hang.
            conn.execute(sa.text("SET lock_timeout = '10s'"))
        update = sa.text('UPDATE jobs SET state = :s WHERE id = :i')
        outcome = {}

        def run(name, conn, *changes):
            try:
                for job_id, state in changes:
                    conn.execute(update, {'i': job_id, 's': state})
                conn.commit()
                outcome[name] = 'ok'
            except Exception as exc:
                conn.rollback()
                outcome[name] = type(getattr(exc, 'orig', exc)).__name__
        # One instance records done then dead, the other dead then done.
        conns[0].execute(update, {'i': ids[0], 's': journal.DONE})
        other = threading.Thread(target=run, args=(
            'b', conns[1], (ids[1], journal.DEAD), (ids[3], journal.DONE)))
        other.start()
        time.sleep(0.5)
        run('a', conns[0], (ids[2], journal.DEAD))
        other.join(30)
        self.assertEqual({'a': 'ok', 'b': 'ok'}, outcome)
        counts = self.journal.counts()
        self.assertEqual((2, 2), (counts[journal.DONE], counts[journal.DEAD]))


class SharedOncePer:
    """once_per where instances add jobs at once."""

    def test_instances_adding_one_value_at_once_run_it_once(self):
        lease = fake_esi_leap.lease_data()
        barrier = threading.Barrier(4)
        errors = []

        def instance(number):
            store = journal.Journal(self.url)
            try:
                barrier.wait(10)
                for i in range(5):
                    store.add([(event.Event('t', lease, id='i%d-%d' % (
                        number, i)), ['page'])],
                        claim=journal.Claim('i%d' % number),
                        once={'page': policies.OncePer('uuid', 0)})
            except Exception as exc:
                errors.append(exc)
            finally:
                store.close()
        threads = [threading.Thread(target=instance, args=(n,))
                   for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        counts = self.journal.counts()
        self.assertEqual(19, counts[journal.SKIPPED])
        self.assertEqual(1, counts[journal.RUNNING] + counts[journal.PENDING])


class SharedOnCount:
    """on_count where instances add errors of one lease at once."""

    def test_two_instances_adding_the_3rd_and_4th_error_fire_one(self):
        error = 'esi_leap.lease.fulfill.error'
        counts = {'third': policies.OnCount(3, error)}
        # Most leases name no node, so that only the lease's own lock
        # keeps their adds apart: without it, an add whose job has the
        # lower id may count after the other's, and both act (a few of
        # each hundred leases, when this was written).
        leases = [fake_esi_leap.lease_data() for _ in range(10)] + [
            dict(fake_esi_leap.lease_data(), resource_uuid=None,
                 node_uuid=None) for _ in range(150)]
        self.journal.add([(event.Event(error, lease, id='%s-%d' % (
            lease['uuid'], number)), ['third'])
            for lease in leases for number in (1, 2)], counts=counts)
        barrier = threading.Barrier(2)
        errors = []

        def instance(number):
            store = journal.Journal(self.url)
            try:
                for lease in leases:
                    barrier.wait(10)
                    store.add([(event.Event(error, lease, id='%s-%d' % (
                        lease['uuid'], number)), ['third'])],
                        claim=journal.Claim('i%d' % number), counts=counts)
            except Exception as exc:
                errors.append(exc)
                barrier.abort()
            finally:
                store.close()
        threads = [threading.Thread(target=instance, args=(n,))
                   for n in (3, 4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        acted = collections.Counter(
            event.Event.from_json(row['event']).lease
            for row in self.journal.rows() if row['state'] != journal.SKIPPED)
        self.assertEqual({lease['uuid']: 1 for lease in leases}, acted)
        self.assertEqual(3 * len(leases),
                         self.journal.counts()[journal.SKIPPED])


class PostgresHistoryCostTest(PostgresMixin, cases.JournalTestCase):
    """What a scrape reads on PostgreSQL, from the executor's own counts."""

    def test_counts_and_status_read_the_unfinished_jobs_only(self):
        self.add(('a1', 'A'), ('b1', 'B'))
        now = journal.utcnow()
        with self.journal.engine.begin() as conn:
            conn.execute(schema.jobs.insert(), [
                dict(event_id='old-%d' % i, rule='r', event_type='t',
                     event='{}', state=journal.DONE, attempts=1,
                     created_at=now, event_time=now)
                for i in range(5000)])
            conn.execute(sa.text('ANALYZE jobs'))
        statements = []

        def record(conn, cursor, statement, parameters, context, many):
            statements.append((statement, parameters))
        sa.event.listen(self.journal.engine, 'before_cursor_execute', record)
        try:
            status = self.journal.status()
        finally:
            sa.event.remove(self.journal.engine, 'before_cursor_execute',
                            record)
        self.assertEqual(5000, status['jobs'][journal.DONE])
        with self.journal.engine.connect() as conn:
            for statement, parameters in statements:
                plan = conn.exec_driver_sql(
                    'EXPLAIN (ANALYZE, FORMAT JSON) ' + statement,
                    parameters).scalar()
                read = _rows_read(plan[0]['Plan'])
                self.assertLess(read, 100, (statement, plan))


# (unit test class, what changes on a shared journal, docstring): each
# runs here as Postgres<class>.
ON_POSTGRES = (
    ('test_journal.JournalTest', SharedJournal,
     'Every journal test, on PostgreSQL.'),
    ('test_hostile_values.JournalValuesTest', None,
     'Hostile values on the database whose text refuses a NUL.'),
    ('test_hostile_values.HostileLesseeTest', None,
     'A NUL or a lone surrogate from a lessee stops nothing.'),
    ('test_hostile_values.RefusedEventTest', None,
     'An event the journal refuses is set aside, on PostgreSQL.'),
    ('test_hostile_properties.HostilePayloadPropertyTest', None,
     'The drawn payloads again, on the database that refuses a NUL.'),
    ('test_workers.WorkerPoolTest', None,
     "The worker pool's tests, on PostgreSQL."),
    ('test_migration.MigrationTest', SharedMigrations,
     "The schema's migrations on PostgreSQL, where instances share it."),
    ('test_policies.OncePerTest', SharedOncePer,
     'once_per on PostgreSQL, where instances add jobs at once.'),
    ('test_on_count.OnCountTest', SharedOnCount,
     'on_count on PostgreSQL, where instances add jobs at once.'),
    ('test_policies.LimitedPoolTest', None,
     "max_concurrency's slots on PostgreSQL."),
)


def on_postgres(name, shared, doc):
    """The unit test class ``name``, on PostgreSQL, changed by ``shared``."""
    module, _, cls = name.rpartition('.')
    case = getattr(importlib.import_module(UNIT + module), cls)
    bases = (PostgresMixin, case) if shared is None else (
        shared, PostgresMixin, case)
    qualname = 'Postgres' + cls
    # Named as a class written here would be: the tests' ids do not change.
    return type(qualname, bases, {'__module__': __name__,
                                  '__qualname__': qualname, '__doc__': doc})


def load_tests(loader, tests, pattern):
    for name, shared, doc in ON_POSTGRES:
        tests.addTests(loader.loadTestsFromTestCase(
            on_postgres(name, shared, doc)))
    return tests


def _rows_read(node):
    """Rows every scan of a plan read (or removed by its filter)."""
    own = 0
    if 'Scan' in node['Node Type']:
        own = (node['Actual Rows'] + node.get('Rows Removed by Filter', 0)
               ) * node.get('Actual Loops', 1)
    return own + sum(_rows_read(child) for child in node.get('Plans', ()))
