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
"""A real HTTP(S) server on loopback that records what it is sent."""

import collections
import http.server
import os
import ssl
import subprocess
import threading

import fixtures


class _Handler(http.server.BaseHTTPRequestHandler):

    def _handle(self):
        server = self.server.owner
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length)
        with server.lock:
            server.requests.append((self.command, self.path,
                                    dict(self.headers), body))
            status = server.statuses.popleft() if server.statuses else 200
        status, extra = status if isinstance(status, tuple) else (status, {})
        if server.delay:
            server.delay.wait(30)
        reply = b'{"ok": true}'
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(reply)))
        if 300 <= status < 400:
            self.send_header('Location', '/elsewhere')
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply)

    do_POST = do_PUT = do_PATCH = do_GET = _handle

    def log_message(self, *args):
        pass


class HTTPServer(fixtures.Fixture):
    """A threaded HTTP server; answers with the queued statuses, then 200.

    A queued status is a number or (number, {extra header: value}).

    With ``tls_dir`` it serves HTTPS with a self-signed certificate for
    127.0.0.1, made with openssl in that directory (``cert_file``).
    """

    def __init__(self, tls_dir=None):
        super().__init__()
        self.tls_dir = tls_dir
        self.requests = []
        self.statuses = collections.deque()
        self.lock = threading.Lock()
        self.delay = None
        self.cert_file = None

    def _setUp(self):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     _Handler)
        self.httpd.owner = self
        scheme = 'http'
        if self.tls_dir:
            self.cert_file = self._make_cert()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file, self._key_file)
            self.httpd.socket = context.wrap_socket(self.httpd.socket,
                                                    server_side=True)
            scheme = 'https'
        self.url = '%s://127.0.0.1:%d/hook' % (scheme,
                                               self.httpd.server_port)
        thread = threading.Thread(target=self.httpd.serve_forever,
                                  daemon=True)
        thread.start()
        self.addCleanup(self.httpd.server_close)
        self.addCleanup(self.httpd.shutdown)

    def _make_cert(self):
        cert = os.path.join(self.tls_dir, 'server.pem')
        self._key_file = os.path.join(self.tls_dir, 'server.key')
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
             '-days', '1', '-subj', '/CN=127.0.0.1',
             '-addext', 'subjectAltName=IP:127.0.0.1',
             '-keyout', self._key_file, '-out', cert],
            check=True, capture_output=True)
        return cert
