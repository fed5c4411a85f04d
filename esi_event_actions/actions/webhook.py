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
"""Call a REST hook with the event, in one of three formats.

``format = esi`` (the default) sends a JSON object (format version
``BODY_VERSION``)::

    {"version": "1.0", "rule": ..., "event_type": ..., "event_id": ...,
     "timestamp": ..., "source": ..., "node": ..., "lease": ...,
     "attempt": 1, "params": {"<dot path>": "<value>", ...},
     "data": {<the lease as esi-leap describes it>},
     "context": {<the lease's context as the job started>}}

With a ``secret`` the request carries ``X-ESI-Timestamp`` (Unix seconds) and
``X-ESI-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<body bytes>`` under the secret, so a receiver can check both
who sent the request and that it is not an old one replayed.

``format = standard-webhooks`` sends the same object signed as the Standard
Webhooks specification says; ``format = cloudevents`` sends a CloudEvents
1.0 event.  :mod:`esi_event_actions.actions.webhook_formats` writes them.

With ``context_field``, the field of that name in a 2xx answer's JSON
object is the lease's context updates (see :mod:`context_io`).

The receiver is not trusted to behave: the whole delivery, answer included,
ends at the rule's ``timeout`` (see :mod:`webhook_deadline`), and no more
of the answer is read than the journal keeps.  The URL may hold
credentials: only :mod:`webhook_redact`'s form of it is ever shown.
"""

import datetime
import email.utils
import http.client
import json
import os
import threading
import time
import urllib.parse

from oslo_config import cfg
import requests
import urllib3

from esi_event_actions.actions import base
from esi_event_actions.actions import context_io
from esi_event_actions.actions import webhook_deadline
from esi_event_actions.actions import webhook_formats as formats
from esi_event_actions.actions import webhook_redact as redact
from esi_event_actions import optiontypes as types
from esi_event_actions import safetext

# Kept here too: receivers' code and older plugins import them from here.
BODY_VERSION = formats.BODY_VERSION
SIGNATURE_HEADER = formats.SIGNATURE_HEADER
TIMESTAMP_HEADER = formats.TIMESTAMP_HEADER
sign = formats.sign
# Kept here too: older code imports it from here.
redact_url = redact.redact_url

# Worth another attempt: the server is overloaded, down or slow, not wrong.
_RETRYABLE = {408, 425, 429}
# The answers whose Retry-After says when to come back (RFC 9110 10.2.3).
_RETRY_AFTER = {429, 503}
_GONE = 410
_TLS_FILES = ('ca_file', 'client_cert', 'client_key')
_CLOUDEVENTS_OPTS = ('cloudevents_mode', 'cloudevents_source')
# A receiver's reason phrase may be up to 64 KiB of anything.
_REASON_LIMIT = 200
# What a delivery may raise, before or while the answer is read: reading
# the raw answer raises urllib3's own exceptions, not requests'.
_FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError,
             http.client.HTTPException, OSError)


def _read(response, limit, field):
    """The start of the answer's body: what may be kept, or a context."""
    # Four bytes at most for a character: what is read could all be kept,
    # and nothing more is read, however long the answer.  For a context,
    # one byte more than one may hold, to tell a longer one.
    size = 4 * limit
    if field:
        size = max(size, context_io.READ_LIMIT + 1)
    return response.raw.read(size, decode_content=False) if size else b''


def _output(response, data, limit):
    """The first ``limit`` characters of the answer's body."""
    data = data[:4 * limit]
    try:
        text = data.decode(response.encoding or 'utf-8', 'replace')
    except LookupError:
        text = data.decode('utf-8', 'replace')
    return text[:limit]


def retry_after(value, now=None):
    """Seconds a Retry-After header value asks to wait, or None.

    The value is a number of seconds or an HTTP date; a date in the past
    means now.  Anything else is ignored, as if the header were absent.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # "-0000": HTTP dates are in GMT whatever they say.
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None
                                        else now))


class WebhookAction(base.Action):
    """POST (or PUT, PATCH...) a JSON description of the event to a URL.

    2xx is success; 408, 425, 429, 5xx, connection errors and no complete
    answer within the timeout are retried, after the wait a 429 or 503
    asks for in Retry-After if it has one; any other answer is a permanent
    failure.  Redirects are not followed.
    """

    required = ('url',)
    opts = [
        cfg.Opt('url', type=types.String(), secret=True,
                help='URL to call (http or https). Required. Secret: it '
                     'may hold a password or a token; only its scheme, '
                     'host and port are ever shown.'),
        cfg.StrOpt('method', default='POST',
                   choices=['POST', 'PUT', 'PATCH'],
                   help='HTTP method.'),
        cfg.Opt('format', type=types.String(choices=formats.FORMATS),
                default=formats.ESI,
                help='What the request looks like: "esi", our own JSON '
                     'document signed in X-ESI-Signature; '
                     '"standard-webhooks", the same document signed as '
                     'the Standard Webhooks specification says; '
                     '"cloudevents", a CloudEvents 1.0 event whose data '
                     'is the lease.'),
        cfg.Opt('cloudevents_mode',
                type=types.String(choices=formats.MODES),
                help='With format = cloudevents: "binary" (the default) '
                     'puts the attributes in ce- headers and the lease '
                     'in the body; "structured" sends one '
                     'application/cloudevents+json document.'),
        cfg.Opt('cloudevents_source', type=types.String(),
                help='With format = cloudevents: the events\' source '
                     'attribute (a URI reference). Default: '
                     'esi-leap/<publisher id> for notifications, '
                     'esi-leap/history for the event history.'),
        cfg.Opt('headers', type=types.JSONObject(), default={}, secret=True,
                help='Extra request headers, as a JSON object. Secret: '
                     'it may hold an Authorization header.'),
        cfg.Opt('timeout', type=types.Float(min=0.1, max=types.HOUR),
                default=10.0,
                help='Seconds the whole delivery may take: connecting, '
                     'sending the request and receiving the complete '
                     'answer. An answer still coming then is retried, '
                     'however fast bytes trickle.'),
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
                        '(HMAC-SHA256). With format = esi, one string '
                        '(see X-ESI-Signature). With standard-webhooks '
                        '(where it is required) and cloudevents, one or '
                        'more comma-separated whsec_<base64> secrets, '
                        'each adding a signature, so that a key can be '
                        'rotated.'),
        cfg.Opt('context_field', type=types.String(),
                help='A field of the JSON object a 2xx answer holds whose '
                     'value, a JSON object, is the keys to set in the '
                     'lease\'s context (a null value removes a key). An '
                     'answer that is not such an object fails the job. '
                     'Unset, the answer is not read for a context.'),
        base.PARAMS_OPT,
    ]

    def __init__(self, rule):
        super().__init__(rule)
        self._local = threading.local()
        self._files = {}
        self._format = None

    def validate(self):
        opts = self.options
        try:
            url = urllib.parse.urlsplit(opts.url or '')
        except ValueError:
            url = None
        if not url or url.scheme not in ('http', 'https') or not url.netloc:
            raise self.error('url', 'an http:// or https:// URL is required')
        redact.register(self)
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
        self._format = self._checked_format()
        if opts.context_field is not None and not opts.context_field:
            raise self.error('context_field', 'the name of a field is '
                             'required')

    def _checked_format(self):
        opts = self.options
        if opts.format != formats.CLOUDEVENTS:
            for key in _CLOUDEVENTS_OPTS:
                if opts[key] is not None:
                    raise self.error(key, 'only used with format = '
                                     'cloudevents')
        if opts.format == formats.STANDARD_WEBHOOKS and not opts.secret:
            raise self.error('secret', 'format = standard-webhooks signs '
                             'every request: a secret is required; %s'
                             % formats.HOW_TO_MAKE_A_SECRET)
        source = opts.cloudevents_source
        if source is not None and (not source or any(
                c.isspace() for c in source)):
            raise self.error('cloudevents_source', 'a URI reference, with '
                             'no white space, is required')
        try:
            return formats.get(self.context.name, opts)
        except ValueError as exc:
            # The message names the secret's position, never its text.
            raise self.error('secret', str(exc))

    def _request_format(self):
        if self._format is None:
            self._format = formats.get(self.context.name, self.options)
        return self._format

    def describe(self):
        signed = ' signed' if self.options.secret else ''
        shape = ('' if self.options.format == formats.ESI
                 else ' as ' + self.options.format)
        return 'webhook %s %s%s%s' % (
            self.options.method, redact.redact_url(self.options.url), shape,
            signed)

    def body(self, event, params, attempt):
        """The request body, as bytes."""
        return self._request_format().body(event, self.named_params(params),
                                           attempt)

    def request_headers(self, event, body, attempt, now=None):
        shape = self._request_format()
        headers = shape.headers(event, attempt)
        headers.update(self.options.headers)
        headers.update(shape.signature_headers(
            event, body, int(time.time() if now is None else now)))
        return headers

    def preview(self, event, params, attempt=1):
        body = self.body(event, params, attempt)
        headers = self.request_headers(event, body, attempt)
        for name in list(self.options.headers):
            headers[name] = '***'
        headers = self._request_format().masked(headers)
        return {'method': self.options.method,
                'url': redact.redact_url(self.options.url),
                'headers': headers, 'body': json.loads(body),
                'timeout': self.options.timeout}

    def _session(self):
        # requests sessions are not safe to share between threads.
        session = getattr(self._local, 'session', None)
        if session is None:
            session = self._local.session = requests.Session()
            for prefix in ('http://', 'https://'):
                session.mount(prefix, webhook_deadline.Adapter())
            # Only the start of an answer is read: a compressed one would
            # be unreadable there, or a bomb to inflate.
            session.headers['Accept-Encoding'] = 'identity'
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
        headers = self.request_headers(event, body, attempt)
        timeout = self.options.timeout
        with webhook_deadline.Deadline(timeout) as deadline:
            try:
                result = self._deliver(body, headers)
            except _FAILURES as exc:
                # A read timing out at the deadline is the deadline too.
                # Exceptions' texts name the URL (never our headers).
                failed = '%s: %s' % (type(exc).__name__, exc)
                result = None if deadline.passed else base.Result(
                    base.RETRY, redact.scrub(failed, self.options.url))
        if result is None or deadline.expired:
            return base.Result(base.RETRY, 'no complete response within '
                               '%gs' % timeout)
        return result

    def _deliver(self, body, headers):
        response = self._session().request(
            self.options.method, self.options.url, data=body,
            headers=headers, timeout=self.options.timeout,
            allow_redirects=False, stream=True, **self._tls())
        field = self.options.context_field
        limit = self.context.output_limit
        try:
            data = _read(response, limit, field)
        finally:
            # The rest of the answer is never read: the connection goes.
            response.close()
        result = self._result(response, _output(response, data, limit))
        if field and result.ok:
            return context_io.with_updates(result, lambda: context_io.field(
                data, field, 'the answer'))
        return result

    @staticmethod
    def _result(response, output):
        code = response.status_code
        reason = safetext.printable(response.reason or '')[:_REASON_LIMIT]
        detail = ('HTTP %d %s' % (code, reason)).strip()
        if 200 <= code < 300:
            return base.Result(base.SUCCESS, detail, code, output)
        if code == _GONE:
            return base.Result(base.FAILURE, '410 Gone: the receiver asked '
                               'us to stop', code, output)
        if code in _RETRY_AFTER:
            wait = retry_after(response.headers.get('Retry-After'))
            if wait is not None:
                detail += ' (Retry-After %gs)' % wait
            return base.Result(base.RETRY, detail, code, output,
                               retry_after=wait)
        if code in _RETRYABLE or code >= 500:
            return base.Result(base.RETRY, detail, code, output)
        return base.Result(base.FAILURE, detail, code, output)
