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

"""The real esi-leap 1.0 API and manager, run for functional tests.

:class:`EsiLeap` runs ``esi-leap-api`` and ``esi-leap-manager`` (through
:mod:`.launcher`, the latter with a short periodic interval) from
esi-leap's own virtualenv (:mod:`.venv`) on loopback, with a
SQLite database, ``dummy_node`` resources described by JSON files, no
Keystone and no Ironic (:mod:`.stub` answers for both) and
notifications on a RabbitMQ. Tests call its API through the methods of
:class:`.client.EsiLeapClient`.
"""

import os
import re
import sqlite3
import subprocess
import time
import uuid

from esi_event_actions.tests.functional.harness import procs
from esi_event_actions.tests.functional.harness.real_esi_leap import client
from esi_event_actions.tests.functional.harness.real_esi_leap import data
from esi_event_actions.tests.functional.harness.real_esi_leap import stub
from esi_event_actions.tests.functional.harness.real_esi_leap import venv

TOPIC = 'esi_leap_versioned_notifications'
EXCHANGE = 'openstack'
PUBLISHER = 'esi-leap-manager'
# Seconds between the manager's periodic jobs (esi-leap's default is 60).
EVENT_INTERVAL = 2
DBSYNC_TIMEOUT = 120
API_ATTEMPTS = 3

SERVICE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              'launcher.py')

_PORT_IN_USE = re.compile('address already in use|could not bind', re.I)


class EsiLeap(procs.PrivateServer, client.EsiLeapClient):
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

    error = data.EsiLeapError
    noun = 'esi-leap'
    tmp_prefix = 'esi-leap-'
    subdirs = ('nodes', 'locks', 'log')

    def __init__(self, transport_url, topic=None, host=None,
                 event_interval=EVENT_INTERVAL, debug=False,
                 strict_projects=False, base_dir=None,
                 start_timeout=procs.START_TIMEOUT):
        super(EsiLeap, self).__init__(base_dir, start_timeout)
        self.transport_url = transport_url
        suffix = uuid.uuid4().hex[:8]
        self.topic = topic or '%s_%s' % (TOPIC, suffix)
        self.host = host or 'esi-leap-test-%s' % suffix
        self.event_interval = event_interval
        self.debug = debug
        self.stub = stub.KeystoneIronicStub(strict=strict_projects)
        self.venv = None
        self.api_port = None
        self.owner_id = None
        self.lessee_id = None
        self.timings = {}
        self._procs = {}
        self._manager_begin = None

    # What tests point their code at.

    @property
    def api_url(self):
        """The API's root URL, e.g. ``http://127.0.0.1:41234``."""
        return 'http://%s:%d' % (procs.LOOPBACK, self.api_port)

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

    # Start and stop.

    def _start(self):
        begin = time.monotonic()
        self.venv = venv.ensure_venv()
        self.timings['venv'] = time.monotonic() - begin
        self._prepare()
        self._dbsync()
        self._spawn_manager()
        self._start_api()
        self._wait_manager()
        self.timings['start'] = time.monotonic() - begin

    def _prepare(self):
        self._make_tmpdir()
        self.stub.start()
        self.owner_id = self.stub.add_project('esi-test-owner')
        self.lessee_id = self.stub.add_project('esi-test-lessee')
        self.api_port = procs.free_ports(1)[0]
        self._write_config()

    def _write_config(self):
        data.write_config(
            self.config_file, host=self.host,
            transport_url=self.transport_url,
            debug='true' if self.debug else 'false',
            api_port=self.api_port, db=self._path('esi-leap.sqlite'),
            nodes=self.node_dir, topic=self.topic,
            locks=self._path('locks'), keystone=self.stub.keystone_url,
            ironic=self.stub.ironic_url)

    def _env(self):
        # esi-leap mixes local and UTC times (datetime.now() beside
        # utcnow()); under UTC they agree.
        return venv.clean_env({'TZ': 'UTC', 'LC_ALL': 'C.UTF-8',
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
                raise self.error('esi-leap-dbsync timed out')
        if result.returncode != 0:
            raise self.error('esi-leap-dbsync exited with %d'
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
            raise self.error('SQLite refused WAL mode (%s)' % mode)
        self.timings['dbsync'] = time.monotonic() - begin

    def _spawn_service(self, name, argv):
        self._procs[name] = self._spawn(
            [venv.venv_python(self.venv), '-I', SERVICE_SCRIPT]
            + argv
            + ['--parent-pid', str(os.getpid()),
               '--config-file', self.config_file,
               '--log-file', self._path('log', '%s.log' % name)],
            '%s.out' % name, self._env(),
            # Every esi-leap process carries the config file in its command
            # line, so a recycled pid is never mistaken for one of ours.
            marker=self.config_file)

    def _alive(self, name):
        proc = self._procs.get(name)
        return proc is not None and proc.running

    def _check_alive(self, name):
        if not self._alive(name):
            raise self.error('esi-leap %s exited with %s'
                             % (name, self._procs[name].returncode))

    def _spawn_manager(self):
        self._manager_begin = time.monotonic()
        ready = self._path('manager.ready')
        if os.path.exists(ready):
            os.remove(ready)
        self._spawn_service('manager', [
            'manager', '--event-interval', str(self.event_interval),
            '--ready-file', ready])

    def _wait_manager(self):
        ready = self._path('manager.ready')
        self.timings['manager'] = self._wait_ready(
            'esi-leap manager', lambda: os.path.exists(ready),
            lambda: self._check_alive('manager'), begin=self._manager_begin)

    def _start_api(self):
        for attempt in range(1, API_ATTEMPTS + 1):
            begin = time.monotonic()
            self._spawn_service('api', ['api'])
            try:
                self.timings['api'] = self._wait_ready(
                    'esi-leap API on %s' % self.api_url, self._api_answers,
                    lambda: self._check_alive('api'), interval=0.1,
                    begin=begin)
                return
            except self.error:
                self._stop_process('api')
                # The port was picked free but may have been taken since.
                log = (procs.tail(self._path('log', 'api.log'))
                       + procs.tail(self._path('log', 'api.out')))
                if attempt == API_ATTEMPTS or not _PORT_IN_USE.search(log):
                    raise
                self.api_port = procs.free_ports(1)[0]
                self._write_config()

    def _api_answers(self):
        try:
            status, body = self.request('GET', '/', timeout=2)
        except OSError:
            return False
        # The root document proves it is esi-leap on that port.
        return (status == 200 and isinstance(body, dict)
                and body.get('name') == 'ESI Leap API')

    def _stop_process(self, name):
        proc = self._procs.pop(name, None)
        if proc is not None:
            # SIGTERM: the API's process launcher stops its worker and
            # exits; the manager stops its RPC server and jobs. The group
            # goes too, for a worker its launcher left behind.
            proc.stop(group=True)

    def _stop(self):
        for name in ('api', 'manager'):
            self._stop_process(name)
        self.stub.stop()

    # Projects and nodes.

    def add_project(self, name=None, project_id=None, parent_id=None):
        """Register a project with the Keystone stub; return its id."""
        return self.stub.add_project(name=name, project_id=project_id,
                                     parent_id=parent_id)

    def add_node(self, node_uuid=None, owner=None, **fields):
        """Describe a dummy node to esi-leap and return its uuid.

        :param owner: the owning project id (default :attr:`owner_id`)
        :param fields: the node's other fields, see
            :func:`.data.dummy_node`
        """
        node_uuid = node_uuid or str(uuid.uuid4())
        data.write_node(
            self.node_dir, node_uuid,
            data.dummy_node(owner or self.owner_id, **fields))
        return node_uuid

    def node(self, node_uuid):
        """Return a dummy node's file as a dict.

        esi-leap adds ``lease_uuid`` and ``project_id`` to it while a lease
        is active.
        """
        return data.read_node(self.node_dir, node_uuid)

    def remove_node(self, node_uuid):
        """Delete a dummy node's file; leases on it then fail to fulfil."""
        data.remove_node(self.node_dir, node_uuid)

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
