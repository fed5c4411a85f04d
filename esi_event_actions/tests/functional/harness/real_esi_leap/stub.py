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

"""A Keystone and Ironic stand-in for a real esi-leap run in tests.

esi-leap 1.0 asks Keystone for project names (lease and offer show, list
and create, offer claim) and Ironic for its node list (lease and offer
list), even when every resource is a ``dummy_node``. With ``auth_type =
none`` and ``endpoint`` pointing here, this threaded loopback HTTP server
is all it needs:

* ``GET /v3`` (the version document keystoneclient discovers),
  ``GET /v3/projects`` (optionally ``?name=``), ``GET /v3/projects/<id>``;
* ``GET /`` and ``GET /v1`` (Ironic's version documents, should the
  client negotiate), ``GET /v1/nodes/detail`` and ``GET /v1/nodes``.

Projects live in a registry tests add to; an unknown project id is
answered with a made-up project unless the stub is ``strict``, because a
real Keystone's 404 makes esi-leap answer 500. Every request is recorded
in :attr:`KeystoneIronicStub.requests`.
"""

import copy
import http.server
import json
import threading
from urllib import parse
import uuid

from esi_event_actions.tests.functional.harness import procs

DOMAIN_ID = 'default'
IRONIC_MIN_VERSION = '1.1'
IRONIC_MAX_VERSION = '1.65'
KEYSTONE_VERSION = 'v3.14'


class _Handler(http.server.BaseHTTPRequestHandler):
    # Keystone's and Ironic's clients keep connections alive.
    protocol_version = 'HTTP/1.1'
    server_version = 'esi-event-actions-stub'

    def log_message(self, fmt, *args):
        # Requests are recorded, not printed over the test output.
        pass

    def _reply(self, status, body, headers=None):
        data = json.dumps(body).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drain(self):
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            self.rfile.read(length)

    def do_GET(self):
        self._drain()
        stub = self.server.stub
        url = parse.urlsplit(self.path)
        query = dict(parse.parse_qsl(url.query))
        stub._record(self.command, self.path)
        path = url.path.rstrip('/') or '/'
        base = 'http://%s:%d' % (procs.LOOPBACK, stub.port)
        if path == '/v3':
            return self._reply(200, {'version': stub._keystone_version(base)})
        if path == '/v3/projects':
            return self._reply(200, stub._project_list(base, query))
        if path.startswith('/v3/projects/'):
            project = stub._project(base, path[len('/v3/projects/'):])
            if project is None:
                return self._reply(404, {'error': {
                    'code': 404, 'title': 'Not Found',
                    'message': 'Could not find project.'}})
            return self._reply(200, {'project': project})
        ironic = {'X-OpenStack-Ironic-API-Minimum-Version':
                  IRONIC_MIN_VERSION,
                  'X-OpenStack-Ironic-API-Maximum-Version':
                  IRONIC_MAX_VERSION,
                  'X-OpenStack-Ironic-API-Version': IRONIC_MAX_VERSION}
        if path == '/':
            return self._reply(200, stub._ironic_root(base), ironic)
        if path == '/v1':
            return self._reply(200, stub._ironic_v1(base), ironic)
        if path in ('/v1/nodes', '/v1/nodes/detail'):
            return self._reply(200, {'nodes': stub._node_list()}, ironic)
        return self._reply(404, {'error': 'not stubbed: GET %s' % url.path})

    def _not_stubbed(self):
        self._drain()
        self.server.stub._record(self.command, self.path)
        self._reply(405, {'error': 'not stubbed: %s %s'
                          % (self.command, self.path)})

    do_POST = do_PUT = do_PATCH = do_DELETE = _not_stubbed


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # Never share the port with a leftover of another run.
    allow_reuse_address = False


class KeystoneIronicStub(object):
    """A threaded loopback HTTP server answering as Keystone and Ironic.

    :param strict: answer 404 for project ids not registered with
        :meth:`add_project`, as Keystone would
    """

    def __init__(self, strict=False):
        self.strict = strict
        self.port = None
        self.requests = []
        self.nodes = []
        self._projects = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def url(self):
        return 'http://%s:%d' % (procs.LOOPBACK, self.port)

    @property
    def keystone_url(self):
        """The identity endpoint, for ``[keystone] endpoint``."""
        return self.url + '/v3'

    @property
    def ironic_url(self):
        """The baremetal endpoint, for ``[ironic] endpoint``."""
        return self.url

    def start(self):
        """Bind a free loopback port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError('stub already started')
        self._server = _Server((procs.LOOPBACK, 0), _Handler)
        self._server.stub = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={'poll_interval': 0.1},
            name='esi-leap-stub-%d' % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the socket. Safe to call twice."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._server = None
        self._thread = None

    def add_project(self, name=None, project_id=None, parent_id=None):
        """Register a project and return its id (a uuid, as hex).

        :param name: project name; defaults to ``project-<id prefix>``
        :param project_id: the id; a new uuid by default
        :param parent_id: id of the parent project, if any
        """
        project_id = project_id or uuid.uuid4().hex
        with self._lock:
            self._projects[project_id] = {
                'name': name or 'project-%s' % project_id[:8],
                'parent_id': parent_id,
            }
        return project_id

    def project_name(self, project_id):
        """Return the registered name of project_id, or None."""
        with self._lock:
            project = self._projects.get(project_id)
        return project and project['name']

    def calls(self, prefix=''):
        """Return the recorded ``(method, path)`` whose path has prefix."""
        with self._lock:
            return [r for r in self.requests if r[1].startswith(prefix)]

    def _record(self, method, path):
        with self._lock:
            self.requests.append((method, path))

    def _keystone_version(self, base):
        return {
            'id': KEYSTONE_VERSION,
            'status': 'stable',
            'updated': '2020-04-07T00:00:00Z',
            'links': [{'rel': 'self', 'href': base + '/v3/'}],
            'media-types': [{
                'base': 'application/json',
                'type': 'application/vnd.openstack.identity-v3+json'}],
        }

    def _render_project(self, base, project_id, project):
        return {
            'id': project_id,
            'name': project['name'],
            'domain_id': DOMAIN_ID,
            'parent_id': project['parent_id'],
            'description': '',
            'enabled': True,
            'is_domain': False,
            'tags': [],
            'options': {},
            'links': {'self': '%s/v3/projects/%s' % (base, project_id)},
        }

    def _project(self, base, project_id):
        with self._lock:
            project = self._projects.get(project_id)
        if project is None:
            if self.strict:
                return None
            project = {'name': 'project-%s' % project_id[:8],
                       'parent_id': None}
        return self._render_project(base, project_id, project)

    def _project_list(self, base, query):
        with self._lock:
            projects = sorted(self._projects.items())
        name = query.get('name')
        return {
            'projects': [self._render_project(base, pid, p)
                         for pid, p in projects
                         if name is None or p['name'] == name],
            'links': {'self': base + '/v3/projects',
                      'previous': None, 'next': None},
        }

    def _node_list(self):
        with self._lock:
            return copy.deepcopy(self.nodes)

    def _ironic_v1(self, base):
        return {
            'id': 'v1',
            'status': 'CURRENT',
            'min_version': IRONIC_MIN_VERSION,
            'version': IRONIC_MAX_VERSION,
            'links': [{'rel': 'self', 'href': base + '/v1/'}],
            'media_types': [{
                'base': 'application/json',
                'type': 'application/vnd.openstack.ironic.v1+json'}],
        }

    def _ironic_root(self, base):
        v1 = self._ironic_v1(base)
        return {
            'name': 'OpenStack Ironic API',
            'description': 'Ironic stand-in for tests',
            'versions': [v1],
            'default_version': v1,
        }
