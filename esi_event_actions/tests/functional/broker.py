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

"""Private RabbitMQ brokers for functional tests.

Each broker is a throw-away RabbitMQ node bound to loopback on free ports,
with its own epmd, Erlang cookie, data and logs under one temporary
directory, so that several brokers (one per test worker) can coexist with
each other and with any system-wide RabbitMQ.

Set ``ESI_TEST_TRANSPORT_URL`` to use an existing broker instead. A shell
test runner can start one broker for a whole run with::

    python -m esi_event_actions.tests.functional.broker start --state-file F
    python -m esi_event_actions.tests.functional.broker stop --state-file F
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib import parse

import fixtures

from esi_event_actions.tests.functional import shared

TRANSPORT_URL_ENV = 'ESI_TEST_TRANSPORT_URL'
BIN_DIR_ENV = 'RABBITMQ_BIN_DIR'
# Use the scripts under the Debian package's lib dir rather than the
# /usr/sbin wrappers, which switch to the rabbitmq user and log to /var/log.
DEFAULT_BIN_DIR = '/usr/lib/rabbitmq/bin'

LOOPBACK = '127.0.0.1'
START_TIMEOUT = 60
STOP_TIMEOUT = 30
CTL_TIMEOUT = 60

# How the AMQP listener and the distribution listener report a taken port.

_DIST_LOOPBACK_ARGS = '-kernel inet_dist_use_interface {127,0,0,1}'

RABBITMQ_CONF = """\
listeners.tcp.1 = {host}:{port}
loopback_users = none
# Test hosts often have little free disk; a disk alarm would silently
# block every publisher.
disk_free_limit.absolute = 1MB
vm_memory_high_watermark.relative = 0.8
log.file.level = info
log.console = false
"""


class BrokerError(Exception):
    """A private broker failed to start or to stop."""


class PortInUseError(BrokerError):
    """A port picked as free was taken before the broker bound it."""


def _bin_dir():
    return os.environ.get(BIN_DIR_ENV) or DEFAULT_BIN_DIR


def _find_epmd():
    epmd = shutil.which('epmd')
    if epmd:
        return epmd
    # erl is always on PATH when RabbitMQ is installed, epmd not always.
    erl = shutil.which('erl')
    if erl:
        candidate = os.path.join(
            os.path.dirname(os.path.realpath(erl)), 'epmd')
        if os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError('epmd executable not found')


def _free_ports(count):
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


def _full_env(broker_env):
    # Settings from the caller's environment (e.g. a developer's own
    # RabbitMQ setup) must not leak into the private node.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('RABBITMQ_', 'ERL_'))}
    env.update(broker_env)
    return env


def _port_open(port):
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _listens(pid, port):
    """Whether process pid holds a TCP socket listening on port."""
    if not os.path.isdir('/proc/%d/fd' % pid):
        return _port_open(port)
    inodes = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                rows = f.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            local_port = int(fields[1].rsplit(':', 1)[1], 16)
            if fields[3] == '0A' and local_port == port:
                inodes.add('socket:[%s]' % fields[9])
    try:
        fds = os.listdir('/proc/%d/fd' % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink('/proc/%d/fd/%s' % (pid, fd)) in inodes:
                return True
        except OSError:
            pass
    return False


def _read_proc(pid, name):
    try:
        with open('/proc/%d/%s' % (pid, name), 'rb') as f:
            return f.read()
    except OSError:
        return None


def _proc_state(pid):
    """Return (state, pgrp) of a process, or None if it does not exist."""
    stat = _read_proc(pid, 'stat')
    if stat is None:
        return None
    # The command name may contain spaces and parentheses; the fields we
    # want follow the last ')'.
    fields = stat[stat.rindex(b')') + 2:].split()
    return fields[0].decode(), int(fields[2])


def _alive(pid, marker=None):
    """Whether pid is a live (non-zombie) process tagged with marker.

    The marker is looked up in the command line and the environment, so a
    pid recycled by an unrelated process is never mistaken for ours.
    """
    if not pid:
        return False
    if os.path.isdir('/proc'):
        state = _proc_state(pid)
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


def _group_alive(pgid, marker):
    if not os.path.isdir('/proc'):
        try:
            os.killpg(pgid, 0)
        except OSError:
            return False
        return True
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        state = _proc_state(int(entry))
        if state and state[1] == pgid and _alive(int(entry), marker):
            return True
    return False


def _wait_until(predicate, timeout, interval=0.05):
    """Poll predicate until true or timeout; return its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _wait_reaped(pid, timeout=2):
    _wait_until(lambda: not os.path.exists('/proc/%d' % pid), timeout)


def _signal(pid, sig, group=False):
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path, lines=40):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return '\n'.join(data.splitlines()[-lines:])


class PrivateBroker(object):
    """A private RabbitMQ node for tests.

    The node listens on a free loopback port and keeps all of its state
    (Erlang cookie, mnesia, logs, config, a private epmd) under a temporary
    directory, so it neither needs nor disturbs a system RabbitMQ. The
    ports, node name and directory survive :meth:`restart`, so messages in
    durable queues survive it too.
    """

    def __init__(self, base_dir=None, start_timeout=START_TIMEOUT):
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.tmpdir = None
        self.port = None
        self.dist_port = None
        self.epmd_port = None
        self.nodename = None
        self.env = None
        self.broker_env = None
        self.server_pid = None
        self.epmd_pid = None
        self.start_seconds = None
        self._server = None
        self._epmd = None

    @property
    def transport_url(self):
        return 'rabbit://guest:guest@%s:%d/' % (LOOPBACK, self.port)

    @property
    def running(self):
        server = self._server
        if server is not None and server.pid == self.server_pid:
            # Our own child: no pid reuse to guard against, and its
            # environment only shows the node name once it has exec'd.
            return server.poll() is None
        return _alive(self.server_pid, self._marker)

    @property
    def _marker(self):
        # Every server process carries the node name in its environment.
        return 'RABBITMQ_NODENAME=%s' % self.nodename

    def _path(self, *parts):
        return os.path.join(self.tmpdir, *parts)

    def _cmd(self, name):
        return os.path.join(_bin_dir(), name)

    def start(self):
        """Start the node and block until it accepts AMQP connections."""
        if self.tmpdir is not None:
            raise BrokerError('broker already started')
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                self._prepare()
                self._start_epmd()
                self._spawn_server()
                self._wait_running()
                return self
            except BrokerError as exc:
                log = self._log_tail()
                self.stop()
                # Free ports are picked before they are bound, so another
                # process may grab one in between, and a node starting on a
                # loaded machine sometimes dies without a word: simply try
                # again, on new ports.
                if attempt < attempts:
                    sys.stderr.write('RabbitMQ start attempt %d failed (%s); '
                                     'trying again\n' % (attempt, exc))
                    continue
                raise BrokerError('%s\n%s' % (exc, log))
            except BaseException:
                self.stop()
                raise

    def _prepare(self):
        self.port, self.dist_port, self.epmd_port = _free_ports(3)
        self.nodename = 'esi%d@localhost' % self.port
        self.tmpdir = tempfile.mkdtemp(prefix='esi-rabbitmq-',
                                       dir=self.base_dir)
        for sub in ('home', 'mnesia', 'log'):
            os.mkdir(self._path(sub))

        # Write the cookie up front: otherwise the node and the first CLI
        # call could race to create two different ones.
        cookie = self._path('home', '.erlang.cookie')
        fd = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, 'w') as f:
            f.write(secrets.token_hex(20).upper())

        with open(self._path('rabbitmq.conf'), 'w') as f:
            f.write(RABBITMQ_CONF.format(host=LOOPBACK, port=self.port))
        # An explicit empty plugin list keeps startup fast and avoids the
        # system-wide enabled_plugins file.
        with open(self._path('enabled_plugins'), 'w') as f:
            f.write('[].\n')
        # Without this the scripts source /etc/rabbitmq/rabbitmq-env.conf.
        open(self._path('rabbitmq-env.conf'), 'w').close()

        self.broker_env = {
            'HOME': self._path('home'),
            # The CLI (Elixir) complains on a non UTF-8 locale.
            'LC_ALL': 'C.UTF-8',
            'LANG': 'C.UTF-8',
            'RABBITMQ_NODENAME': self.nodename,
            'RABBITMQ_NODE_IP_ADDRESS': LOOPBACK,
            'RABBITMQ_NODE_PORT': str(self.port),
            'RABBITMQ_DIST_PORT': str(self.dist_port),
            'ERL_EPMD_PORT': str(self.epmd_port),
            'ERL_EPMD_ADDRESS': LOOPBACK,
            'RABBITMQ_MNESIA_BASE': self._path('mnesia'),
            'RABBITMQ_LOG_BASE': self._path('log'),
            'RABBITMQ_CONFIG_FILE': self._path('rabbitmq.conf'),
            'RABBITMQ_CONF_ENV_FILE': self._path('rabbitmq-env.conf'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': self._path('enabled_plugins'),
            'RABBITMQ_PID_FILE': self._path('rabbitmq.pid'),
            'ERL_CRASH_DUMP': self._path('log', 'erl_crash.dump'),
            # Erlang distribution (node <-> CLI) otherwise listens on all
            # interfaces.
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS': _DIST_LOOPBACK_ARGS,
            'RABBITMQ_CTL_ERL_ARGS': _DIST_LOOPBACK_ARGS,
        }
        self.env = _full_env(self.broker_env)

    def _start_epmd(self):
        # Own the epmd process: one spawned implicitly by the node would
        # daemonize itself, outlive the node and leave no pid to kill.
        log = open(self._path('log', 'epmd.out'), 'ab')
        with log:
            self._epmd = subprocess.Popen(
                [_find_epmd(), '-port', str(self.epmd_port),
                 '-address', LOOPBACK],
                env=self.env, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.epmd_pid = self._epmd.pid
        deadline = time.monotonic() + 10
        # Check that the socket is epmd's own: a port taken by someone else
        # accepts connections too, while epmd silently exits with 0.
        while not _listens(self.epmd_pid, self.epmd_port):
            if self._epmd.poll() is not None:
                raise PortInUseError('epmd exited with %s, port %d taken?'
                                     % (self._epmd.returncode,
                                        self.epmd_port))
            if time.monotonic() > deadline:
                raise BrokerError('epmd did not start listening')
            time.sleep(0.05)

    def _spawn_server(self):
        # A new session keeps the node out of the caller's process group
        # (no stray terminal signals) and lets it outlive the caller; the
        # group id is then the pid, which stop() uses as a last resort.
        log = open(self._path('log', 'server.out'), 'ab')
        with log:
            self._server = subprocess.Popen(
                [self._cmd('rabbitmq-server')],
                env=self.env, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.server_pid = self._server.pid

    def _wait_running(self):
        begin = time.monotonic()
        deadline = begin + self.start_timeout
        while True:
            if not self.running:
                raise BrokerError('rabbitmq-server exited during startup')
            # check_running, unlike ping, fails until the rabbit application
            # (and thus the AMQP listener) is fully up.
            try:
                result = subprocess.run(
                    [self._cmd('rabbitmq-diagnostics'), '-q',
                     'check_running'],
                    env=self.env, cwd=self.tmpdir,
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, timeout=30)
                if result.returncode == 0 and _port_open(self.port):
                    self.start_seconds = time.monotonic() - begin
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise BrokerError('RabbitMQ node %s not running after %ss'
                                  % (self.nodename, self.start_timeout))
            time.sleep(0.5)

    def _log_tail(self):
        parts = []
        for name in ('epmd.out', 'server.out', '%s.log' % self.nodename):
            text = _tail(self._path('log', name))
            if text:
                parts.append('--- %s ---\n%s' % (name, text))
        return '\n'.join(parts)

    def ctl(self, *args, check=True, timeout=CTL_TIMEOUT):
        """Run rabbitmqctl against this node and return its stdout.

        :param check: raise CalledProcessError on a non-zero exit
        :param timeout: seconds to wait for the command
        """
        return self._run('rabbitmqctl', args, check, timeout)

    def diagnostics(self, *args, check=True, timeout=CTL_TIMEOUT):
        """Run rabbitmq-diagnostics against this node, return its stdout."""
        return self._run('rabbitmq-diagnostics', args, check, timeout)

    def _run(self, tool, args, check, timeout):
        result = subprocess.run(
            [self._cmd(tool)] + [str(a) for a in args],
            env=self.env, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout, check=check)
        return result.stdout

    def _wait_server_exit(self, timeout):
        if self._server is not None:
            try:
                self._server.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            return
        # Not our child (e.g. stopped via a state file): poll instead.
        _wait_until(lambda: not self.running, timeout, interval=0.2)

    def _kill_server(self):
        """Make sure no process of the server's group survives."""
        if not self.server_pid:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not _group_alive(self.server_pid, self._marker):
                break
            _signal(self.server_pid, sig, group=True)
            _wait_until(
                lambda: not _group_alive(self.server_pid, self._marker),
                5, interval=0.1)
        if self._server is not None:
            try:
                self._server.wait(5)
            except subprocess.TimeoutExpired:
                pass
        else:
            _wait_reaped(self.server_pid)

    def _kill_epmd(self):
        if not self.epmd_pid:
            return
        marker = '-port\0%d\0' % self.epmd_port
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not _alive(self.epmd_pid, marker):
                break
            _signal(self.epmd_pid, sig)
            _wait_until(lambda: not _alive(self.epmd_pid, marker), 5)
        if self._epmd is not None:
            try:
                self._epmd.wait(5)
            except subprocess.TimeoutExpired:
                pass
        else:
            # Not our child: give init a moment to reap the zombie so that
            # callers checking the process table right after see it gone.
            _wait_reaped(self.epmd_pid)
        self.epmd_pid = None
        self._epmd = None

    def stop(self):
        """Stop the node and its epmd and remove the temporary directory.

        Safe to call more than once and after a failed start.
        """
        if self.tmpdir is None:
            return
        if self.running:
            try:
                # shutdown, unlike stop, also waits for the OS process.
                self.ctl('shutdown', timeout=STOP_TIMEOUT)
            except (subprocess.CalledProcessError,
                    subprocess.TimeoutExpired):
                pass
            self._wait_server_exit(STOP_TIMEOUT)
        self._kill_server()
        self._server = None
        self.server_pid = None
        # epmd is a separate session and outlives the node by design.
        self._kill_epmd()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None

    def restart(self):
        """Stop the node and start it again on the same ports and data.

        epmd keeps running, so this simulates a broker outage as clients
        see it: connections drop and the port refuses until it is back.
        """
        if self.tmpdir is None:
            raise BrokerError('broker not started')
        if self.running:
            try:
                self.ctl('stop', timeout=STOP_TIMEOUT)
            except (subprocess.CalledProcessError,
                    subprocess.TimeoutExpired):
                pass
            self._wait_server_exit(STOP_TIMEOUT)
        self._kill_server()
        if not _alive(self.epmd_pid):
            self._start_epmd()
        self._spawn_server()
        try:
            self._wait_running()
        except BrokerError as exc:
            raise BrokerError('%s\n%s' % (exc, self._log_tail()))

    def state(self):
        """Return a JSON-serialisable description of the running broker."""
        return {
            'transport_url': self.transport_url,
            'port': self.port,
            'dist_port': self.dist_port,
            'epmd_port': self.epmd_port,
            'nodename': self.nodename,
            'tmpdir': self.tmpdir,
            'pids': {'server': self.server_pid, 'epmd': self.epmd_pid},
            # Only what differs from the caller's environment: enough to
            # run the RabbitMQ CLI against this node, and no leaked secrets.
            'env': self.broker_env,
        }

    @classmethod
    def from_state(cls, state):
        """Rebuild a broker started elsewhere, e.g. to stop it."""
        broker = cls()
        broker.port = state['port']
        broker.dist_port = state['dist_port']
        broker.epmd_port = state['epmd_port']
        broker.nodename = state['nodename']
        broker.tmpdir = state['tmpdir']
        broker.broker_env = state['env']
        broker.env = _full_env(broker.broker_env)
        broker.server_pid = state['pids']['server']
        broker.epmd_pid = state['pids']['epmd']
        return broker


class ExternalBroker(object):
    """A broker that is managed elsewhere and only known by its URL."""

    def __init__(self, transport_url):
        self.transport_url = transport_url
        self.port = parse.urlsplit(transport_url).port

    def stop(self):
        pass


def _start_shared():
    url = os.environ.get(TRANSPORT_URL_ENV)
    if url:
        return ExternalBroker(url)
    broker = PrivateBroker()
    broker.start()
    return broker


_SHARED = shared.ProcessWide(_start_shared)


def shared_broker():
    """Return the broker shared by all tests of this process.

    Uses ``$ESI_TEST_TRANSPORT_URL`` if set; otherwise starts a
    :class:`PrivateBroker` on first use and stops it at interpreter exit.
    """
    return _SHARED.get()


class BrokerFixture(fixtures.Fixture):
    """Provide a RabbitMQ transport URL to a test.

    By default this is the process-wide :func:`shared_broker`. Pass
    ``private=True`` for a dedicated broker, stopped at cleanup, when a
    test disrupts it (e.g. with :meth:`PrivateBroker.restart`).
    """

    def __init__(self, private=False):
        super(BrokerFixture, self).__init__()
        self.private = private
        self.broker = None
        self.transport_url = None

    def _setUp(self):
        if self.private:
            self.broker = PrivateBroker()
            self.addCleanup(self.broker.stop)
            self.broker.start()
        else:
            self.broker = shared_broker()
        self.transport_url = self.broker.transport_url


def _write_state(path, state):
    tmp = '%s.tmp' % path
    with open(tmp, 'w') as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m esi_event_actions.tests.functional.broker',
        description='Start or stop a private RabbitMQ broker for tests.')
    parser.add_argument('action', choices=('start', 'stop'))
    parser.add_argument('--state-file', required=True,
                        help='JSON file describing the started broker')
    args = parser.parse_args(argv)

    if args.action == 'start':
        if os.path.exists(args.state_file):
            sys.stderr.write('%s exists; stop that broker first\n'
                             % args.state_file)
            return 1
        broker = PrivateBroker()
        try:
            broker.start()
            _write_state(args.state_file, broker.state())
        except BaseException:
            broker.stop()
            raise
        # Children run in their own sessions with output in files, so they
        # outlive this process and do not hold the caller's stdout open.
        print(broker.transport_url)
        return 0

    try:
        with open(args.state_file) as f:
            state = json.load(f)
    except FileNotFoundError:
        sys.stderr.write('%s not found; nothing to stop\n' % args.state_file)
        return 0
    PrivateBroker.from_state(state).stop()
    os.remove(args.state_file)
    return 0


if __name__ == '__main__':
    sys.exit(main())
