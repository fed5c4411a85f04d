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
"""What a webhook request looks like: its body, its headers, its signature.

Three formats, chosen by the rule's ``format`` option:

``esi``
    Our own JSON document (:data:`BODY_VERSION`), signed in
    ``X-ESI-Signature`` with ``X-ESI-Timestamp``.
``standard-webhooks``
    The same document, signed as the Standard Webhooks specification says
    (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), so its
    libraries verify it as they are.
``cloudevents``
    A CloudEvents 1.0 event in the HTTP binding, binary or structured
    mode, whose data is the lease; optionally signed with the Standard
    Webhooks headers.  It carries no lease context: the data is the lease
    as esi-leap describes it, and an extension attribute holds a string,
    not an object.

Both public formats are built here from their specifications rather than
with their Python libraries: signing is one HMAC, the CloudEvents library
pulls in two more packages, and neither library signs with several keys
at once.  The tests check every format with the libraries' own parsers
and verifiers.
"""

import base64
import binascii
import hashlib
import hmac
import urllib.parse

from esi_event_actions import safetext

BODY_VERSION = '1.0'
SIGNATURE_HEADER = 'X-ESI-Signature'
TIMESTAMP_HEADER = 'X-ESI-Timestamp'

ESI = 'esi'
STANDARD_WEBHOOKS = 'standard-webhooks'
CLOUDEVENTS = 'cloudevents'
FORMATS = (ESI, STANDARD_WEBHOOKS, CLOUDEVENTS)
BINARY = 'binary'
STRUCTURED = 'structured'
MODES = (BINARY, STRUCTURED)

SECRET_PREFIX = 'whsec_'
# The Standard Webhooks specification's bounds on a symmetric key.
_KEY_BYTES = (24, 64)
HOW_TO_MAKE_A_SECRET = ('make one with: echo "whsec_$(openssl rand '
                        '-base64 32)"')

_JSON = 'application/json'
_CE_JSON = 'application/cloudevents+json; charset=utf-8'
# The HTTP binding percent-encodes all but printable ASCII, less these.
_CE_UNSAFE = ' "%'
_CE_SAFE = ''.join(chr(c) for c in range(0x21, 0x7f)
                   if chr(c) not in _CE_UNSAFE)
_MASK = '***'


def sign(secret, timestamp, body):
    """The X-ESI-Signature value for ``body`` (bytes) sent at ``timestamp``."""
    message = str(timestamp).encode() + b'.' + body
    return 'sha256=' + hmac.new(secret.encode(), message,
                                hashlib.sha256).hexdigest()


def standard_keys(text):
    """The keys in a comma-separated list of ``whsec_`` secrets.

    :raises ValueError: naming the position of a secret that is not the
        base64 of 24 to 64 bytes after ``whsec_``.
    """
    keys = []
    for number, secret in enumerate(text.split(','), 1):
        secret = secret.strip()
        where = 'secret %d' % number if ',' in text else 'the secret'
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError('%s does not start with %s; %s'
                             % (where, SECRET_PREFIX, HOW_TO_MAKE_A_SECRET))
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX):],
                                   validate=True)
        except binascii.Error:
            raise ValueError('%s is not valid base64 after %s; %s'
                             % (where, SECRET_PREFIX, HOW_TO_MAKE_A_SECRET))
        low, high = _KEY_BYTES
        if not low <= len(key) <= high:
            raise ValueError('%s holds %d bytes, not %d to %d; %s'
                             % (where, len(key), low, high,
                                HOW_TO_MAKE_A_SECRET))
        keys.append(key)
    return keys


def standard_signature(keys, message_id, timestamp, body):
    """The ``webhook-signature`` value: one ``v1,`` signature per key."""
    message = b'%s.%d.%s' % (message_id.encode(), timestamp, body)
    return ' '.join(
        'v1,' + base64.b64encode(
            hmac.new(key, message, hashlib.sha256).digest()).decode()
        for key in keys)


def delivery_id(event, rule):
    """The ``webhook-id``: the journal's key, shared by a job's retries."""
    return '%s:%s' % (event.id, rule)


def default_source(event):
    """The CloudEvents ``source`` when the rule does not set one."""
    if event.source == 'history':
        return 'esi-leap/history'
    return 'esi-leap/%s' % (event.publisher_id or event.source)


def cloudevent_attributes(event, source):
    """The context attributes of the event, as the specification names them.

    ``time`` is RFC 3339 in UTC; ``subject``, the node, and ``time`` are
    left out when the event has none.
    """
    attributes = {'specversion': '1.0', 'id': event.id,
                  'type': event.event_type,
                  'source': source or default_source(event),
                  'datacontenttype': _JSON}
    if event.node:
        attributes['subject'] = event.node
    if event.time is not None:
        attributes['time'] = event.time.isoformat() + 'Z'
    return attributes


def _ce_header(value):
    return urllib.parse.quote(value, safe=_CE_SAFE)


class Format:
    """One way of writing the request for a rule's event.

    :param rule: the rule's name.
    :param options: the webhook options of the rule.
    """

    def __init__(self, rule, options):
        self.rule = rule
        self.options = options

    def body(self, event, params, attempt):
        """The request body, as bytes; ``params`` is {dot path: value}.

        ``context`` is the lease's context as the job started (empty
        before one does: in test-rule).  Strict JSON: a lessee's 1e400 or
        NaN is sent as a string.
        """
        return safetext.dumps({
            'version': BODY_VERSION, 'rule': self.rule,
            'event_type': event.event_type, 'event_id': event.id,
            'timestamp': event.timestamp, 'source': event.source,
            'node': event.node, 'lease': event.lease, 'attempt': attempt,
            'params': params, 'data': event.data,
            'context': event.context or {},
        }, sort_keys=True).encode()

    def headers(self, event, attempt):
        """The headers describing the body, before the rule's own."""
        return {'Content-Type': _JSON}

    def signature_headers(self, event, body, stamp):
        """The headers signing ``body`` sent at Unix time ``stamp``."""
        return {}

    def masked(self, headers):
        """``headers`` as test-rule shows them: no signature."""
        return headers


class EsiFormat(Format):
    """The esi-event-actions document, signed in X-ESI-Signature."""

    def headers(self, event, attempt):
        return {'Content-Type': _JSON, 'X-ESI-Event-Id': event.id,
                'X-ESI-Event-Type': event.event_type,
                'X-ESI-Attempt': str(attempt)}

    def signature_headers(self, event, body, stamp):
        if not self.options.secret:
            return {}
        return {TIMESTAMP_HEADER: str(stamp),
                SIGNATURE_HEADER: sign(self.options.secret, stamp, body)}

    def masked(self, headers):
        if SIGNATURE_HEADER in headers:
            headers[SIGNATURE_HEADER] = 'sha256=%s (signed when sent)' % _MASK
            headers[TIMESTAMP_HEADER] = '<time of sending>'
        return headers


class StandardWebhooksFormat(Format):
    """The esi-event-actions document, signed as Standard Webhooks say."""

    def __init__(self, rule, options):
        super().__init__(rule, options)
        self._keys = (standard_keys(options.secret) if options.secret
                      else [])

    def signature_headers(self, event, body, stamp):
        if not self._keys:
            return {}
        message_id = delivery_id(event, self.rule)
        return {'webhook-id': message_id, 'webhook-timestamp': str(stamp),
                'webhook-signature': standard_signature(
                    self._keys, message_id, stamp, body)}

    def masked(self, headers):
        if 'webhook-signature' in headers:
            headers['webhook-signature'] = ' '.join(
                ['v1,%s' % _MASK] * len(self._keys)) + ' (signed when sent)'
            headers['webhook-timestamp'] = '<time of sending>'
        return headers


class CloudEventsFormat(StandardWebhooksFormat):
    """A CloudEvents 1.0 event in the HTTP binding, whose data is the lease.

    Binary mode puts the attributes in ``ce-`` headers and the lease in the
    body; structured mode sends one JSON document holding both.
    """

    def body(self, event, params, attempt):
        if self.options.cloudevents_mode == STRUCTURED:
            document = self.attributes(event)
            document['data'] = event.data
        else:
            document = event.data
        return safetext.dumps(document, sort_keys=True).encode()

    def attributes(self, event):
        return cloudevent_attributes(event, self.options.cloudevents_source)

    def headers(self, event, attempt):
        if self.options.cloudevents_mode == STRUCTURED:
            return {'Content-Type': _CE_JSON}
        attributes = self.attributes(event)
        headers = {'Content-Type': attributes.pop('datacontenttype')}
        headers.update(('ce-' + name, _ce_header(value))
                       for name, value in attributes.items())
        return headers


_CLASSES = {ESI: EsiFormat, STANDARD_WEBHOOKS: StandardWebhooksFormat,
            CLOUDEVENTS: CloudEventsFormat}


def get(rule, options):
    """The :class:`Format` a rule's options select.

    :raises ValueError: if a secret the format needs is malformed.
    """
    return _CLASSES[options.format](rule, options)
