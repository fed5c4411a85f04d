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
"""What an action hands back for its lease's context, read with bounds.

A script writes its updates to a file (:class:`OutFile`), a webhook's
receiver answers them in a field of its JSON response (:func:`field`), a
playbook gives them with ``set_stats`` (:func:`checked`).  Whatever wrote
them may be hostile or broken: megabytes, invalid UTF-8, NUL bytes, NaN,
nesting a thousand levels deep.  Each is read within :data:`READ_LIMIT`
bytes and refused with :class:`ContextOutError`, which
:func:`with_updates` turns into a FAILURE that says why.

The bound is not the journal's ``[journal] context_max_bytes``: the
actions do not read the service's configuration, and indented JSON may be
larger than the compact text the journal stores.  The worker checks the
merged context against that limit when the attempt ends.
"""

import json
import os
import shutil
import stat
import tempfile

from esi_event_actions.actions import base

#: Bytes of updates read, at most: the largest ``[journal]
#: context_max_bytes`` can be.  One more byte is read to tell a file that
#: is larger.
READ_LIMIT = 1048576

#: Levels of objects and lists, at most.  Deeper nesting has no use in a
#: context and would take Python's recursion limit in the JSON encoder.
DEPTH_LIMIT = 32

#: Name of the environment variable holding the path of a script's file.
ENV = 'ESI_CONTEXT_OUT'

_FILE_NAME = 'context.json'


class ContextOutError(ValueError):
    """Updates that cannot be taken: too large, not JSON, not an object."""


def _refuse_constant(name):
    # json.loads takes NaN and Infinity, which no strict JSON holds.
    raise ValueError('%s is not JSON' % name)


def _depth(value):
    """How deeply ``value`` nests objects and lists (a scalar is 0)."""
    deepest, level = 0, [(value, 0)]
    while level:
        item, depth = level.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            if deepest > DEPTH_LIMIT:
                break
            level.extend((child, depth + 1) for child in item)
    return deepest


def checked(value, source):
    """``value`` as updates: a dict (maybe empty), or None for none.

    :param source: what gave them, for the error (``$ESI_CONTEXT_OUT``).
    :raises ContextOutError: not a JSON object of at most
        :data:`READ_LIMIT` bytes and :data:`DEPTH_LIMIT` levels.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ContextOutError('%s is not a JSON object but %s'
                              % (source, _kind(value)))
    if _depth(value) > DEPTH_LIMIT:
        raise ContextOutError('%s nests deeper than %d levels'
                              % (source, DEPTH_LIMIT))
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ContextOutError('%s is not JSON: %s' % (source, exc))
    if size > READ_LIMIT:
        raise ContextOutError('%s is over %d bytes' % (source, READ_LIMIT))
    return value


def _kind(value):
    return {list: 'a list', str: 'a string', bool: 'a boolean'}.get(
        type(value), 'a number' if isinstance(value, (int, float))
        else type(value).__name__)


def parse(data, source):
    """Updates from JSON text (bytes): None when there is none.

    Empty or blank text is no updates.

    :raises ContextOutError: over :data:`READ_LIMIT` bytes, not UTF-8,
        not strict JSON, or not an object (see :func:`checked`).
    """
    if len(data) > READ_LIMIT:
        raise ContextOutError('%s holds more than %d bytes'
                              % (source, READ_LIMIT))
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ContextOutError('%s is not UTF-8 (byte %d)'
                              % (source, exc.start))
    if not text.strip():
        return None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ContextOutError('%s nests deeper than %d levels'
                              % (source, DEPTH_LIMIT))
    except ValueError as exc:
        # The message gives a position, never the text.
        raise ContextOutError('%s is not JSON: %s' % (source, exc))
    return checked(value, source)


def field(data, name, source):
    """The updates in field ``name`` of a JSON object (bytes).

    Empty text, or an object without the field (or with null), is no
    updates.

    :raises ContextOutError: see :func:`parse`.
    """
    document = parse(data, source)
    if document is None:
        return None
    return checked(document.get(name), '%s field %s' % (source, name))


def with_updates(result, read):
    """``result`` with the updates ``read()`` returns as its context.

    Updates that cannot be taken make the attempt a FAILURE, whatever its
    status was: what the action made is then unknown, and another attempt
    would not know it either.
    """
    try:
        updates = read()
    except ContextOutError as exc:
        detail = 'context not written: %s' % exc
        if result.detail:
            detail += ' (%s)' % result.detail
        result.status, result.detail, result.context = (
            base.FAILURE, detail, None)
        return result
    result.context = updates or None
    return result


class OutFile:
    """A fresh empty file a process writes its context updates to.

    It is alone in a directory of its own, private to the service's user
    (0700; the file 0600), made for one attempt and removed with what it
    holds when the attempt ends.  The process may write the file, or
    write another file beside it and rename it over the first (so that a
    process killed midway leaves no half of an object).
    """

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='esi-event-actions-context-')
        self.path = os.path.join(self.dir, _FILE_NAME)
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT |
                             os.O_EXCL | os.O_CLOEXEC, 0o600))
        except OSError:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def read(self, source='$' + ENV):
        """The updates written there: a dict, or None for none.

        A file removed is no updates.  Never more than
        :data:`READ_LIMIT` + 1 bytes are read; neither a link nor a FIFO
        put in its place is followed or waited on.

        :raises ContextOutError: see :func:`parse`; or not a regular
            file.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW |
                         os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ContextOutError('%s cannot be read: %s'
                                  % (source, exc.strerror))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ContextOutError('%s is not a regular file' % source)
            data = _read(fd, READ_LIMIT + 1)
        except OSError as exc:
            raise ContextOutError('%s cannot be read: %s'
                                  % (source, exc.strerror))
        finally:
            os.close(fd)
        return parse(data, source)


def _read(fd, limit):
    """At most ``limit`` bytes of ``fd``, from its start."""
    chunks, size = [], 0
    while size < limit:
        chunk = os.pread(fd, limit - size, size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b''.join(chunks)
