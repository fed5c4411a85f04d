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
"""Files and directories the service creates: its user's alone.

The journal holds every lease's values and what the actions printed; no
other local user has any business reading it, whatever the umask the
service was started with (022 on most systems).  Modes are set on what
these functions create, never on what already exists: a directory or a
journal an operator prepared keeps the mode the operator gave it.
"""

import os

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path):
    """Create directory ``path`` and its missing parents, each 0700."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        make_private_dirs(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        # Made by someone else meanwhile: theirs, with their mode.
        return
    # The umask may have taken bits from the owner as well.
    os.chmod(path, DIR_MODE)


def _open(path, flags):
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return os.open(path, flags)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def create_private_file(path):
    """Create an empty file ``path``, 0600, unless it exists.

    SQLite gives a database's -wal and -shm files the mode of the
    database itself: creating the database 0600 first makes them 0600.
    """
    make_private_dirs(os.path.dirname(os.path.abspath(path)))
    os.close(_open(path, os.O_RDONLY))


def open_private(path):
    """``path`` opened to append, created 0600 if it did not exist."""
    make_private_dirs(os.path.dirname(os.path.abspath(path)))
    return os.fdopen(_open(path, os.O_WRONLY | os.O_APPEND), 'a')
