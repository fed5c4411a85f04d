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

"""Private PostgreSQL servers for functional tests.

Each server is a throw-away cluster created with initdb under one temporary
directory, listening on a free loopback port with its Unix socket in that
directory, so that several servers (one per test worker) can coexist with
each other and with any system-wide PostgreSQL. Durability is switched off:
nothing in it is meant to survive the run.

PostgreSQL refuses to run as root; when the tests run as root the server
runs as the ``postgres`` system user created by the distribution package.

Set ``ESI_TEST_POSTGRES_URL`` to a server URL such as
``postgresql+psycopg://postgres@127.0.0.1:5432/`` to use an existing server
instead. A shell test runner can start one server for a whole run with::

    python -m esi_event_actions.tests.functional.harness.postgres start \
        --state-file F
    python -m esi_event_actions.tests.functional.harness.postgres stop \
        --state-file F
"""

import glob
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from urllib import parse
import uuid

import fixtures

from esi_event_actions.tests.functional.harness import procs


POSTGRES_URL_ENV = 'ESI_TEST_POSTGRES_URL'
BIN_DIR_ENV = 'PG_BIN_DIR'
# Debian and Ubuntu keep the server binaries out of PATH, one directory per
# major version; other distributions put them on PATH.
DEBIAN_BIN_DIRS = '/usr/lib/postgresql/*/bin'
# The system user of the distribution package, to run the server as when
# the tests run as root.
SYSTEM_USER = 'postgres'
SUPERUSER = 'postgres'
DRIVER = 'postgresql+psycopg'
DEFAULT_PORT = 5432

CLIENT_TIMEOUT = 60
# How long the postmaster gets for an immediate shutdown after a fast one
# timed out.
QUIT_TIMEOUT = 10
# Longer database names are silently truncated by the server.
MAX_NAME_BYTES = 63
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107

# Durability costs time and buys nothing in a cluster thrown away after the
# run. The default of 100 connections is also initdb's guess on hosts with
# little shared memory; every service process under test has its own pool.
SERVER_SETTINGS = (
    'fsync=off',
    'synchronous_commit=off',
    'full_page_writes=off',
    'max_connections=200',
)

# How the postmaster reports that it could not listen on the port.
_PORT_IN_USE = re.compile(
    'could not bind|could not create any TCP/IP sockets|'
    'address already in use', re.I)


class PostgresError(procs.ServerError):
    """A server failed to start or to stop, or a client command failed."""


class PortInUseError(PostgresError):
    """A port picked as free was taken before the server bound it."""


def _version_key(bin_dir):
    version = os.path.basename(os.path.dirname(bin_dir))
    try:
        return tuple(int(part) for part in version.split('.'))
    except ValueError:
        return ()


def _bin_dir(tool='postgres'):
    """Return the directory of the newest PostgreSQL that has ``tool``."""
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        if not os.access(os.path.join(override, tool), os.X_OK):
            raise PostgresError('%s=%s has no %s'
                                % (BIN_DIR_ENV, override, tool))
        return override
    # Sort numerically: '9.6' is older than '15'.
    for bin_dir in sorted(glob.glob(DEBIAN_BIN_DIRS), key=_version_key,
                          reverse=True):
        if os.access(os.path.join(bin_dir, tool), os.X_OK):
            return bin_dir
    found = shutil.which(tool)
    if found:
        return os.path.dirname(found)
    raise PostgresError('PostgreSQL %s not found: install the postgresql '
                        'package or set %s' % (tool, BIN_DIR_ENV))


def _clean_env(extra=None):
    # libpq and the server read PGHOST, PGPORT, PGDATA, PGOPTIONS and more
    # from the environment.
    return procs.environ(lambda name: name.startswith('PG'), extra)


def _run_as():
    """Return the passwd entry to run the server as, or None for us."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresError('PostgreSQL refuses to run as root and there is '
                            'no %r user to run it as' % SYSTEM_USER)


def _user_kwargs(user):
    if user is None:
        return {}
    # Popen switches the ids in C between fork and exec: unlike preexec_fn
    # this is safe in a threaded process, and unlike runuser or su it needs
    # neither PAM nor a setuid helper. extra_groups drops root's groups.
    return {'user': user.pw_uid, 'group': user.pw_gid, 'extra_groups': []}


def _searchable_by(path, user):
    """Whether user may traverse every directory above path (mode bits)."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        st = os.stat(parent)
        if st.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
        if parent == os.path.dirname(parent):
            return True
        parent = os.path.dirname(parent)


def _server_pids(data_dir):
    """Return the pids of every live process of the server on data_dir.

    Backends and auxiliary processes make themselves session leaders and
    overwrite their command line and environment, so neither the process
    group nor a marker finds them; but all of them run in the data
    directory, including orphans of a postmaster that died.
    """
    if not os.path.isdir('/proc'):
        return []
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink('/proc/%s/cwd' % entry)
            exe = os.path.basename(os.readlink('/proc/%s/exe' % entry))
        except OSError:
            continue
        # exe ends in ' (deleted)' after a package upgrade.
        if cwd == data_dir and exe.startswith('postgres'):
            state = procs.proc_state(int(entry))
            if state and state[0] not in ('Z', 'X'):
                pids.append(int(entry))
    return pids


class _Server(object):
    """What tests need from a server: URLs and databases.

    Subclasses set host, port, user and password.
    """

    driver = DRIVER
    host = procs.LOOPBACK
    port = None
    user = SUPERUSER
    password = None

    @property
    def server_url(self):
        """The URL of the server itself, without a database name."""
        return self.url('')

    def url(self, dbname):
        """Return the SQLAlchemy URL of database dbname on this server."""
        netloc = parse.quote(self.user, safe='')
        if self.password is not None:
            netloc += ':' + parse.quote(self.password, safe='')
        host = self.host
        if ':' in host:
            host = '[%s]' % host
        return '%s://%s@%s:%d/%s' % (self.driver, netloc, host, self.port,
                                     parse.quote(dbname, safe=''))

    def _client(self, tool, args, timeout=CLIENT_TIMEOUT):
        extra = {'LC_ALL': 'C', 'LANG': 'C'}
        if self.password is not None:
            extra['PGPASSWORD'] = self.password
        # -w: fail rather than wait for a password nobody will type.
        argv = [os.path.join(_bin_dir(tool), tool),
                '-h', self.host, '-p', str(self.port), '-U', self.user,
                '-w'] + [str(a) for a in args]
        try:
            result = subprocess.run(
                argv, env=_clean_env(extra), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                universal_newlines=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PostgresError('%s timed out after %ss' % (tool, timeout))
        if result.returncode != 0:
            raise PostgresError('%s exited with %d: %s'
                                % (tool, result.returncode,
                                   result.stderr.strip()))
        return result.stdout

    def psql(self, sql, dbname='postgres'):
        """Run SQL with psql on database dbname and return its output.

        The output is unaligned and without headers; the first failing
        statement raises :class:`PostgresError`.
        """
        # -X: ignore the caller's ~/.psqlrc.
        return self._client('psql', ['-X', '-q', '-A', '-t',
                                     '-v', 'ON_ERROR_STOP=1',
                                     '-d', dbname, '-c', sql])

    def create_database(self, name):
        """Create database name and return its SQLAlchemy URL."""
        if len(name.encode('utf-8')) > MAX_NAME_BYTES:
            raise ValueError('database name longer than %d bytes: %s'
                             % (MAX_NAME_BYTES, name))
        # '--' lets a name start with '-'; createdb quotes it itself.
        self._client('createdb', ['--', name])
        return self.url(name)

    def drop_database(self, name):
        """Drop database name, closing any connection to it first."""
        # --force (PostgreSQL 13+) ends sessions a test left open, which
        # would otherwise make DROP DATABASE fail.
        self._client('dropdb', ['--if-exists', '--force', '--', name])

    def stop(self):
        pass


class PrivatePostgres(procs.PrivateServer, _Server):
    """A private PostgreSQL server for tests.

    The cluster listens on a free loopback port and keeps its data, Unix
    socket and logs under a temporary directory, so it neither needs nor
    disturbs a system PostgreSQL. The superuser ``postgres`` connects
    without a password.

    :param settings: the server's ``-c`` settings; by default
        :data:`SERVER_SETTINGS`, without durability
    """

    error = PostgresError
    tmp_prefix = 'esi-postgres-'
    start_attempts = 3

    def __init__(self, base_dir=None, start_timeout=procs.START_TIMEOUT,
                 settings=SERVER_SETTINGS):
        super(PrivatePostgres, self).__init__(base_dir, start_timeout)
        self.settings = settings
        self.data_dir = None
        self.bin_dir = None
        self.port = None
        self.start_seconds = None
        self.postmaster = None
        self._user = None

    @property
    def running(self):
        return self.postmaster is not None and self.postmaster.running

    def _cmd(self, name):
        return os.path.join(self.bin_dir, name)

    def _start(self):
        begin = time.monotonic()
        self._prepare()
        self._initdb()
        self._spawn_server()
        self.start_seconds = self._wait_ready(
            'PostgreSQL on port %d' % self.port, self._ready,
            self._check_running, begin=begin)

    def _retry(self, attempt, exc):
        # Free ports are picked before they are bound, so another process
        # may grab one in between; simply pick again.
        return isinstance(exc, PortInUseError)

    def _prepare(self):
        self.bin_dir = _bin_dir()
        self._user = _run_as()
        self.port = procs.free_ports(1)[0]
        self._make_tmpdir()
        self.data_dir = self._path('data')
        if self._user is not None:
            # mkdtemp's 0700 directory is then the server's own; the logs
            # are opened here and handed over as file descriptors.
            os.chown(self.tmpdir, self._user.pw_uid, self._user.pw_gid)

    def _server_env(self):
        # English messages, whatever the caller's locale: _PORT_IN_USE
        # matches them.
        return _clean_env({'LC_ALL': 'C', 'LANG': 'C'})

    def _initdb(self):
        log = open(self._path('log', 'initdb.log'), 'ab')
        with log:
            # cwd: initdb and postgres fail if they cannot chdir back to a
            # working directory that the postgres user may not enter.
            result = subprocess.run(
                [self._cmd('initdb'), '-D', self.data_dir,
                 '--auth=trust', '--username=%s' % SUPERUSER,
                 '--encoding=UTF8', '--locale=C', '--no-sync'],
                env=self._server_env(), cwd=self.tmpdir,
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, timeout=self.start_timeout,
                **_user_kwargs(self._user))
        if result.returncode != 0:
            hint = ''
            if (self._user is not None
                    and not _searchable_by(self.tmpdir, self._user)):
                hint = (' (user %s cannot reach %s: point TMPDIR at a '
                        'directory it may traverse)'
                        % (self._user.pw_name, self.tmpdir))
            raise PostgresError('initdb exited with %d%s'
                                % (result.returncode, hint))

    def _socket_dir(self):
        # A too long socket path is fatal; TCP is all the tests use.
        sock = self._path('.s.PGSQL.%d' % self.port)
        if len(sock.encode()) > MAX_SOCKET_PATH:
            return ''
        return self.tmpdir

    def _spawn_server(self):
        argv = [self._cmd('postgres'), '-D', self.data_dir,
                '-h', procs.LOOPBACK, '-p', str(self.port),
                '-k', self._socket_dir()]
        for setting in self.settings:
            argv += ['-c', setting]
        # The postmaster, unlike its children, keeps its command line.
        self.postmaster = self._spawn(argv, 'postgres.log',
                                      self._server_env(),
                                      marker=self.data_dir,
                                      **_user_kwargs(self._user))

    def _pid_file_status(self):
        # Line 8 of postmaster.pid turns 'ready' once the server accepts
        # connections (PostgreSQL 10+); pg_ctl start -w waits for it too.
        try:
            with open(os.path.join(self.data_dir, 'postmaster.pid')) as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        if len(lines) < 8 or lines[0].strip() != str(self.postmaster.pid):
            return None
        return lines[7].strip()

    def _isready(self):
        try:
            result = subprocess.run(
                [self._cmd('pg_isready'), '-q', '-h', procs.LOOPBACK,
                 '-p', str(self.port), '-U', SUPERUSER, '-d', 'postgres',
                 '-t', '5'],
                env=self._server_env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=30)
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def _ready(self):
        # The pid file proves that the answer comes from our server, not
        # from another one that took the port first.
        return self._pid_file_status() == 'ready' and self._isready()

    def _check_running(self):
        if not self.running:
            if _PORT_IN_USE.search(self.log_tail()):
                raise PortInUseError('port %d taken' % self.port)
            raise PostgresError('postgres exited during startup')

    def _kill_leftovers(self):
        """SIGKILL whatever still runs in the data directory."""
        data_dir = os.path.realpath(self.data_dir)
        for _ in range(3):
            pids = _server_pids(data_dir)
            if not pids:
                return
            for pid in pids:
                procs.send_signal(pid, signal.SIGKILL)
            procs.wait_until(lambda: not _server_pids(data_dir), 5,
                             interval=0.1)

    def _stop(self):
        # SIGINT is pg_ctl stop -m fast: roll back, checkpoint, exit. It
        # needs no pg_ctl run as the server's user, and SIGQUIT is
        # -m immediate for a server that does not manage that in time.
        for sig, timeout in ((signal.SIGINT, procs.STOP_TIMEOUT),
                             (signal.SIGQUIT, QUIT_TIMEOUT)):
            if not self.running:
                break
            self.postmaster.signal(sig)
            self.postmaster.wait(timeout)
        # Backends make themselves session leaders: no process group holds
        # them all.
        if self.data_dir:
            self._kill_leftovers()
        if self.postmaster is not None:
            self.postmaster.reap()
        self.postmaster = None
        self.data_dir = None

    def state(self):
        """Return a JSON-serialisable description of the running server."""
        return {
            'server_url': self.server_url,
            'port': self.port,
            'tmpdir': self.tmpdir,
            'data_dir': self.data_dir,
            'bin_dir': self.bin_dir,
            'pid': self.postmaster.pid,
            'user': self._user.pw_name if self._user else None,
        }

    @classmethod
    def from_state(cls, state):
        """Rebuild a server started elsewhere, e.g. to stop it."""
        server = cls()
        server.port = state['port']
        server.tmpdir = state['tmpdir']
        server.data_dir = state['data_dir']
        server.bin_dir = state['bin_dir']
        server.postmaster = procs.Process(state['pid'], server.data_dir)
        if state['user']:
            server._user = pwd.getpwnam(state['user'])
        return server


class ExternalPostgres(_Server):
    """A server that is managed elsewhere and only known by its URL."""

    def __init__(self, server_url):
        parts = parse.urlsplit(server_url)
        # Keep the caller's driver: the URL is theirs.
        self.driver = parts.scheme or DRIVER
        self.host = parts.hostname or procs.LOOPBACK
        self.port = parts.port or DEFAULT_PORT
        if parts.username:
            self.user = parse.unquote(parts.username)
        if parts.password is not None:
            self.password = parse.unquote(parts.password)


def _start_shared():
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        return ExternalPostgres(url)
    return PrivatePostgres().start()


_SHARED = procs.ProcessWide(_start_shared)


def shared_postgres():
    """Return the server shared by all tests of this process.

    Uses ``$ESI_TEST_POSTGRES_URL`` if set; otherwise starts a
    :class:`PrivatePostgres` on first use and stops it at interpreter exit.
    """
    return _SHARED.get()


class PostgresFixture(fixtures.Fixture):
    """Provide the URL of a fresh, empty database to a test.

    The database lives on the process-wide :func:`shared_postgres` and is
    dropped at cleanup. Pass ``private=True`` for a dedicated server,
    stopped at cleanup, when a test disrupts it.
    """

    def __init__(self, private=False):
        super(PostgresFixture, self).__init__()
        self.private = private
        self.server = None
        self.dbname = None
        self.url = None

    def _setUp(self):
        if self.private:
            self.server = PrivatePostgres()
            self.addCleanup(self.server.stop)
            self.server.start()
        else:
            self.server = shared_postgres()
        # Unique across test workers sharing one server via the URL env.
        self.dbname = 'esi_test_%s' % uuid.uuid4().hex
        self.url = self.server.create_database(self.dbname)
        if not self.private:
            # Databases would otherwise pile up on disk for the whole run.
            self.addCleanup(self.server.drop_database, self.dbname)


def main(argv=None):
    return procs.state_file_main(
        PrivatePostgres, lambda server: server.server_url,
        prog='python -m esi_event_actions.tests.functional.harness.postgres',
        description='Start or stop a private PostgreSQL server for tests.',
        argv=argv)


if __name__ == '__main__':
    sys.exit(main())
