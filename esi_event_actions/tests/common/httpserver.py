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
"""A real HTTP(S) server on loopback that records what it is sent.

Besides ordinary answers it can misbehave as a hostile receiver would:
:func:`trickle` sends its answer one byte at a time, :func:`huge_body` an
endless body, generated as it goes rather than stored.  :func:`verify` is
what a webhook receiver does with the signature it is sent.
"""

import collections
import hashlib
import hmac
import http.server
import os
import ssl
import subprocess
import threading

import fixtures

from esi_event_actions.actions import webhook

SECRET = 'correct horse battery staple'
# What a webhook URL may hold that nobody else should read.
URL_SECRETS = ('ops-user', 'pw-Secret-1', 'SecretPath', 'Key-K-42')
# Nothing listens on the discard port: the connection is refused.
REFUSED = 'http://127.0.0.1:9'


def secret_url(base=REFUSED):
    """``base`` with a user, a password, a secret path and an API key."""
    scheme, rest = base.split('://', 1)
    return ('%s://ops-user:pw-Secret-1@%s/SecretPath/hook?api_key=Key-K-42'
            % (scheme, rest.split('/', 1)[0]))


def verify(secret, headers, body, now, tolerance=300):
    """What a receiver does (the documented recipe)."""
    stamp = headers[webhook.TIMESTAMP_HEADER]
    if abs(now - int(stamp)) > tolerance:
        return False
    expected = 'sha256=' + hmac.new(secret.encode(), stamp.encode() + b'.' +
                                    body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers[webhook.SIGNATURE_HEADER])


class _Handler(http.server.BaseHTTPRequestHandler):

    def _handle(self):
        server = self.server.owner
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length)
        with server.lock:
            server.requests.append((self.command, self.path,
                                    dict(self.headers), body))
            status = server.statuses.popleft() if server.statuses else (
                server.answer or 200)
        if callable(status):
            server.replied(status(self))
            return
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


def _send(handler, data):
    """Write ``data``; False once the client has gone (or the test ends)."""
    if handler.server.owner.stopped.is_set():
        return False
    try:
        handler.wfile.write(data)
        handler.wfile.flush()
    except OSError:
        return False
    return True


def trickle(interval, in_headers=False, status=200):
    """An answer that comes one byte every ``interval`` seconds, forever.

    With ``in_headers`` even the status line and headers trickle; else
    they come at once, with a Content-Length no trickle ever reaches.
    Returns the bytes sent before the client hung up.
    """
    head = (b'HTTP/1.1 %d OK\r\nContent-Type: text/plain\r\n'
            b'Content-Length: 1000000000\r\n\r\n' % status)

    def answer(handler):
        sent = 0
        if not in_headers:
            if not _send(handler, head):
                return sent
            sent, head_left = len(head), b''
        else:
            head_left = head
        stopped = handler.server.owner.stopped
        while not stopped.wait(interval):
            byte, rest = (head_left[:1], head_left[1:]) if head_left else (
                b'x', b'')
            head_left = rest
            if not _send(handler, byte):
                break
            sent += 1
        return sent
    return answer


def huge_body(size, status=500, chunk=1 << 20):
    """An answer with a body of ``size`` bytes, made as it is sent.

    Returns the bytes of body sent before the client hung up.
    """
    block = b'0123456789abcdef' * (chunk // 16)

    def answer(handler):
        handler.send_response(status)
        handler.send_header('Content-Type', 'text/plain; charset=utf-8')
        handler.send_header('Content-Length', str(size))
        handler.end_headers()
        sent = 0
        while sent < size and _send(handler, block[:size - sent]):
            sent += min(len(block), size - sent)
        return sent
    return answer


class HTTPServer(fixtures.Fixture):
    """A threaded HTTP server; answers with the queued statuses, then 200.

    A queued status is a number, (number, {extra header: value}), or a
    callable, such as :func:`trickle`, that writes the whole answer
    itself; what it returns is appended to ``sent``.  ``answer`` replaces
    200 as the answer once the queue is empty.

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
        self.answer = None
        self.sent = []
        self.stopped = threading.Event()

    def replied(self, value):
        with self.lock:
            self.sent.append(value)

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
        # First of all: the answers still trickling stop.
        self.addCleanup(self.stopped.set)

    def _make_cert(self):
        cert, self._key_file = self_signed_cert(self.tls_dir)
        return cert


def self_signed_cert(directory):
    """(certificate, key) files for 127.0.0.1, made with openssl there.

    The certificate is its own CA: a client verifies the server with it
    as its CA file.
    """
    cert = os.path.join(directory, 'server.pem')
    key = os.path.join(directory, 'server.key')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
         '-days', '1', '-subj', '/CN=127.0.0.1',
         '-addext', 'subjectAltName=IP:127.0.0.1',
         '-keyout', key, '-out', cert],
        check=True, capture_output=True)
    return cert, key
