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
"""A small fake of esi-leap's event history API, on real HTTP."""

import http.server
import json
import random
import threading
import urllib.parse

import fixtures


TOKEN = 'gAAAAA-fake-keystone-token'


class _Handler(http.server.BaseHTTPRequestHandler):

    def do_POST(self):
        # Just enough of Keystone v3 to issue a token for an application
        # credential, with esi-leap (service type "lease") in the catalog.
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
                                        'url': api.url}]}]}}
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
        if url.path == '/v1/events':
            return self._reply(200, json.dumps(
                {'events': api.events_after(query)}).encode())
        if url.path.startswith('/v1/leases/'):
            lease = api.leases.get(url.path.rsplit('/', 1)[1])
            if lease is None:
                return self._reply(404, b'{"error": "not found"}')
            return self._reply(200, json.dumps(lease).encode())
        self._reply(404, b'{}')

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class FakeEsiLeapAPI(fixtures.Fixture):
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
