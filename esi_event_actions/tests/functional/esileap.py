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

"""The real esi-leap 1.0 API and manager as a peer for functional tests.

esi-leap runs from PyPI (``esi-leap==1.0.0``) in a virtualenv of its own,
because its requirements clash with ours. The virtualenv is built on first
use, once per machine, under ``$ESI_LEAP_VENV`` or else
``~/.cache/esi-event-actions/`` (``$XDG_CACHE_HOME`` is honoured); a file
lock lets test processes race for it safely. To build it ahead of a run::

    python -m esi_event_actions.tests.functional.esileap install

Each :class:`EsiLeap` runs ``esi-leap-api`` and ``esi-leap-manager`` (the
latter with a short periodic interval) on loopback, with a SQLite
database, ``dummy_node`` resources described by JSON files, no Keystone
and no Ironic (a stub answers for both, see
:mod:`esi_event_actions.tests.functional.esileap_stub`) and notifications
on a RabbitMQ, by default the process-wide
:func:`~esi_event_actions.tests.functional.broker.shared_broker`. Tests
drive it over REST as owner or lessee, which makes esi-leap emit genuine
``esi_leap.lease.*`` notifications and a genuine event history
(``GET /v1/events``).

Every instance publishes on its own topic (:attr:`EsiLeap.topic`) unless
told otherwise, so that test workers sharing one broker never consume
each other's notifications. For a manual look::

    python -m esi_event_actions.tests.functional.esileap run
"""

import argparse
import datetime
import fcntl
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from urllib import error as urlerror
from urllib import parse
from urllib import request as urlrequest
import uuid

import fixtures

from esi_event_actions.tests.functional import broker
from esi_event_actions.tests.functional import esileap_stub
from esi_event_actions.tests.functional import shared


ESI_LEAP_VERSION = '1.0.0'
VENV_ENV = 'ESI_LEAP_VENV'
# esi-leap's own requirements, minus what it needs only in production;
# without both caps pip backtracks for minutes or picks releases that no
# longer work with esi-leap 1.0.
REQUIREMENTS = (
    'oslo.messaging',
    'oslo.versionedobjects',
    'osprofiler',
    'keystoneauth1',
    'oslo.db<18',
    'python-keystoneclient',
    'python-ironicclient',
    'pecan',
    'WSME',
    'keystonemiddleware',
    'oslo.policy',
    'SQLAlchemy<2.0',
)
INSTALL_TIMEOUT = 1800
# Marks a virtualenv this module built completely, with what it holds.
READY_MARKER = '.esi-event-actions-ready'
# Marks one this module is building (or was, when it died).
BUILDING_MARKER = '.esi-event-actions-building'
PROBE = ('import esi_leap.api.service, esi_leap.manager.service, '
         'esi_leap.db.sqlalchemy.api')

TOPIC = 'esi_leap_versioned_notifications'
EXCHANGE = 'openstack'
PUBLISHER = 'esi-leap-manager'
EVENT_PREFIX = 'esi_leap.lease.'
RESOURCE_TYPE = 'dummy_node'
# Seconds between the manager's periodic jobs (esi-leap's default is 60).
EVENT_INTERVAL = 2

LOOPBACK = '127.0.0.1'
START_TIMEOUT = 60
STOP_TIMEOUT = 30
REQUEST_TIMEOUT = 30
DBSYNC_TIMEOUT = 120
TIME_FORMAT = '%Y-%m-%dT%H:%M:%S'

SERVICE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              'esileap_service.py')

_PORT_IN_USE = re.compile('address already in use|could not bind', re.I)

CONFIG = """\
[DEFAULT]
# The suffix of the notifications' publisher_id, and the manager's RPC
# server name.
host = {host}
transport_url = {transport_url}
debug = {debug}
use_stderr = false

[api]
host_ip = {loopback}
port = {api_port}
api_workers = 1
default_resource_type = {resource_type}

[database]
connection = sqlite:///{db}
sqlite_synchronous = false

[pecan]
auth_enable = false

[dummy_node]
dummy_node_dir = {nodes}

[notification]
notification_level = info
versioned_notifications_topics = {topic}

[oslo_messaging_notifications]
driver = messagingv2
transport_url = {transport_url}

[oslo_concurrency]
lock_path = {locks}

[keystone]
auth_type = none
endpoint = {keystone}

[ironic]
auth_type = none
endpoint = {ironic}
"""


class EsiLeapError(Exception):
    """esi-leap could not be installed, started or stopped."""


class ApiError(EsiLeapError):
    """esi-leap's API answered with an error status.

    :ivar status: the HTTP status code
    :ivar body: the decoded body (esi-leap sends ``{"faultstring": ...}``)
    """

    def __init__(self, method, path, status, body):
        super(ApiError, self).__init__('%s %s: HTTP %d: %s'
                                       % (method, path, status, body))
        self.status = status
        self.body = body


def _cache_dir():
    base = (os.environ.get('XDG_CACHE_HOME')
            or os.path.join(os.path.expanduser('~'), '.cache'))
    return os.path.join(base, 'esi-event-actions')


def venv_dir():
    """Return where esi-leap's virtualenv is, or is to be built."""
    path = os.environ.get(VENV_ENV)
    if path:
        return os.path.abspath(os.path.expanduser(path))
    # One per esi-leap release and Python version: a venv is bound to the
    # interpreter it was made with.
    return os.path.join(_cache_dir(), 'esi-leap-%s-py%d.%d'
                        % ((ESI_LEAP_VERSION,) + sys.version_info[:2]))


def _spec():
    return {
        'esi-leap': ESI_LEAP_VERSION,
        'requirements': list(REQUIREMENTS),
        'python': '%d.%d' % sys.version_info[:2],
    }


def _venv_python(path):
    return os.path.join(path, 'bin', 'python')


def _is_ready(path):
    try:
        with open(os.path.join(path, READY_MARKER)) as f:
            return json.load(f) == _spec()
    except (OSError, ValueError):
        return False


def _probe(path):
    python = _venv_python(path)
    if not os.access(python, os.X_OK):
        return False
    try:
        result = subprocess.run(
            [python, '-I', '-c', PROBE], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=_clean_env(), timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def _clean_env(extra=None):
    # oslo.config reads OS_<GROUP>__<OPT> variables, PYTHON* variables
    # would mix our packages into esi-leap's, and a proxy would swallow
    # esi-leap's requests to the loopback stub.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('OS_', 'PYTHON', 'VIRTUAL_ENV'))
           and not k.lower().endswith('_proxy')}
    env.update(extra or {})
    return env


def _build(path, log_path, lock_fd):
    """Create the virtualenv at path and install esi-leap into it.

    The children inherit lock_fd, so that a pip orphaned by our death
    still holds the lock until it exits: no other process starts over
    while it writes to path.
    """
    if os.path.lexists(path):
        shutil.rmtree(path)
    # Mark the directory before anything else goes in: one without a
    # marker is never taken for ours, and never removed.
    os.mkdir(path)
    with open(os.path.join(path, BUILDING_MARKER), 'w') as f:
        f.write('%d\n' % os.getpid())
    with open(log_path, 'ab') as log:
        def run(argv):
            log.write(('$ %s\n' % ' '.join(argv)).encode())
            log.flush()
            try:
                result = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, env=_clean_env(),
                    pass_fds=(lock_fd,), timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise EsiLeapError('%s timed out' % argv[0])
            if result.returncode != 0:
                raise EsiLeapError('%s exited with %d'
                                   % (' '.join(argv[:4]), result.returncode))

        # sys.executable may itself be a venv's: venv then builds on the
        # base interpreter, which is what we want.
        run([sys.executable, '-m', 'venv', path])
        pip = [_venv_python(path), '-m', 'pip', 'install',
               '--disable-pip-version-check', '--no-input']
        run(pip + list(REQUIREMENTS))
        # esi-leap's own pins (old oslo.* and SQLAlchemy releases) do not
        # install on current Pythons; its code runs with the above.
        run(pip + ['--no-deps', 'esi-leap==%s' % ESI_LEAP_VERSION])
    if not _probe(path):
        raise EsiLeapError('esi-leap installed in %s does not import' % path)
    marker = os.path.join(path, READY_MARKER)
    with open(marker + '.tmp', 'w') as f:
        json.dump(_spec(), f, sort_keys=True)
    os.replace(marker + '.tmp', marker)
    os.remove(os.path.join(path, BUILDING_MARKER))


def ensure_venv():
    """Return the path of a virtualenv with esi-leap, building it if needed.

    Safe to call from several processes at once: one builds, the others
    wait for it. A virtualenv named by ``$ESI_LEAP_VENV`` that this module
    did not build is used as it is if esi-leap imports there, and never
    modified.
    """
    path = venv_dir()
    if _is_ready(path):
        return path
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    lock_path = path.rstrip(os.sep) + '.lock'
    with open(lock_path, 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_ready(path):
                return path
            ours = any(os.path.exists(os.path.join(path, marker))
                       for marker in (READY_MARKER, BUILDING_MARKER))
            if os.path.lexists(path) and not ours:
                if _probe(path):
                    return path
                raise EsiLeapError('%s exists but has no esi-leap %s; set '
                                   '%s to a new directory'
                                   % (path, ESI_LEAP_VERSION, VENV_ENV))
            log_path = path.rstrip(os.sep) + '.install.log'
            if os.path.exists(log_path):
                os.remove(log_path)
            try:
                _build(path, log_path, lock.fileno())
            except BaseException as exc:
                shutil.rmtree(path, ignore_errors=True)
                if isinstance(exc, EsiLeapError):
                    raise EsiLeapError('%s (installing into %s)\n%s'
                                       % (exc, path, broker._tail(log_path)))
                raise
            return path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def utcnow():
    """The current UTC time, naive and to the second, as esi-leap wants."""
    return datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None, microsecond=0)


def timestamp(value):
    """Format a time for esi-leap's API.

    esi-leap compares naive UTC datetimes: an aware datetime is converted
    to UTC and stripped, a naive one is taken as UTC, a string is passed
    as is. Never send an offset or ``Z``: esi-leap would then compare an
    aware with a naive datetime and fail.
    """
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.strftime(TIME_FORMAT)


def full_event_type(event_type):
    """``fulfill.end`` -> ``esi_leap.lease.fulfill.end``."""
    if event_type.startswith('esi_leap.'):
        return event_type
    return EVENT_PREFIX + event_type


class EsiLeap(object):
    """A real esi-leap API and manager for tests.

    :param transport_url: the RabbitMQ esi-leap publishes on
    :param topic: the notification topic; a unique one by default, pass
        :data:`TOPIC` for esi-leap's default
    :param host: ``[DEFAULT] host``, the suffix of the publisher_id
    :param event_interval: seconds between the manager's periodic jobs
        (fulfilment and expiry happen on them)
    :param debug: make esi-leap log at debug level
    :param strict_projects: have the Keystone stub answer 404 for
        project ids not added with :meth:`add_project`
    """

    def __init__(self, transport_url, topic=None, host=None,
                 event_interval=EVENT_INTERVAL, debug=False,
                 strict_projects=False, base_dir=None,
                 start_timeout=START_TIMEOUT):
        self.transport_url = transport_url
        suffix = uuid.uuid4().hex[:8]
        self.topic = topic or '%s_%s' % (TOPIC, suffix)
        self.host = host or 'esi-leap-test-%s' % suffix
        self.event_interval = event_interval
        self.debug = debug
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.stub = esileap_stub.KeystoneIronicStub(strict=strict_projects)
        self.venv = None
        self.tmpdir = None
        self.api_port = None
        self.owner_id = None
        self.lessee_id = None
        self.timings = {}
        self._procs = {}
        self._opener = urlrequest.build_opener(urlrequest.ProxyHandler({}))

    # What tests point their code at.

    @property
    def api_url(self):
        """The API's root URL, e.g. ``http://127.0.0.1:41234``."""
        return 'http://%s:%d' % (LOOPBACK, self.api_port)

    @property
    def publisher_id(self):
        return '%s.%s' % (PUBLISHER, self.host)

    @property
    def exchange(self):
        return EXCHANGE

    @property
    def queues(self):
        """The queues (= routing keys) esi-leap declares and publishes to.

        Each exists from the first notification of its priority on; a
        consumer that starts earlier must declare it itself.
        """
        return ['%s.info' % self.topic, '%s.error' % self.topic]

    @property
    def config_file(self):
        return self._path('esi-leap.conf')

    @property
    def node_dir(self):
        return self._path('nodes')

    @property
    def running(self):
        return all(self._alive(name) for name in ('api', 'manager'))

    def _path(self, *parts):
        return os.path.join(self.tmpdir, *parts)

    # Start and stop.

    def start(self):
        """Start the stub, the manager and the API; wait until both run."""
        if self.tmpdir is not None:
            raise EsiLeapError('esi-leap already started')
        begin = time.monotonic()
        try:
            self.venv = ensure_venv()
            self.timings['venv'] = time.monotonic() - begin
            self._prepare()
            self._dbsync()
            self._spawn_manager()
            self._start_api()
            self._wait_manager()
        except BaseException as exc:
            logs = self.log_tail()
            self.stop()
            if isinstance(exc, EsiLeapError):
                raise EsiLeapError('%s\n%s' % (exc, logs))
            raise
        self.timings['start'] = time.monotonic() - begin
        return self

    def _prepare(self):
        self.tmpdir = tempfile.mkdtemp(prefix='esi-leap-', dir=self.base_dir)
        for sub in ('nodes', 'locks', 'log'):
            os.mkdir(self._path(sub))
        self.stub.start()
        self.owner_id = self.stub.add_project('esi-test-owner')
        self.lessee_id = self.stub.add_project('esi-test-lessee')
        self.api_port = broker._free_ports(1)[0]
        self._write_config()

    def _write_config(self):
        def value(text):
            # oslo.config substitutes $name in values.
            return str(text).replace('$', '$$')

        config = CONFIG.format(
            host=value(self.host),
            transport_url=value(self.transport_url),
            debug='true' if self.debug else 'false',
            loopback=LOOPBACK,
            api_port=self.api_port,
            resource_type=RESOURCE_TYPE,
            db=value(self._path('esi-leap.sqlite')),
            nodes=value(self.node_dir),
            topic=value(self.topic),
            locks=value(self._path('locks')),
            keystone=self.stub.keystone_url,
            ironic=self.stub.ironic_url)
        tmp = self.config_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write(config)
        os.replace(tmp, self.config_file)

    def _env(self):
        # esi-leap mixes local and UTC times (datetime.now() beside
        # utcnow()); under UTC they agree.
        return _clean_env({'TZ': 'UTC', 'LC_ALL': 'C.UTF-8',
                           'LANG': 'C.UTF-8'})

    def _dbsync(self):
        begin = time.monotonic()
        log_path = self._path('log', 'dbsync.out')
        with open(log_path, 'ab') as log:
            try:
                result = subprocess.run(
                    [os.path.join(self.venv, 'bin', 'esi-leap-dbsync'),
                     '--config-file', self.config_file, 'create_schema'],
                    env=self._env(), cwd=self.tmpdir,
                    stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, timeout=DBSYNC_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise EsiLeapError('esi-leap-dbsync timed out')
        if result.returncode != 0:
            raise EsiLeapError('esi-leap-dbsync exited with %d'
                               % result.returncode)
        # The manager holds read transactions open; in the default rollback
        # journal mode the API's writes then fail with "database is
        # locked". The mode is stored in the database file.
        db = sqlite3.connect(self._path('esi-leap.sqlite'))
        try:
            mode = db.execute('PRAGMA journal_mode=WAL').fetchone()[0]
        finally:
            db.close()
        if mode.lower() != 'wal':
            raise EsiLeapError('SQLite refused WAL mode (%s)' % mode)
        self.timings['dbsync'] = time.monotonic() - begin

    def _spawn(self, name, argv):
        log = open(self._path('log', '%s.out' % name), 'ab')
        with log:
            # A new session keeps esi-leap out of the caller's process
            # group (no stray terminal signals); its group id is then its
            # pid, which stop() uses as a last resort for the API's worker.
            proc = subprocess.Popen(
                [_venv_python(self.venv), '-I', SERVICE_SCRIPT] + argv
                + ['--parent-pid', str(os.getpid()),
                   '--config-file', self.config_file,
                   '--log-file', self._path('log', '%s.log' % name)],
                env=self._env(), cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self._procs[name] = proc
        return proc

    def _spawn_manager(self):
        self._manager_begin = time.monotonic()
        ready = self._path('manager.ready')
        if os.path.exists(ready):
            os.remove(ready)
        self._spawn('manager', ['manager',
                                '--event-interval', str(self.event_interval),
                                '--ready-file', ready])

    def _wait_manager(self):
        ready = self._path('manager.ready')
        deadline = self._manager_begin + self.start_timeout
        while not os.path.exists(ready):
            if not self._alive('manager'):
                raise EsiLeapError('esi-leap manager exited with %s'
                                   % self._procs['manager'].poll())
            if time.monotonic() > deadline:
                raise EsiLeapError('esi-leap manager not started after %ss'
                                   % self.start_timeout)
            time.sleep(0.05)
        self.timings['manager'] = time.monotonic() - self._manager_begin

    def _start_api(self):
        attempts = 3
        for attempt in range(1, attempts + 1):
            begin = time.monotonic()
            self._spawn('api', ['api'])
            try:
                self._wait_api()
                self.timings['api'] = time.monotonic() - begin
                return
            except EsiLeapError:
                self._stop_process('api')
                # The port was picked free but may have been taken since.
                log = (broker._tail(self._path('log', 'api.log'))
                       + broker._tail(self._path('log', 'api.out')))
                if attempt == attempts or not _PORT_IN_USE.search(log):
                    raise
                self.api_port = broker._free_ports(1)[0]
                self._write_config()

    def _wait_api(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            if not self._alive('api'):
                raise EsiLeapError('esi-leap API exited with %s'
                                   % self._procs['api'].poll())
            try:
                status, body = self.request('GET', '/', timeout=2)
                # The root document proves it is esi-leap on that port.
                if status == 200 and isinstance(body, dict) and \
                        body.get('name') == 'ESI Leap API':
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise EsiLeapError('esi-leap API not answering on %s after '
                                   '%ss' % (self.api_url, self.start_timeout))
            time.sleep(0.1)

    def _alive(self, name):
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def _group_alive(self, pid):
        # Every esi-leap process carries the config file in its command
        # line, so a recycled pid is never mistaken for one of ours.
        return broker._group_alive(pid, self.config_file)

    def _stop_process(self, name, timeout=STOP_TIMEOUT):
        proc = self._procs.pop(name, None)
        if proc is None:
            return
        # SIGTERM: the API's process launcher stops its worker and exits;
        # the manager stops its RPC server and jobs.
        if proc.poll() is None:
            broker._signal(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self._group_alive(proc.pid):
                break
            broker._signal(proc.pid, sig, group=True)
            broker._wait_until(lambda: not self._group_alive(proc.pid), 5,
                               interval=0.1)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self):
        """Stop both services and the stub; remove the temporary directory.

        Safe to call more than once and after a failed start.
        """
        for name in ('api', 'manager'):
            self._stop_process(name)
        self.stub.stop()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def log_tail(self, lines=40):
        """Return the end of every log of this instance, for diagnostics."""
        if self.tmpdir is None or not os.path.isdir(self._path('log')):
            return ''
        parts = []
        for name in sorted(os.listdir(self._path('log'))):
            text = broker._tail(self._path('log', name), lines)
            if text:
                parts.append('--- %s ---\n%s' % (name, text))
        return '\n'.join(parts)

    # Projects and nodes.

    def add_project(self, name=None, project_id=None, parent_id=None):
        """Register a project with the Keystone stub; return its id."""
        return self.stub.add_project(name=name, project_id=project_id,
                                     parent_id=parent_id)

    def add_node(self, node_uuid=None, owner=None, vendor='Dell',
                 properties=None, resource_class='baremetal',
                 provision_state='available', power_state='power off'):
        """Describe a dummy node to esi-leap and return its uuid.

        :param owner: the owning project id (default :attr:`owner_id`)
        :param properties: the node's properties; by default a small
            server of vendor ``vendor``
        """
        node_uuid = node_uuid or str(uuid.uuid4())
        if properties is None:
            properties = {'vendor': vendor, 'cpu_arch': 'x86_64',
                          'cpus': 16, 'memory_mb': 65536, 'local_gb': 500}
        node = {
            'project_owner_id': owner or self.owner_id,
            'resource_class': resource_class,
            'power_state': power_state,
            'provision_state': provision_state,
            'properties': properties,
        }
        path = os.path.join(self.node_dir, node_uuid)
        # Atomic: the manager reads and rewrites these files.
        with open(path + '.tmp', 'w') as f:
            json.dump(node, f)
        os.replace(path + '.tmp', path)
        return node_uuid

    def node(self, node_uuid):
        """Return a dummy node's file as a dict.

        esi-leap adds ``lease_uuid`` and ``project_id`` to it while a lease
        is active.
        """
        with open(os.path.join(self.node_dir, node_uuid)) as f:
            return json.load(f)

    def remove_node(self, node_uuid):
        """Delete a dummy node's file; leases on it then fail to fulfil."""
        try:
            os.remove(os.path.join(self.node_dir, node_uuid))
        except FileNotFoundError:
            pass

    # REST.

    def request(self, method, path, body=None, project_id=None,
                user_id=None, roles=None, query=None,
                timeout=REQUEST_TIMEOUT):
        """Call the API and return ``(status, decoded body)``.

        With authentication off, esi-leap takes the caller's identity from
        ``X-Project-Id``, ``X-User-Id`` and ``X-Roles`` (and lets every
        caller do everything); ``X-Project-Id`` becomes the owner or lessee
        of what is created.
        """
        url = self.api_url + path
        if query:
            query = {k: v for k, v in query.items() if v is not None}
            url += '?' + parse.urlencode(query)
        headers = {'Accept': 'application/json'}
        data = None
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        if project_id:
            headers['X-Project-Id'] = project_id
            headers['X-User-Id'] = user_id or 'user-%s' % project_id[:8]
        elif user_id:
            headers['X-User-Id'] = user_id
        if roles:
            headers['X-Roles'] = ','.join(roles)
        req = urlrequest.Request(url, data=data, headers=headers,
                                 method=method)
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urlerror.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode('utf-8', 'replace')
        return status, decoded

    def _call(self, method, path, **kwargs):
        status, body = self.request(method, path, **kwargs)
        if status >= 400:
            raise ApiError(method, path, status, body)
        return body

    @staticmethod
    def _times(start, end, days=1):
        start = utcnow() if start is None else start
        if end is None:
            if isinstance(start, str):
                raise ValueError('give end with a string start')
            end = start + datetime.timedelta(days=days)
        return timestamp(start), timestamp(end)

    @staticmethod
    def _extra(body, name, purpose, properties):
        for key, val in (('name', name), ('purpose', purpose),
                         ('properties', properties)):
            if val is not None:
                body[key] = val
        return body

    def create_lease(self, node_uuid, project_id=None, start=None, end=None,
                     owner=None, name=None, purpose=None, properties=None):
        """Create a lease on a node as its owner; return the lease.

        :param project_id: the lessee (default :attr:`lessee_id`)
        :param start: datetime (naive = UTC) or string; default now
        :param end: default one day after start
        :param owner: the calling project (default :attr:`owner_id`)
        """
        start, end = self._times(start, end)
        body = {'resource_type': RESOURCE_TYPE, 'resource_uuid': node_uuid,
                'project_id': project_id or self.lessee_id,
                'start_time': start, 'end_time': end}
        return self._call('POST', '/v1/leases',
                          body=self._extra(body, name, purpose, properties),
                          project_id=owner or self.owner_id,
                          roles=['owner'])

    def create_offer(self, node_uuid, start=None, end=None, owner=None,
                     lessee_id=None, name=None, properties=None):
        """Offer a node as its owner; return the offer.

        :param lessee_id: restrict the offer to this project (and its
            children)
        :param end: default one week after start
        """
        start, end = self._times(start, end, days=7)
        body = {'resource_type': RESOURCE_TYPE, 'resource_uuid': node_uuid,
                'start_time': start, 'end_time': end}
        if lessee_id:
            body['lessee_id'] = lessee_id
        return self._call('POST', '/v1/offers',
                          body=self._extra(body, name, None, properties),
                          project_id=owner or self.owner_id,
                          roles=['owner'])

    def claim_offer(self, offer_uuid, start=None, end=None, project_id=None,
                    name=None, purpose=None, properties=None):
        """Claim an offer as a lessee; return the new lease.

        :param project_id: the claiming lessee (default :attr:`lessee_id`)
        """
        start, end = self._times(start, end)
        body = {'start_time': start, 'end_time': end}
        return self._call('POST', '/v1/offers/%s/claim' % offer_uuid,
                          body=self._extra(body, name, purpose, properties),
                          project_id=project_id or self.lessee_id,
                          roles=['lessee'])

    def delete_lease(self, lease_uuid, as_project=None):
        """Cancel a lease (emits delete.start and delete.end at once)."""
        self._call('DELETE', '/v1/leases/%s' % lease_uuid,
                   project_id=as_project or self.owner_id, roles=['owner'])

    def delete_offer(self, offer_uuid, as_project=None):
        self._call('DELETE', '/v1/offers/%s' % offer_uuid,
                   project_id=as_project or self.owner_id, roles=['owner'])

    def lease(self, lease_uuid, as_project=None):
        """Return ``GET /v1/leases/<uuid>``."""
        return self._call('GET', '/v1/leases/%s' % lease_uuid,
                          project_id=as_project)

    def leases(self, as_project=None, **filters):
        """Return the ``leases`` of ``GET /v1/leases`` with filters."""
        return self._call('GET', '/v1/leases', project_id=as_project,
                          query=filters)['leases']

    def offer(self, offer_uuid, as_project=None):
        return self._call('GET', '/v1/offers/%s' % offer_uuid,
                          project_id=as_project)

    def events(self, last_event_id=0, as_project=None, **filters):
        """Return ``GET /v1/events`` as decoded, ``{"events": [...]}``.

        Filters: ``event_type``, ``resource_type``, ``resource_uuid``,
        ``lessee_or_owner_id``, ``last_event_time``. The rows come in no
        guaranteed order. With authentication off every caller sees every
        event: filter with ``lessee_or_owner_id``.
        """
        if last_event_id:
            filters['last_event_id'] = last_event_id
        if isinstance(filters.get('last_event_time'), datetime.datetime):
            filters['last_event_time'] = timestamp(filters['last_event_time'])
        return self._call('GET', '/v1/events', project_id=as_project,
                          query=filters)

    def wait_for_event(self, event_type, lease_uuid, timeout=None,
                       last_event_id=0):
        """Wait for an event about a lease in the history; return it.

        :param event_type: e.g. ``fulfill.end`` or the full
            ``esi_leap.lease.fulfill.end``
        :param timeout: seconds; by default three manager intervals plus
            ten seconds
        """
        if timeout is None:
            timeout = 3 * self.event_interval + 10
        event_type = full_event_type(event_type)

        def find():
            rows = self.events(last_event_id=last_event_id,
                               event_type=event_type)['events']
            found = [e for e in rows if e['object_uuid'] == lease_uuid]
            return min(found, key=lambda e: e['id']) if found else None

        return _poll(find, timeout,
                     '%s of lease %s' % (event_type, lease_uuid))

    def wait_for_lease_status(self, lease_uuid, status, timeout=None):
        """Wait until ``GET /v1/leases/<uuid>`` shows status; return it."""
        if timeout is None:
            timeout = 3 * self.event_interval + 10

        def find():
            lease = self.lease(lease_uuid)
            return lease if lease['status'] == status else None

        return _poll(find, timeout, 'lease %s %s' % (lease_uuid, status))

    def state(self):
        """Return a JSON-serialisable description of this instance."""
        return {
            'api_url': self.api_url,
            'transport_url': self.transport_url,
            'exchange': self.exchange,
            'topic': self.topic,
            'queues': self.queues,
            'publisher_id': self.publisher_id,
            'owner_id': self.owner_id,
            'lessee_id': self.lessee_id,
            'tmpdir': self.tmpdir,
            'config_file': self.config_file,
            'venv': self.venv,
            'pids': {name: proc.pid for name, proc in self._procs.items()},
        }


def _poll(predicate, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise EsiLeapError('timed out after %ss waiting for %s'
                               % (timeout, what))
        time.sleep(interval)


def _start_shared():
    server = EsiLeap(broker.shared_broker().transport_url)
    server.start()
    return server


_SHARED = shared.ProcessWide(_start_shared)


def shared_esi_leap():
    """Return the esi-leap shared by all tests of this process.

    It publishes on :func:`broker.shared_broker` and is started on first
    use and stopped at interpreter exit. Tests sharing it must keep to
    their own nodes and projects (:meth:`EsiLeap.add_node`,
    :meth:`EsiLeap.add_project`) and filter what they read by them.
    """
    return _SHARED.get()


class EsiLeapFixture(fixtures.Fixture):
    """Provide a running esi-leap to a test.

    By default this is the process-wide :func:`shared_esi_leap`. Pass
    ``private=True`` (and any :class:`EsiLeap` argument) for a dedicated
    one, stopped at cleanup, e.g. on a private broker or a given topic.

    :ivar esi_leap: the :class:`EsiLeap`
    :ivar api_url: its API's root URL
    :ivar topic: the topic its notifications go to
    """

    def __init__(self, private=False, transport_url=None, **kwargs):
        super(EsiLeapFixture, self).__init__()
        if kwargs and not private:
            raise ValueError('options need private=True')
        self.private = private
        self.transport_url = transport_url
        self.kwargs = kwargs
        self.esi_leap = None
        self.api_url = None
        self.topic = None

    def _setUp(self):
        if self.private:
            url = self.transport_url or broker.shared_broker().transport_url
            self.esi_leap = EsiLeap(url, **self.kwargs)
            self.addCleanup(self.esi_leap.stop)
            self.esi_leap.start()
        else:
            self.esi_leap = shared_esi_leap()
        self.transport_url = self.esi_leap.transport_url
        self.api_url = self.esi_leap.api_url
        self.topic = self.esi_leap.topic


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m esi_event_actions.tests.functional.esileap',
        description='Install, or run in the foreground, esi-leap %s for '
                    'tests.' % ESI_LEAP_VERSION)
    sub = parser.add_subparsers(dest='action', required=True)
    sub.add_parser('install', help='build the virtualenv if needed and '
                   'print its path')
    run = sub.add_parser('run', help='run esi-leap until interrupted')
    run.add_argument('--transport-url',
                     help='RabbitMQ to publish on (default: $%s, else a '
                     'private broker)' % broker.TRANSPORT_URL_ENV)
    run.add_argument('--topic', default=TOPIC)
    run.add_argument('--event-interval', type=float, default=EVENT_INTERVAL)
    args = parser.parse_args(argv)

    if args.action == 'install':
        begin = time.monotonic()
        path = ensure_venv()
        sys.stderr.write('ready in %.1fs\n' % (time.monotonic() - begin))
        print(path)
        return 0

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rabbit = None
    url = args.transport_url or os.environ.get(broker.TRANSPORT_URL_ENV)
    server = None
    try:
        if not url:
            rabbit = broker.PrivateBroker().start()
            url = rabbit.transport_url
        server = EsiLeap(url, topic=args.topic,
                         event_interval=args.event_interval)
        server.start()
        print(json.dumps(dict(server.state(), timings=server.timings),
                         indent=2, sort_keys=True), flush=True)
        while not stop.wait(1):
            if not server.running:
                sys.stderr.write(server.log_tail())
                return 1
    finally:
        if server is not None:
            server.stop()
        if rabbit is not None:
            rabbit.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
