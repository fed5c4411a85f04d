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

    python -m esi_event_actions.tests.functional.harness.broker start \
        --state-file F
    python -m esi_event_actions.tests.functional.harness.broker stop \
        --state-file F
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
from urllib import parse

import fixtures

from esi_event_actions.tests.functional.harness import procs

TRANSPORT_URL_ENV = 'ESI_TEST_TRANSPORT_URL'
BIN_DIR_ENV = 'RABBITMQ_BIN_DIR'
# Use the scripts under the Debian package's lib dir rather than the
# /usr/sbin wrappers, which switch to the rabbitmq user and log to /var/log.
DEFAULT_BIN_DIR = '/usr/lib/rabbitmq/bin'

CTL_TIMEOUT = 60
EPMD_TIMEOUT = 10

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


class BrokerError(procs.ServerError):
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


def _full_env(broker_env):
    # Settings from the caller's environment (e.g. a developer's own
    # RabbitMQ setup) must not leak into the private node.
    return procs.environ(lambda name: name.startswith(('RABBITMQ_', 'ERL_')),
                         broker_env)


def _port_open(port):
    try:
        with socket.create_connection((procs.LOOPBACK, port), timeout=1):
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


class PrivateBroker(procs.PrivateServer):
    """A private RabbitMQ node for tests.

    The node listens on a free loopback port and keeps all of its state
    (Erlang cookie, mnesia, logs, config, a private epmd) under a temporary
    directory, so it neither needs nor disturbs a system RabbitMQ. The
    ports, node name and directory survive :meth:`restart`, so messages in
    durable queues survive it too.
    """

    error = BrokerError
    noun = 'broker'
    tmp_prefix = 'esi-rabbitmq-'
    subdirs = ('home', 'mnesia', 'log')
    start_attempts = 3

    def __init__(self, base_dir=None, start_timeout=procs.START_TIMEOUT):
        super(PrivateBroker, self).__init__(base_dir, start_timeout)
        self.port = None
        self.dist_port = None
        self.epmd_port = None
        self.nodename = None
        self.env = None
        self.broker_env = None
        self.start_seconds = None
        self.server = None
        self.epmd = None

    @property
    def transport_url(self):
        return 'rabbit://guest:guest@%s:%d/' % (procs.LOOPBACK, self.port)

    @property
    def running(self):
        return self.server is not None and self.server.running

    @property
    def _marker(self):
        # Every server process carries the node name in its environment.
        return 'RABBITMQ_NODENAME=%s' % self.nodename

    @property
    def _epmd_marker(self):
        return '-port\0%d\0' % self.epmd_port

    def _cmd(self, name):
        return os.path.join(_bin_dir(), name)

    def _start(self):
        self._prepare()
        self._start_epmd()
        self._spawn_server()
        self._wait_running()

    def _retry(self, attempt, exc):
        # Free ports are picked before they are bound, so another process
        # may grab one in between, and a node starting on a loaded machine
        # sometimes dies without a word: simply try again, on new ports.
        sys.stderr.write('RabbitMQ start attempt %d failed (%s); '
                         'trying again\n' % (attempt, exc))
        return True

    def _prepare(self):
        self.port, self.dist_port, self.epmd_port = procs.free_ports(3)
        self.nodename = 'esi%d@localhost' % self.port
        self._make_tmpdir()

        # Write the cookie up front: otherwise the node and the first CLI
        # call could race to create two different ones.
        cookie = self._path('home', '.erlang.cookie')
        fd = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, 'w') as f:
            f.write(secrets.token_hex(20).upper())

        with open(self._path('rabbitmq.conf'), 'w') as f:
            f.write(RABBITMQ_CONF.format(host=procs.LOOPBACK, port=self.port))
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
            'RABBITMQ_NODE_IP_ADDRESS': procs.LOOPBACK,
            'RABBITMQ_NODE_PORT': str(self.port),
            'RABBITMQ_DIST_PORT': str(self.dist_port),
            'ERL_EPMD_PORT': str(self.epmd_port),
            'ERL_EPMD_ADDRESS': procs.LOOPBACK,
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
        self.epmd = self._spawn(
            [_find_epmd(), '-port', str(self.epmd_port),
             '-address', procs.LOOPBACK],
            'epmd.out', self.env, marker=self._epmd_marker)

        def check():
            # epmd silently exits with 0 when its port is taken.
            if not self.epmd.running:
                raise PortInUseError('epmd exited with %s, port %d taken?'
                                     % (self.epmd.returncode,
                                        self.epmd_port))

        # The socket must be epmd's own: a port taken by someone else
        # accepts connections too.
        self._wait_ready('epmd on port %d' % self.epmd_port,
                         lambda: _listens(self.epmd.pid, self.epmd_port),
                         check, timeout=EPMD_TIMEOUT)

    def _spawn_server(self):
        self.server = self._spawn([self._cmd('rabbitmq-server')],
                                  'server.out', self.env, marker=self._marker)

    def _check_running(self):
        if not self.running:
            raise BrokerError('rabbitmq-server exited during startup')

    def _node_ready(self):
        # check_running, unlike ping, fails until the rabbit application
        # (and thus the AMQP listener) is fully up.
        try:
            result = subprocess.run(
                [self._cmd('rabbitmq-diagnostics'), '-q', 'check_running'],
                env=self.env, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=30)
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0 and _port_open(self.port)

    def _wait_running(self):
        self.start_seconds = self._wait_ready(
            'RabbitMQ node %s' % self.nodename, self._node_ready,
            self._check_running, interval=0.5)

    def _log_names(self):
        # The node's log directory holds more than logs, e.g. crash dumps.
        return ['epmd.out', 'server.out', '%s.log' % self.nodename]

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

    def _stop_server(self, command):
        """Stop the node with rabbitmqctl command, else with signals."""
        if self.server is None:
            return

        def ask():
            try:
                self.ctl(command, timeout=procs.STOP_TIMEOUT)
            except (subprocess.CalledProcessError,
                    subprocess.TimeoutExpired):
                pass

        # The group: the node's Erlang VM and its helpers.
        self.server.stop(ask, group=True)

    def _stop(self):
        # shutdown, unlike stop, also waits for the OS process.
        self._stop_server('shutdown')
        self.server = None
        # epmd is a separate session and outlives the node by design.
        if self.epmd is not None:
            self.epmd.kill()
            self.epmd = None

    def restart(self):
        """Stop the node and start it again on the same ports and data.

        epmd keeps running, so this simulates a broker outage as clients
        see it: connections drop and the port refuses until it is back.
        """
        if self.tmpdir is None:
            raise BrokerError('broker not started')
        self._stop_server('stop')
        if not self.epmd.running:
            self._start_epmd()
        self._spawn_server()
        try:
            self._wait_running()
        except BrokerError as exc:
            raise BrokerError('%s\n%s' % (exc, self.log_tail()))

    def state(self):
        """Return a JSON-serialisable description of the running broker."""
        return {
            'transport_url': self.transport_url,
            'port': self.port,
            'dist_port': self.dist_port,
            'epmd_port': self.epmd_port,
            'nodename': self.nodename,
            'tmpdir': self.tmpdir,
            'pids': {'server': self.server.pid, 'epmd': self.epmd.pid},
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
        broker.server = procs.Process(state['pids']['server'], broker._marker)
        broker.epmd = procs.Process(state['pids']['epmd'],
                                    broker._epmd_marker)
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


_SHARED = procs.ProcessWide(_start_shared)


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


def main(argv=None):
    return procs.state_file_main(
        PrivateBroker, lambda broker: broker.transport_url,
        prog='python -m esi_event_actions.tests.functional.harness.broker',
        description='Start or stop a private RabbitMQ broker for tests.',
        argv=argv)


if __name__ == '__main__':
    sys.exit(main())
