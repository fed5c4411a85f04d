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
"""The journal's claims on a real PostgreSQL, as shared by instances."""

import threading
import time

from esi_event_actions import journal
from esi_event_actions.tests.functional import postgres
from esi_event_actions.tests.unit import test_journal


class PostgresMixin:

    def journal_url(self):
        return self.useFixture(postgres.PostgresFixture()).url


class PostgresJournalTest(PostgresMixin, test_journal.JournalTest):
    """Every journal test, on PostgreSQL."""

    def test_wal_mode(self):
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
                        store.finish(job.id, owner, journal.DONE,
                                     test_journal.OK, 0.0)
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


class PostgresWorkerPoolTest(PostgresMixin, test_journal.WorkerPoolTest):
    """The worker pool's tests, on PostgreSQL."""
