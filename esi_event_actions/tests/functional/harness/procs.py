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

"""The life cycle of the private servers that functional tests run.

RabbitMQ (:mod:`.broker`), PostgreSQL (:mod:`.postgres`) and esi-leap
(:mod:`.real_esi_leap`) each run as throw-away processes on free loopback
ports, with every file of theirs under one temporary directory, so that
several instances (one per test worker) coexist with each other and with
any system-wide installation. :class:`PrivateServer` is what they have in
common, :class:`Process` one process of theirs, :class:`ProcessWide` the
one instance the tests of a process share, and :func:`state_file_main`
the start and stop commands with which a shell test runner shares one
server between all its test processes.
"""

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LOOPBACK = '127.0.0.1'
START_TIMEOUT = 60
STOP_TIMEOUT = 30
# How long a process gets after each of SIGTERM and SIGKILL.
KILL_TIMEOUT = 5


class ServerError(Exception):
    """A private server failed to start or to stop."""


def free_ports(count):
    """Return ``count`` distinct currently free TCP ports on loopback."""
    socks = []
    try:
        # Hold every socket open until all are picked so the kernel cannot
        # hand out the same port twice.
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def environ(drop, extra=None):
    """Return the caller's environment minus what drop(name) picks, + extra.

    A developer's own settings for a server or its clients (its data
    directory, its port, a proxy) must not redirect a private one.
    """
    env = {k: v for k, v in os.environ.items() if not drop(k)}
    env.update(extra or {})
    return env


def _read_proc(pid, name):
    try:
        with open('/proc/%d/%s' % (pid, name), 'rb') as f:
            return f.read()
    except OSError:
        return None


def proc_state(pid):
    """Return (state, pgrp) of a process, or None if it does not exist."""
    stat = _read_proc(pid, 'stat')
    if stat is None:
        return None
    # The command name may contain spaces and parentheses; the fields we
    # want follow the last ')'.
    fields = stat[stat.rindex(b')') + 2:].split()
    return fields[0].decode(), int(fields[2])


def alive(pid, marker=None):
    """Whether pid is a live (non-zombie) process tagged with marker.

    The marker is looked up in the command line and the environment, so a
    pid recycled by an unrelated process is never mistaken for ours.
    """
    if not pid:
        return False
    if os.path.isdir('/proc'):
        state = proc_state(pid)
        if state is None or state[0] in ('Z', 'X'):
            return False
        if marker is None:
            return True
        marker = marker.encode()
        for name in ('cmdline', 'environ'):
            data = _read_proc(pid, name)
            if data and marker in data:
                return True
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def group_alive(pgid, marker):
    """Whether a live process of group pgid is tagged with marker."""
    if not os.path.isdir('/proc'):
        try:
            os.killpg(pgid, 0)
        except OSError:
            return False
        return True
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        state = proc_state(int(entry))
        if state and state[1] == pgid and alive(int(entry), marker):
            return True
    return False


def wait_until(predicate, timeout, interval=0.05):
    """Poll predicate until it returns something true, and return that.

    Returns None if timeout seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def send_signal(pid, sig, group=False):
    """Send sig to pid, or to its process group; ignore a vanished one."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path, lines=40):
    """Return the last lines of a log file, or '' if there is none."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return '\n'.join(data.splitlines()[-lines:])


def write_file(path, text):
    """Write text to path, atomically: readers see all of it or none."""
    tmp = '%s.tmp' % path
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


class Process(object):
    """One process of a private server.

    Either a child of ours (``popen`` is its :class:`subprocess.Popen`), or
    known by its pid only, as when a server is rebuilt from a state file
    to be stopped. The marker, a string in the process's command line or
    environment, then tells it from an unrelated process that was given
    the same pid.
    """

    def __init__(self, pid, marker=None, popen=None):
        self.pid = pid
        self.marker = marker
        self.popen = popen

    @property
    def running(self):
        if self.popen is not None:
            # Our own child: no pid reuse to guard against, and its
            # command line and environment are its own only once it has
            # exec'd.
            return self.popen.poll() is None
        return alive(self.pid, self.marker)

    @property
    def returncode(self):
        """A child's exit status once it has exited, else None."""
        return None if self.popen is None else self.popen.poll()

    def signal(self, sig, group=False):
        send_signal(self.pid, sig, group)

    def wait(self, timeout):
        """Wait up to timeout seconds for the process to exit."""
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            return
        wait_until(lambda: not self.running, timeout, interval=0.1)

    def stop(self, ask=None, timeout=STOP_TIMEOUT, group=False):
        """Ask the process to exit, give it timeout seconds, then kill it.

        :param ask: callable asking the process to exit; SIGTERM if None
        :param group: kill whatever is left of its process group too
        """
        if self.running:
            if ask is None:
                self.signal(signal.SIGTERM)
            else:
                ask()
            self.wait(timeout)
        self.kill(group)

    def kill(self, group=False):
        """SIGTERM, then SIGKILL, what is left of the process; reap it.

        :param group: signal its process group, the process itself being
            its leader: children it left behind go too
        """
        if group:
            def gone():
                return not group_alive(self.pid, self.marker)
        else:
            def gone():
                return not alive(self.pid, self.marker)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if gone():
                break
            self.signal(sig, group)
            wait_until(gone, KILL_TIMEOUT, interval=0.1)
        self.reap()

    def reap(self):
        """Wait for the stopped process to leave the process table."""
        if self.popen is not None:
            try:
                self.popen.wait(KILL_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            return
        # Not our child: give init a moment to reap the zombie so that
        # callers checking the process table right after see it gone.
        wait_until(lambda: not os.path.exists('/proc/%d' % self.pid), 2)


class PrivateServer(object):
    """A throw-away server for tests, all its files in a temporary directory.

    :meth:`start` creates the directory and runs :meth:`_start`, trying
    again up to :attr:`start_attempts` times when :meth:`_retry` says so;
    :meth:`stop` runs :meth:`_stop` and removes the directory, and is safe
    to call more than once and after a failed start. Every process is
    spawned by :meth:`_spawn` in a session of its own, its output in the
    ``log`` subdirectory, which :meth:`log_tail` reads for error messages.

    Subclasses set the class attributes, implement :meth:`_start` and
    :meth:`_stop`, and :meth:`state` and :meth:`from_state` for
    :func:`state_file_main`.
    """

    #: The exception class for failures.
    error = ServerError
    #: What the server is called in messages.
    noun = 'server'
    #: Prefix of the temporary directory's name.
    tmp_prefix = 'esi-server-'
    #: Subdirectories created in it; ``log`` holds the processes' output.
    subdirs = ('log',)
    start_attempts = 1

    def __init__(self, base_dir=None, start_timeout=START_TIMEOUT):
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.tmpdir = None

    def _path(self, *parts):
        return os.path.join(self.tmpdir, *parts)

    def start(self):
        """Start the server and block until it is ready; return it."""
        if self.tmpdir is not None:
            raise self.error('%s already started' % self.noun)
        for attempt in range(1, self.start_attempts + 1):
            try:
                self._start()
                return self
            except self.error as exc:
                log = self.log_tail()
                self.stop()
                if attempt < self.start_attempts and self._retry(attempt, exc):
                    continue
                raise self.error('%s\n%s' % (exc, log) if log else exc)
            except BaseException:
                self.stop()
                raise

    def _start(self):
        """Prepare and spawn everything, and wait until it is ready."""
        raise NotImplementedError

    def _retry(self, attempt, exc):
        """Whether a start that failed with exc is worth another attempt."""
        return False

    def _make_tmpdir(self):
        self.tmpdir = tempfile.mkdtemp(prefix=self.tmp_prefix,
                                       dir=self.base_dir)
        for sub in self.subdirs:
            os.mkdir(self._path(sub))

    def _spawn(self, argv, log_name, env, marker=None, **popen_kwargs):
        """Start argv with its output in ``log/<log_name>``; return it.

        :param marker: see :class:`Process`
        :returns: a :class:`Process`
        """
        # A new session keeps the process out of the caller's process group
        # (no stray terminal signals) and lets it outlive the caller; its
        # group id is then its pid, for Process.kill(group=True).
        with open(self._path('log', log_name), 'ab') as log:
            popen = subprocess.Popen(
                argv, env=env, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                **popen_kwargs)
        return Process(popen.pid, marker, popen)

    def _wait_ready(self, what, ready, check, timeout=None, interval=0.05,
                    begin=None):
        """Poll ready() until it is true; return the seconds since begin.

        :param what: what is waited for, for the timeout's message
        :param check: called first in every round; raises if waiting is
            pointless, e.g. because the process exited
        :param timeout: seconds from begin; :attr:`start_timeout` if None
        :param begin: a :func:`time.monotonic` value; now if None
        """
        timeout = self.start_timeout if timeout is None else timeout
        begin = time.monotonic() if begin is None else begin

        def checked_ready():
            check()
            return ready()

        if not wait_until(checked_ready, begin + timeout - time.monotonic(),
                          interval):
            raise self.error('%s not ready after %ss' % (what, timeout))
        return time.monotonic() - begin

    def _log_names(self):
        # Every file in the log directory, unless a subclass knows better.
        try:
            return sorted(os.listdir(self._path('log')))
        except OSError:
            return []

    def log_tail(self, lines=40):
        """Return the end of every log of the server, for diagnostics."""
        if self.tmpdir is None:
            return ''
        parts = []
        for name in self._log_names():
            text = tail(self._path('log', name), lines)
            if text:
                parts.append('--- %s ---\n%s' % (name, text))
        return '\n'.join(parts)

    def stop(self):
        """Stop the server and remove its temporary directory."""
        if self.tmpdir is None:
            return
        self._stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None

    def _stop(self):
        """Stop every process of the server, whatever state it is in."""
        raise NotImplementedError

    def state(self):
        """Return a JSON-serialisable description of the running server."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, state):
        """Rebuild a server started elsewhere from its state, to stop it."""
        raise NotImplementedError


class ProcessWide:
    """A server started on first use and stopped at interpreter exit.

    Only the process that started it stops it: a forked child inherits
    the exit hook but must leave its parent's server alone.

    :param start: callable returning a started server (with ``stop()``).
    """

    def __init__(self, start):
        self._start = start
        self._server = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._server is None:
                self._server = self._start()
                atexit.register(self._stop, os.getpid())
            return self._server

    def _stop(self, owner_pid):
        if os.getpid() == owner_pid:
            self._server.stop()


def state_file_main(server_class, url, prog, description, argv=None):
    """Start or stop a server for a shell test runner; return the status.

    ``start --state-file F`` starts a ``server_class``, records its state
    in F and prints url(server); ``stop --state-file F`` stops it.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument('action', choices=('start', 'stop'))
    parser.add_argument('--state-file', required=True,
                        help='JSON file describing the started %s'
                        % server_class.noun)
    args = parser.parse_args(argv)

    if args.action == 'start':
        if os.path.exists(args.state_file):
            sys.stderr.write('%s exists; stop that %s first\n'
                             % (args.state_file, server_class.noun))
            return 1
        server = server_class()
        try:
            server.start()
            write_file(args.state_file,
                       json.dumps(server.state(), indent=2, sort_keys=True))
        except BaseException:
            server.stop()
            raise
        # Its processes run in their own sessions with output in files, so
        # they outlive this one and do not hold the caller's stdout open.
        print(url(server))
        return 0

    try:
        with open(args.state_file) as f:
            state = json.load(f)
    except FileNotFoundError:
        sys.stderr.write('%s not found; nothing to stop\n' % args.state_file)
        return 0
    server_class.from_state(state).stop()
    os.remove(args.state_file)
    return 0
