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
"""The modes of the files and directories the service creates."""

import os
import stat

import fixtures

from esi_event_actions import event
from esi_event_actions import fileutils
from esi_event_actions import journal
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class UmaskFixture(fixtures.Fixture):
    """The process's umask set to ``umask`` for the test."""

    def __init__(self, umask):
        super().__init__()
        self.umask = umask

    def _setUp(self):
        self.addCleanup(os.umask, os.umask(self.umask))


class FileutilsTest(base.TestCase):

    def test_directories_and_their_missing_parents_are_private(self):
        for umask in (0o022, 0o000, 0o277):
            self.useFixture(UmaskFixture(umask))
            top = os.path.join(self.dir, 'u%o' % umask)
            fileutils.make_private_dirs(os.path.join(top, 'a', 'b'))
            self.assertEqual([0o700] * 3, [
                mode(os.path.join(top, *parts))
                for parts in ((), ('a',), ('a', 'b'))], oct(umask))

    def test_files_are_private(self):
        for umask in (0o022, 0o000, 0o277):
            self.useFixture(UmaskFixture(umask))
            path = os.path.join(self.dir, 'f%o' % umask)
            fileutils.create_private_file(path)
            self.assertEqual(0o600, mode(path), oct(umask))
            with fileutils.open_private(path + '.lock') as f:
                self.assertEqual(0o600, mode(f.name), oct(umask))

    def test_what_exists_is_left_as_it_is(self):
        # An operator's choice (a group that may read the journal, a
        # shared parent directory) is not the service's to undo.
        self.useFixture(UmaskFixture(0o022))
        path = self.write('journal.sqlite', 'data')
        os.chmod(path, 0o640)
        os.chmod(self.dir, 0o750)
        fileutils.make_private_dirs(self.dir)
        fileutils.create_private_file(path)
        with fileutils.open_private(path) as f:
            f.write('more')
        self.assertEqual((0o750, 0o640), (mode(self.dir), mode(path)))
        with open(path) as f:
            self.assertEqual('datamore', f.read())


class JournalFilesTest(base.TestCase):
    """The SQLite journal, its WAL files, lock and directory."""

    def test_private_under_umask_022(self):
        self.useFixture(UmaskFixture(0o022))
        state = os.path.join(self.dir, 'state', 'esi-event-actions')
        db = os.path.join(state, 'journal.sqlite')
        store = journal.Journal('sqlite:///' + db)
        self.addCleanup(store.close)
        lock = journal.lock_instance('sqlite:///' + db)
        self.addCleanup(lock.close)
        # The poller's checkpoint is a row of this journal, not a file.
        store.add([(event.Event('esi_leap.lease.fulfill.end',
                                fake_esi_leap.lease_data(), id='e1'), ['r'])],
                  checkpoint=journal.Checkpoint('history', 7))
        with store.engine.connect():
            # The WAL files exist while a connection is open.
            self.assertEqual(
                {'journal.sqlite': 0o600, 'journal.sqlite-wal': 0o600,
                 'journal.sqlite-shm': 0o600, 'journal.sqlite.lock': 0o600},
                {name: mode(os.path.join(state, name))
                 for name in os.listdir(state)})
        self.assertEqual((0o700, 0o700),
                         (mode(state), mode(os.path.dirname(state))))
