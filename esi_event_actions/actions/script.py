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
"""Run an executable with values from the event, never through a shell."""

import json
import os
import select
import signal
import subprocess
import tempfile

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions.conf import types

LOG = logging.getLogger(__name__)

_STDERR_LINES = 5

#: Bytes of each of standard output and standard error read back: more
#: than the journal keeps at the default ``[worker] output_limit``.
_READ_LIMIT = 64 * 1024

#: poll() takes its timeout as a C int of milliseconds (some 24 days).
_MAX_POLL_MS = 2 ** 31 - 1


class ScriptAction(base.Action):
    """Run ``[script, *params]`` with the event as JSON on standard input.

    Each param is the value at one ``script_params`` dot path: a string as
    it is, a null or missing value as an empty argument, anything else as
    its JSON text.  The environment is the service's, as it was when the
    rule was loaded, plus ESI_EVENT_TYPE, ESI_EVENT_ID, ESI_RULE and
    ESI_ATTEMPT.  Exit status 0 is success.

    Standard input, output and error are anonymous files (memfds), not
    pipes: the event is written before the script starts and what it
    printed is read once it has exited, so no Python loop pumps pipes while
    it runs, and a background process that keeps its output open cannot
    hold the job.  Only the first 64 KiB of each of standard output and
    standard error are read back, more than the journal keeps at the
    default ``[worker] output_limit``; the rest is discarded with the file.
    """

    required = ('script',)
    opts = [
        cfg.Opt('script', type=types.String(),
                help='Executable to run. A relative path is relative to '
                     'the directory of the file that sets it.'),
        cfg.Opt('script_params', type=types.List(item_type=types.String()),
                default=[],
                help='Dot paths in the lease payload whose values are '
                     'passed as arguments, in order.'),
        cfg.Opt('script_timeout', type=types.Integer(min=1), default=600,
                help='Seconds the script may run before it and every '
                     'process it started are killed.'),
    ]

    def __init__(self, rule):
        super().__init__(rule)
        self.path = None
        # Copied once: reading os.environ decodes every variable anew.
        self._environ = dict(os.environ)

    def validate(self):
        path = self.resolve_path('script')
        if not os.path.isfile(path):
            raise self.error('script', 'no such file: %s' % path)
        if not os.access(path, os.X_OK):
            raise self.error('script', 'not executable: %s' % path)
        self.path = path

    def param_paths(self):
        return list(self.options.script_params or [])

    def describe(self):
        return 'script %s' % ' '.join([self.path] + [
            '<%s>' % p for p in self.param_paths()])

    def argv(self, params):
        return [self.path] + list(params)

    def environ(self, event, attempt):
        env = self._environ.copy()
        env.update(ESI_EVENT_TYPE=event.event_type,
                   ESI_EVENT_ID=event.id,
                   ESI_RULE=self.context.name,
                   ESI_ATTEMPT=str(attempt))
        return env

    @staticmethod
    def stdin(event):
        return json.dumps(event.to_dict(), sort_keys=True).encode()

    def preview(self, event, params, attempt=1):
        env = self.environ(event, attempt)
        return {'argv': self.argv(params),
                'environment': {k: v for k, v in env.items()
                                if k.startswith('ESI_')},
                'stdin': self.stdin(event).decode(),
                'timeout': self.options.script_timeout}

    def run(self, event, params, attempt=1):
        files = []
        try:
            try:
                files = _standard_files(self.stdin(event))
                proc = subprocess.Popen(
                    self.argv(params), stdin=files[0], stdout=files[1],
                    stderr=files[2], env=self.environ(event, attempt),
                    close_fds=True, start_new_session=True)
            except (OSError, ValueError) as exc:
                # ValueError: an argument with a NUL byte cannot be passed.
                return base.Result(base.FAILURE, 'cannot run %s: %s'
                                   % (self.path, exc))
            return self._outcome(proc, files[1], files[2])
        finally:
            _close(files)

    def _outcome(self, proc, out_fd, err_fd):
        timeout = self.options.script_timeout
        if not _wait(proc, timeout):
            self._kill_group(proc)
            proc.wait()
            return base.Result(
                base.RETRY, 'timed out after %ss' % timeout,
                output=self._text(_head(out_fd)))
        out = _head(out_fd)
        if proc.returncode == 0:
            return base.Result(base.SUCCESS, 'exit status 0', 0,
                               self._text(out))
        err = _head(err_fd)
        lines = self._text(err).splitlines()[:_STDERR_LINES]
        detail = 'exit status %d' % proc.returncode
        if lines:
            detail += ': ' + ' | '.join(lines)
        return base.Result(base.RETRY, detail, proc.returncode,
                           self._text(out + err))

    @staticmethod
    def _kill_group(proc):
        # The script leads its own session, so its group holds everything it
        # started; killing only the script would orphan its children.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @staticmethod
    def _text(data):
        return data.decode('utf-8', 'replace') if data else ''


def _anonymous_file():
    """The descriptor of a new empty file with no name.

    A memfd costs one system call and never touches a disk; without one
    (Linux before 3.17, a C library without memfd_create) an unlinked
    temporary file does the same.
    """
    try:
        return os.memfd_create('esi-event-actions-script')
    except (AttributeError, OSError):
        pass
    fd, path = tempfile.mkstemp(prefix='esi-event-actions-script-')
    os.unlink(path)
    return fd


def _standard_files(data):
    """[stdin holding ``data``, empty stdout, empty stderr] descriptors."""
    fds = []
    try:
        for _ in range(3):
            fds.append(_anonymous_file())
        _write_all(fds[0], data)
    except OSError:
        _close(fds)
        raise
    return fds


def _write_all(fd, data):
    # pwrite leaves the file offset, which the script inherits, at 0.
    view, offset = memoryview(data), 0
    while offset < len(view):
        offset += os.pwrite(fd, view[offset:], offset)


def _head(fd):
    return os.pread(fd, _READ_LIMIT, 0)


def _close(fds):
    for fd in fds:
        os.close(fd)


def _wait(proc, timeout):
    """Whether ``proc`` exited, and was reaped, within ``timeout`` seconds.

    A pidfd lets one blocking poll() wait for the exit; without one
    (Linux before 5.3, other systems) Popen.wait sleeps and polls.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        exited = _poll_readable(pidfd, timeout * 1000)
    finally:
        os.close(pidfd)
    if exited:
        proc.wait()
    return exited


def _poll_readable(fd, timeout_ms):
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    # Python retries an interrupted poll() for the time left, so an empty
    # answer means the whole step has passed.
    while timeout_ms > 0:
        step = min(timeout_ms, _MAX_POLL_MS)
        if poller.poll(step):
            return True
        timeout_ms -= step
    return False
