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

import codecs
import math
import os
import select
import subprocess
import tempfile
import time

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions.actions import context_io
from esi_event_actions.actions import environ
from esi_event_actions.actions import proctree
from esi_event_actions import optiontypes as types
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

_STDERR_LINES = 5

#: Bytes asked of a pipe in one read.
_CHUNK = 64 * 1024

#: Bytes read from each pipe, at most, once the script has exited: a
#: process it left in the background may go on writing for ever.
_DRAIN_LIMIT = 1024 * 1024

#: Linux's bound on one argument (MAX_ARG_STRLEN), less its final NUL.
MAX_ARG_BYTES = 128 * 1024 - 1

#: The default of ``script_arg_limit``.
DEFAULT_ARG_LIMIT = 64 * 1024

#: poll() takes its timeout as a C int of milliseconds (some 24 days).
_MAX_POLL_MS = 2 ** 31 - 1

#: How often the exit of the script is checked without a pidfd.
_NO_PIDFD_POLL_MS = 50


class ScriptAction(base.Action):
    """Run ``[script, *params]`` with the event as JSON on standard input.

    Each param is the value at one ``script_params`` dot path: a string as
    it is, a null or missing value as an empty argument, anything else as
    its JSON text; one longer than ``script_arg_limit`` bytes is cut (on
    a character boundary) and its position listed in
    ESI_TRUNCATED_PARAMS.  The environment is the allow-list of
    :mod:`esi_event_actions.actions.environ`, as it was when the rule was
    loaded, plus ESI_EVENT_TYPE, ESI_EVENT_ID, ESI_RULE, ESI_ATTEMPT,
    ESI_TRUNCATED_PARAMS and ESI_CONTEXT_OUT.  Exit status 0 is success.

    ESI_CONTEXT_OUT names a fresh empty file, private to the attempt
    (:class:`context_io.OutFile`): a JSON object the script writes there
    is the lease's context updates, read once it has exited, whatever its
    exit status, and one that cannot be read fails the attempt.

    Standard input is an anonymous file (a memfd) holding the event.
    Standard output and error are pipes, read while the script runs: the
    first ``[worker] output_limit`` bytes of each are kept, the rest is
    read and dropped, so a script printing gigabytes costs no memory and
    never blocks on a full pipe.  Once the script has exited what is
    left in the pipes is read without waiting, so a background process
    that keeps them open cannot hold the job.  A timeout kills the script
    and every process descending from it, even those that left its
    session.
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
        cfg.Opt('script_timeout', type=types.Integer(min=1, max=types.DAY),
                default=600,
                help='Seconds the script may run before it and every '
                     'process it started are killed.'),
        cfg.Opt('script_arg_limit',
                type=types.Integer(min=1, max=MAX_ARG_BYTES),
                default=DEFAULT_ARG_LIMIT,
                help='Bytes of one argument passed to the script, at most. '
                     'A longer value is cut on a character boundary and '
                     'its position listed in ESI_TRUNCATED_PARAMS; the '
                     'whole value is on standard input.'),
        environ.OPT,
    ]

    def __init__(self, rule):
        super().__init__(rule)
        self.path = None
        self._environ = {}

    def validate(self):
        path = self.resolve_path('script')
        if not os.path.isfile(path):
            raise self.error('script', 'no such file: %s' % path)
        if not os.access(path, os.X_OK):
            raise self.error('script', 'not executable: %s' % path)
        self.path = path
        names = self.options.environment or []
        try:
            environ.check(names)
        except ValueError as exc:
            raise self.error('environment', str(exc))
        # Copied once: reading os.environ decodes every variable anew.
        self._environ = environ.allowed(names)
        self._check_arg_budget()

    def _check_arg_budget(self):
        # Every param at its bound must still fit in what exec() takes,
        # or a lessee filling them all would make the script never run.
        budget = _arg_budget()
        count = len(self.param_paths())
        if count * self.options.script_arg_limit > budget:
            raise self.error('script_arg_limit', '%d params of %d bytes '
                             'may exceed the %d bytes this system leaves '
                             'for arguments: lower script_arg_limit'
                             % (count, self.options.script_arg_limit,
                                budget))

    def param_paths(self):
        return list(self.options.script_params or [])

    def describe(self):
        return 'script %s' % ' '.join([self.path] + [
            '<%s>' % p for p in self.param_paths()])

    def argv(self, params):
        return [self.path] + list(params)

    def arguments(self, params):
        """The argument list as bytes, and the params cut to fit.

        :returns: (argv, 1-based positions of the params cut).
        :raises ValueError: a value holds a NUL byte, which no argument
            can carry.
        """
        limit = self.options.script_arg_limit
        argv, cut = [os.fsencode(self.path)], []
        for number, (path, value) in enumerate(
                zip(self.param_paths(), params), 1):
            if '\0' in value:
                raise ValueError('argument %d (%s) holds a NUL byte, which '
                                 'no argument can carry' % (number, path))
            data, whole = _bounded(value, limit)
            argv.append(data)
            if not whole:
                cut.append(number)
        return argv, cut

    def environ(self, event, attempt, cut=(), context_out=''):
        env = self._environ.copy()
        env.update(ESI_EVENT_TYPE=event.event_type,
                   ESI_EVENT_ID=event.id,
                   ESI_RULE=self.context.name,
                   ESI_ATTEMPT=str(attempt),
                   ESI_TRUNCATED_PARAMS=','.join(str(n) for n in cut),
                   ESI_CONTEXT_OUT=context_out)
        return env

    @staticmethod
    def stdin(event):
        return safetext.dumps(event.to_dict(), sort_keys=True).encode()

    def preview(self, event, params, attempt=1):
        try:
            args, cut = self.arguments(params)
            argv = [os.fsdecode(a) for a in args]
        except ValueError as exc:
            argv, cut = 'refused: %s' % exc, []
        env = self.environ(event, attempt, cut,
                           '<a new empty file for each attempt>')
        return {'argv': argv,
                'environment': {k: v for k, v in env.items()
                                if k.startswith(environ.RESERVED_PREFIX)},
                'stdin': self.stdin(event).decode(),
                'timeout': self.options.script_timeout}

    def run(self, event, params, attempt=1):
        try:
            args, cut = self.arguments(params)
        except ValueError as exc:
            return base.Result(base.FAILURE, str(exc))
        if cut:
            self._log_cut(event, cut)
        try:
            out = context_io.OutFile()
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot make the context file '
                               'of %s: %s' % (self.path, exc))
        with out:
            result = self._spawn(args, self.environ(event, attempt, cut,
                                                    out.path), event)
            return context_io.with_updates(result, out.read)

    def _spawn(self, args, env, event):
        try:
            stdin = _stdin_file(self.stdin(event))
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot pass the event to %s: %s'
                               % (self.path, exc))
        try:
            proc = subprocess.Popen(
                args, stdin=stdin, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=env,
                close_fds=True, start_new_session=True)
        except (OSError, ValueError) as exc:
            # ValueError: a NUL byte in the environment.
            return base.Result(base.FAILURE, 'cannot run %s: %s'
                               % (self.path, exc))
        finally:
            os.close(stdin)
        with proc.stdout, proc.stderr:
            return self._outcome(proc)

    def _log_cut(self, event, cut):
        paths = self.param_paths()
        LOG.warning('Rule %s, event %s: params %s truncated to %d bytes '
                    '(script_arg_limit); the script has them whole on '
                    'standard input', self.context.name,
                    safetext.printable(event.id),
                    ','.join(paths[n - 1] for n in cut),
                    self.options.script_arg_limit)

    def _outcome(self, proc):
        output = _Output([proc.stdout.fileno(), proc.stderr.fileno()],
                         self.context.output_limit)
        timeout = self.options.script_timeout
        exited = _wait(proc, timeout, output)
        if not exited:
            proctree.kill_tree(proc.pid, group=True)
            proc.wait()
        output.drain()
        out, err = output.text()
        if not exited:
            return base.Result(base.RETRY, 'timed out after %ss' % timeout,
                               output=out)
        if proc.returncode == 0:
            return base.Result(base.SUCCESS, 'exit status 0', 0, out)
        lines = err.splitlines()[:_STDERR_LINES]
        detail = 'exit status %d' % proc.returncode
        if lines:
            detail += ': ' + ' | '.join(lines)
        return base.Result(base.RETRY, detail, proc.returncode, out + err)


def _arg_budget():
    """Bytes the arguments may take: half of ARG_MAX.

    The other half is for the environment and the kernel's pointers.
    """
    try:
        arg_max = os.sysconf('SC_ARG_MAX')
    except (AttributeError, ValueError, OSError):
        arg_max = -1
    # POSIX promises at least 4096; Linux gives a quarter of the stack.
    return max(arg_max, 256 * 1024) // 2


def _bounded(value, limit):
    """``value`` as UTF-8 of at most ``limit`` bytes, and whether whole.

    A lone surrogate (possible in decoded JSON), which no UTF-8 encoder
    takes, becomes U+FFFD (a NUL was refused before).  The cut falls
    before the character that would not fit whole.
    """
    data = safetext.storable(value).encode('utf-8')
    if len(data) <= limit:
        return data, True
    end = limit
    while end and data[end] & 0xC0 == 0x80:
        end -= 1
    return data[:end], False


class _Output:
    """The first ``limit`` bytes of each of a script's output pipes.

    The rest is read and dropped: the script never blocks on a full pipe,
    and nothing beyond the limit is held, in memory or on disk.
    """

    def __init__(self, fds, limit):
        self.fds = list(fds)
        self.limit = limit
        self.kept = {fd: bytearray() for fd in fds}
        self.cut = set()
        self.open = set(fds)
        for fd in fds:
            os.set_blocking(fd, False)

    def read(self, fd):
        """Bytes read from ``fd`` now (0: none yet), or None at its end."""
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return 0
        if not data:
            self.open.discard(fd)
            return None
        kept = self.kept[fd]
        room = self.limit - len(kept)
        if room > 0:
            kept += data[:room]
        if len(data) > room:
            self.cut.add(fd)
        return len(data)

    def drain(self):
        """Read what the pipes hold, without waiting for more."""
        for fd in list(self.open):
            total = 0
            while total < _DRAIN_LIMIT:
                count = self.read(fd)
                if not count:
                    break
                total += count

    def text(self):
        """What each pipe gave, decoded as UTF-8."""
        return [self._decode(fd) for fd in self.fds]

    def _decode(self, fd):
        data = bytes(self.kept[fd])
        if fd in self.cut:
            # Not final: a character cut in two at the limit is dropped
            # rather than shown as a replacement character.
            return codecs.getincrementaldecoder('utf-8')('replace').decode(
                data)
        return data.decode('utf-8', 'replace')


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


def _stdin_file(data):
    """A descriptor of an anonymous file holding ``data``, at offset 0."""
    fd = _anonymous_file()
    try:
        # pwrite leaves the file offset, which the script inherits, at 0.
        view, offset = memoryview(data), 0
        while offset < len(view):
            offset += os.pwrite(fd, view[offset:], offset)
    except OSError:
        os.close(fd)
        raise
    return fd


def _wait(proc, timeout, output):
    """Read ``output`` until ``proc`` exits (True) or ``timeout`` passes.

    True once it has exited and been reaped; False after ``timeout``
    seconds.  A pidfd lets one poll() wait for the exit and the output at once;
    without one (Linux before 5.3, other systems) the exit is checked
    every few milliseconds.
    """
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        return _pump(proc, pidfd, output, deadline)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pump(proc, pidfd, output, deadline):
    poller = select.poll()
    for fd in output.open:
        poller.register(fd, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
        most = _MAX_POLL_MS
    else:
        most = _NO_PIDFD_POLL_MS
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        for fd, _events in poller.poll(min(math.ceil(left * 1000), most)):
            if fd == pidfd:
                proc.wait()
                return True
            if output.read(fd) is None:
                poller.unregister(fd)
        if pidfd is None and proc.poll() is not None:
            return True
