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
"""Call a REST hook with the event, optionally signed with HMAC-SHA256.

The request body is a JSON object (format version BODY_VERSION)::

    {"version": "1.0", "rule": ..., "event_type": ..., "event_id": ...,
     "timestamp": ..., "source": ..., "node": ..., "lease": ...,
     "attempt": 1, "params": {"<dot path>": "<value>", ...},
     "data": {<the lease as esi-leap describes it>}}

With a ``secret`` the request carries ``X-ESI-Timestamp`` (Unix seconds) and
``X-ESI-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<body bytes>`` under the secret, so a receiver can check both
who sent the request and that it is not an old one replayed.
"""

import hashlib
import hmac
import json
import os
import threading
import time
import urllib.parse

from oslo_config import cfg
import requests

from esi_event_actions.actions import base
from esi_event_actions.conf import types

BODY_VERSION = '1.0'
SIGNATURE_HEADER = 'X-ESI-Signature'
TIMESTAMP_HEADER = 'X-ESI-Timestamp'

# Worth another attempt: the server is overloaded, down or slow, not wrong.
_RETRYABLE = {408, 425, 429}
_TLS_FILES = ('ca_file', 'client_cert', 'client_key')


def sign(secret, timestamp, body):
    """The X-ESI-Signature value for ``body`` (bytes) sent at ``timestamp``."""
    message = str(timestamp).encode() + b'.' + body
    return 'sha256=' + hmac.new(secret.encode(), message,
                                hashlib.sha256).hexdigest()


class WebhookAction(base.Action):
    """POST (or PUT, PATCH...) a JSON description of the event to a URL.

    2xx is success; 408, 425, 429, 5xx, timeouts and connection errors are
    retried; any other answer is a permanent failure.  Redirects are not
    followed.
    """

    opts = [
        cfg.Opt('url', type=types.String(),
                help='URL to call (http or https). Required.'),
        cfg.StrOpt('method', default='POST',
                   choices=['POST', 'PUT', 'PATCH'],
                   help='HTTP method.'),
        cfg.Opt('headers', type=types.JSONObject(), default={}, secret=True,
                help='Extra request headers, as a JSON object. Secret: '
                     'it may hold an Authorization header.'),
        cfg.FloatOpt('timeout', default=10.0, min=0.1,
                     help='Seconds to wait for the server to connect and '
                          'to answer.'),
        cfg.BoolOpt('verify', default=True,
                    help='Verify the server\'s TLS certificate.'),
        cfg.StrOpt('ca_file',
                   help='CA bundle to verify the server\'s certificate '
                        'with, instead of the system\'s. A relative path '
                        'is relative to the directory of the file that '
                        'sets it, as are client_cert and client_key.'),
        cfg.StrOpt('client_cert',
                   help='Client certificate (PEM) for mutual TLS.'),
        cfg.StrOpt('client_key',
                   help='Key of client_cert, if not in the same file.'),
        cfg.StrOpt('secret', secret=True,
                   help='Shared secret to sign each request with '
                        '(HMAC-SHA256; see X-ESI-Signature).'),
        base.PARAMS_OPT,
    ]

    def __init__(self, rule):
        super().__init__(rule)
        self._local = threading.local()
        self._files = {}

    def validate(self):
        opts = self.options
        url = urllib.parse.urlsplit(opts.url or '')
        if url.scheme not in ('http', 'https') or not url.netloc:
            raise self.error('url', 'an http:// or https:// URL is required')
        # Relative to the file that names them, as scripts are: the
        # service's working directory is not the configuration's.
        self._files = {key: self.resolve_path(key) for key in _TLS_FILES
                       if opts[key]}
        for key, path in self._files.items():
            if not os.path.isfile(path):
                raise self.error(key, 'no such file: %s' % path)
        if opts.client_key and not opts.client_cert:
            raise self.error('client_key', 'needs client_cert')
        for name, value in opts.headers.items():
            if not isinstance(value, str):
                raise self.error('headers', 'the value of %s must be a '
                                 'string' % name)

    def describe(self):
        url = urllib.parse.urlsplit(self.options.url)
        signed = ' signed' if self.options.secret else ''
        return 'webhook %s %s://%s%s%s' % (self.options.method, url.scheme,
                                           url.netloc, url.path, signed)

    def body(self, event, params, attempt):
        """The request body, as bytes."""
        return json.dumps({
            'version': BODY_VERSION, 'rule': self.rule.name,
            'event_type': event.event_type, 'event_id': event.id,
            'timestamp': event.timestamp, 'source': event.source,
            'node': event.node, 'lease': event.lease, 'attempt': attempt,
            'params': self.named_params(params), 'data': event.data,
        }, sort_keys=True).encode()

    def request_headers(self, event, body, attempt, now=None):
        headers = {'Content-Type': 'application/json',
                   'X-ESI-Event-Id': event.id,
                   'X-ESI-Event-Type': event.event_type,
                   'X-ESI-Attempt': str(attempt)}
        headers.update(self.options.headers)
        if self.options.secret:
            stamp = int(time.time() if now is None else now)
            headers[TIMESTAMP_HEADER] = str(stamp)
            headers[SIGNATURE_HEADER] = sign(self.options.secret, stamp,
                                             body)
        return headers

    def preview(self, event, params, attempt=1):
        body = self.body(event, params, attempt)
        headers = self.request_headers(event, body, attempt)
        for name in list(self.options.headers):
            headers[name] = '***'
        if SIGNATURE_HEADER in headers:
            headers[SIGNATURE_HEADER] = 'sha256=*** (signed when sent)'
            headers[TIMESTAMP_HEADER] = '<time of sending>'
        return {'method': self.options.method, 'url': self.options.url,
                'headers': headers, 'body': json.loads(body),
                'timeout': self.options.timeout}

    def _session(self):
        # requests sessions are not safe to share between threads.
        session = getattr(self._local, 'session', None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _tls(self):
        # Given with each request: a session-wide "verify" loses to
        # REQUESTS_CA_BUNDLE in the environment, the request's does not.
        files = self._files
        cert = files.get('client_cert')
        if cert and 'client_key' in files:
            cert = (cert, files['client_key'])
        return {'verify': files.get('ca_file', self.options.verify),
                'cert': cert}

    def run(self, event, params, attempt=1):
        body = self.body(event, params, attempt)
        try:
            response = self._session().request(
                self.options.method, self.options.url, data=body,
                headers=self.request_headers(event, body, attempt),
                timeout=self.options.timeout, allow_redirects=False,
                **self._tls())
        except requests.RequestException as exc:
            # The exception's text names the URL, never our headers.
            return base.Result(base.RETRY, '%s: %s'
                               % (type(exc).__name__, exc))
        return self._result(response)

    @staticmethod
    def _result(response):
        code = response.status_code
        detail = 'HTTP %d %s' % (code, response.reason or '')
        output = response.text
        if 200 <= code < 300:
            return base.Result(base.SUCCESS, detail.strip(), code, output)
        if code in _RETRYABLE or code >= 500:
            return base.Result(base.RETRY, detail.strip(), code, output)
        return base.Result(base.FAILURE, detail.strip(), code, output)
