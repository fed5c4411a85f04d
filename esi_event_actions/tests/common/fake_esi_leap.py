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
"""The fake esi-leap: its notifications, and its event history API.

Everything a test needs from esi-leap 1.0 without running it (the real
one runs in the functional tests, see
:mod:`esi_event_actions.tests.functional.harness.real_esi_leap`):

* lease data and notifications shaped exactly as esi-leap sends them:
  :func:`lease_data`, :func:`payload`, :class:`Notifier`, and the same
  notification as the listener's endpoint receives it
  (:func:`endpoint_message`, :func:`lease_message`), as it lies on the
  bus (:func:`bus_message`) and as the service makes it an event
  (:func:`lease_event`);
* :class:`API`, ``GET /v1/events`` and ``/v1/leases/<uuid>`` on real HTTP,
  with the Keystone that issues its tokens; that Keystone also answers
  what the email action asks it (a project, its role assignments, a
  user), from :meth:`API.add_project`, :meth:`API.add_user` and
  :meth:`API.assign`.

esi-leap's manager emits LeaseCRUDPayload objects through an oslo.messaging
Notifier with the messagingv2 driver, publisher ``esi-leap-manager.<host>``,
topic ``esi_leap_versioned_notifications``, priority INFO for ``.start`` and
``.end`` and ERROR for ``.error``.  Its quirks are kept: ``fulfill.end``
still says status ``created`` with a null ``fulfill_time``, and
``delete.end`` has a null ``expire_time``.
"""

import copy
import http.server
import json
import os
import random
import threading
import urllib.parse
import uuid

import fixtures
from oslo_context import context
import oslo_messaging

from esi_event_actions import event

TOPIC = 'esi_leap_versioned_notifications'
HOST = 'esi-leap-host'
PUBLISHER_ID = 'esi-leap-manager.%s' % HOST
FULFILL_END = 'esi_leap.lease.fulfill.end'

OWNER = 'a3d1f2b4c5e6478f9a0b1c2d3e4f5a6b'
LESSEE = 'f6e5d4c3b2a14f0e9d8c7b6a5f4e3d2c'

TOKEN = 'gAAAAA-fake-keystone-token'


def lease_data(**overrides):
    """The LeaseCRUDPayload fields of one lease on a dummy node."""
    node_uuid = overrides.pop('node_uuid', str(uuid.uuid4()))
    data = {
        'id': 42,
        'name': 'lease-for-ci',
        'uuid': str(uuid.uuid4()),
        'project_id': LESSEE,
        'owner_id': OWNER,
        'purpose': 'test',
        'resource_type': 'dummy_node',
        'resource_uuid': node_uuid,
        'start_time': '2026-11-26T10:00:00Z',
        'end_time': '2026-11-27T10:00:00Z',
        'fulfill_time': None,
        'expire_time': None,
        'status': 'created',
        'properties': {},
        'offer_uuid': None,
        'parent_lease_uuid': None,
        'node_name': 'dummy-node-%s' % node_uuid,
        'node_uuid': node_uuid,
        'node_provision_state': 'available',
        'node_power_state': 'power off',
        'node_properties': {'vendor': 'foo', 'cpus': 16,
                            'memory_mb': 65536, 'local_gb': 500,
                            'cpu_arch': 'x86_64'},
    }
    data.update(overrides)
    return data


def payload(data):
    """Wrap lease data as esi-leap's versioned-object primitive."""
    return {
        'esi_leap_object.name': 'LeaseCRUDPayload',
        'esi_leap_object.namespace': 'esi_leap',
        'esi_leap_object.version': '1.0',
        'esi_leap_object.data': copy.deepcopy(data),
    }


def lease_event(event_id='m1', node_uuid='node-a', event_type=FULFILL_END,
                **data):
    """The event the service makes of a lease notification.

    Events without a ``node_uuid`` share one node, so that their jobs run
    one after the other.
    """
    return event.Event(event_type, lease_data(node_uuid=node_uuid, **data),
                       id=event_id)


def endpoint_message(data, event_type=FULFILL_END, message_id=None,
                     **metadata):
    """A notification as the listener's endpoint receives it."""
    metadata.setdefault('message_id', message_id or os.urandom(8).hex())
    metadata.setdefault('timestamp', '2026-12-07 10:00:00.000000')
    return {'ctxt': {}, 'publisher_id': 'esi-leap-manager.host',
            'event_type': event_type, 'payload': payload(data),
            'metadata': metadata}


def lease_message(message_id=None, **data):
    """A fulfill.end of a lease, as the listener's endpoint receives it."""
    return endpoint_message(lease_data(**data), message_id=message_id)


def bus_message(**data):
    """A fulfill.end notification as it lies on the bus, and its lease."""
    lease = lease_data(**data)
    return {'message_id': 'm-1', 'publisher_id': 'esi-leap-manager.h',
            'event_type': FULFILL_END, 'priority': 'INFO',
            'payload': payload(lease),
            'timestamp': '2026-11-26 10:00:00.000001'}, lease


def request_context():
    """The request context esi-leap's manager sends its notifications in."""
    return context.RequestContext(project_id=OWNER,
                                  user_id=str(uuid.uuid4()))


class _ContextSerializer(oslo_messaging.JsonPayloadSerializer):
    """Sends the request context as esi-leap's serializer does."""

    def serialize_context(self, ctxt):
        return ctxt.to_dict()


class Notifier:
    """Publishes lease notifications as esi-leap's manager does."""

    def __init__(self, transport, topic=TOPIC, host=HOST):
        self.notifier = oslo_messaging.Notifier(
            transport, publisher_id='esi-leap-manager.%s' % host,
            driver='messagingv2', topics=[topic],
            serializer=_ContextSerializer())
        self.context = request_context()

    def emit(self, event_type, data):
        level = 'error' if event_type.endswith('.error') else 'info'
        # The context object itself, as esi-leap passes it: its fields
        # travel as _context_* keys.
        getattr(self.notifier, level)(self.context, event_type,
                                      payload(data))


class _Handler(http.server.BaseHTTPRequestHandler):

    def do_POST(self):
        # Just enough of Keystone v3 to issue a token for an application
        # credential or a password, with esi-leap (service type "lease")
        # and Keystone itself in the catalog.
        api = self.server.owner
        body = json.loads(self.rfile.read(int(
            self.headers.get('Content-Length') or 0)))
        with api.lock:
            api.auth_requests.append(body)
        if self.path != '/identity/v3/auth/tokens':
            return self._reply(404, b'{}')
        token = {'token': {
            'methods': body['auth']['identity']['methods'],
            'expires_at': '2099-01-01T00:00:00.000000Z',
            'user': {'id': 'u1', 'name': 'tenant',
                     'domain': {'id': 'default', 'name': 'Default'}},
            'project': {'id': 'p1', 'name': 'tenant-project',
                        'domain': {'id': 'default', 'name': 'Default'}},
            'catalog': [{'type': 'lease', 'name': 'esi-leap', 'id': 's1',
                         'endpoints': [{'id': 'e1', 'interface': 'public',
                                        'region': 'RegionOne',
                                        'region_id': 'RegionOne',
                                        'url': api.url}]},
                        {'type': 'identity', 'name': 'keystone', 'id': 's2',
                         'endpoints': [{'id': 'e2', 'interface': 'public',
                                        'region': 'RegionOne',
                                        'region_id': 'RegionOne',
                                        'url': api.url + '/identity/v3'}]}]}}
        data = json.dumps(token).encode()
        self.send_response(201)
        self.send_header('X-Subject-Token', TOKEN)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        api = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == '/identity/v3':
            return self._reply(200, json.dumps({'version': {
                'id': 'v3.14', 'status': 'stable',
                'links': [{'rel': 'self',
                           'href': api.url + '/identity/v3/'}]}}).encode())
        with api.lock:
            api.requests.append((url.path, query))
            api.tokens.append(self.headers.get('X-Auth-Token'))
            fault = api.faults.pop(0) if api.faults else None
        if fault == 'hang':
            api.release.wait(30)
        if isinstance(fault, int):
            return self._reply(fault, b'{"error": "injected"}')
        if fault == 'garbage':
            return self._reply(200, b'<html>proxy error</html>')
        if url.path.startswith(IDENTITY):
            return self._identity(api, url.path[len(IDENTITY):], query)
        if url.path == '/v1/events':
            return self._reply(200, json.dumps(
                {'events': api.events_after(query)}).encode())
        if url.path.startswith('/v1/leases/'):
            lease = api.leases.get(url.path.rsplit('/', 1)[1])
            if lease is None:
                return self._reply(404, b'{"error": "not found"}')
            return self._reply(200, json.dumps(lease).encode())
        self._reply(404, b'{}')

    def _identity(self, api, path, query):
        kind, _, ident = path.partition('/')
        if kind == 'role_assignments':
            return self._reply(200, json.dumps({'role_assignments': [
                _assignment(user, project, role, 'include_names' in query)
                for user, project, role in api.assignments
                if query.get('scope.project.id') in (None, project)]})
                .encode())
        found = {'projects': api.projects, 'users': api.users}.get(
            kind, {}).get(ident)
        if found is None:
            return self._reply(404, b'{"error": {"code": 404}}')
        return self._reply(200, json.dumps({kind[:-1]: found}).encode())

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


IDENTITY = '/identity/v3/'


def _assignment(user, project, role, names):
    assignment = {'user': {'id': user}, 'role': {'id': 'r-' + role},
                  'scope': {'project': {'id': project}}}
    if names:
        assignment['role']['name'] = role
        assignment['user']['name'] = 'user-' + user
    return assignment


class API(fixtures.Fixture):
    """GET /v1/events and /v1/leases/<uuid>, as esi-leap 1.0 answers them.

    Rows come back in a random order, as esi-leap's unsorted query may
    return them.  ``faults`` queues answers for the next requests: an HTTP
    status, ``'garbage'`` (not JSON) or ``'hang'``.
    """

    def __init__(self):
        super().__init__()
        self.rows = []
        self.leases = {}
        self.faults = []
        self.requests = []
        self.tokens = []
        self.auth_requests = []
        self.projects = {}
        self.users = {}
        self.assignments = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    def _setUp(self):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     _Handler)
        self.httpd.owner = self
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever,
                         daemon=True).start()
        self.addCleanup(self.httpd.server_close)
        self.addCleanup(self.httpd.shutdown)
        self.addCleanup(self.release.set)

    def add(self, event_type, lease_uuid, node_uuid, event_id=None,
            lessee='lessee-1', owner='owner-1'):
        with self.lock:
            event_id = event_id or max([r['id'] for r in self.rows] or
                                       [0]) + 1
            self.rows.append({
                'id': event_id, 'event_type': event_type,
                'event_time': '2026-11-26T10:%02d:00' % (event_id % 60),
                'object_type': 'lease', 'object_uuid': lease_uuid,
                'resource_type': 'dummy_node', 'resource_uuid': node_uuid,
                'lessee_id': lessee, 'owner_id': owner})
        return event_id

    def add_project(self, project_id, **attributes):
        """A Keystone project; extra attributes such as ``email`` too."""
        self.projects[project_id] = dict(
            {'id': project_id, 'name': 'project-' + project_id,
             'domain_id': 'default', 'enabled': True}, **attributes)

    def add_user(self, user_id, email=None, **attributes):
        """A Keystone user, with an ``email`` unless it is None."""
        user = {'id': user_id, 'name': 'user-' + user_id,
                'domain_id': 'default', 'enabled': True}
        if email is not None:
            user['email'] = email
        self.users[user_id] = dict(user, **attributes)

    def assign(self, user_id, project_id, role='member'):
        """Give a user a role on a project."""
        self.assignments.append((user_id, project_id, role))

    def events_after(self, query):
        last = int(query.get('last_event_id', 0))
        rows = [r for r in self.rows if r['id'] > last]
        for key in ('event_type', 'resource_type', 'resource_uuid'):
            if key in query:
                rows = [r for r in rows if r[key] == query[key]]
        if 'lessee_or_owner_id' in query:
            rows = [r for r in rows if query['lessee_or_owner_id'] in
                    (r['lessee_id'], r['owner_id'])]
        random.shuffle(rows)
        return rows
