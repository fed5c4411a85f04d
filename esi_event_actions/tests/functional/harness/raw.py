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
"""Raw AMQP messages on esi-leap's notification queues, good or bad.

An oslo.messaging Notifier with the messagingv2 driver publishes to the
topic exchange ``openstack`` (its control_exchange) with routing key
``<topic>.<priority>``, and declares the queue of the same name (not
durable, not auto-deleted, as amqp_durable_queues and amqp_auto_delete
default).  The body is the JSON envelope::

    {"oslo.version": "2.0", "oslo.message": "<JSON text of the message>"}

where the message holds message_id, publisher_id, event_type, priority
(upper case), payload and timestamp, then the driver's _unique_id, then
every field of the (redacted) request context as ``_context_<key>``.  The
AMQP properties are content_type application/json, content_encoding utf-8,
no headers, delivery_mode 2 and priority 0.

:func:`publish` puts bodies on that exchange byte for byte, with whatever
properties a case needs (or none at all), bypassing kombu's serializers.
"""

import datetime
import urllib.parse
import uuid
import zlib

import kombu
from kombu.utils import json as kombu_json
from oslo_serialization import jsonutils

from esi_event_actions.tests.common import fake_esi_leap

EXCHANGE = 'openstack'

# The AMQP properties of every message an oslo.messaging Notifier sends.
NOTIFIER_PROPERTIES = {
    'content_type': 'application/json',
    'content_encoding': 'utf-8',
    'headers': {},
    'delivery_mode': 2,
    'priority': 0,
}

# What oslo.messaging 18.3 (rabbit driver, kombu 5.7) and the listener as
# built by listener.build make of each case of malformed_cases(), without
# any guard of ours:
#   rejected  - the driver cannot decode it: logged with a traceback and
#               basic.reject(requeue=False), i.e. dropped, or dead-lettered
#               if a policy gives the queue a dead-letter exchange;
#   dropped   - decoded, then acked without reaching our endpoints (unknown
#               priority is logged as a warning, a filtered event type is
#               not logged at all);
#   refused   - reaches our endpoint, which logs and acks it (BadMessage);
#   delivered - reaches our endpoint as a lease event;
#   looping   - requeued with its whole batch, redelivered at once, forever.
# A repeated _unique_id within the last 16 acked is "ignoring duplicate
# message", logged at ERROR and left unacked, holding a prefetch slot.
OSLO_OUTCOME = {
    'a-not-json': 'rejected',
    'a-truncated-json': 'rejected',
    'a-empty-body': 'dropped',
    'b-no-oslo-message': 'dropped',
    'b-empty-object': 'dropped',
    'b-unenveloped-v1-notification': 'delivered',
    'b-top-level-list': 'rejected',
    'b-top-level-list-of-pairs': 'delivered',
    'b-top-level-string': 'rejected',
    'b-top-level-null': 'rejected',
    'c-message-not-json': 'rejected',
    'c-message-not-a-string': 'rejected',
    'c-version-unsupported': 'rejected',
    'c-version-not-a-string': 'rejected',
    'd-message-list': 'rejected',
    'd-message-empty-list': 'dropped',
    'd-message-null': 'rejected',
    'd-message-number': 'rejected',
    'd-message-string': 'rejected',
    'e-invalid-utf8': 'rejected',
    'e-invalid-utf8-binary-encoding': 'rejected',
    'f-large': 'delivered',
    'g-octet-stream': 'rejected',
    'g-text-plain': 'rejected',
    'g-json-with-charset': 'rejected',
    'g-no-content-type': 'rejected',
    'g-no-content-encoding': 'delivered',
    'g-encoding-latin-1': 'delivered',
    'g-pickle': 'rejected',
    'g-bogus-compression': 'delivered',
    'g-zlib-compression': 'delivered',
    'h-priority-missing': 'dropped',
    'h-priority-unknown': 'dropped',
    'h-priority-known-unhandled': 'dropped',
    'h-priority-error-on-info': 'delivered',
    'h-priority-null': 'looping',
    'h-priority-number': 'looping',
    'h-event-type-missing': 'dropped',
    'h-event-type-number': 'dropped',
    'h-payload-null': 'refused',
    'h-payload-not-versioned': 'refused',
    'h-metadata-missing': 'delivered',
    'h-message-id-number': 'delivered',
    'h-context-odd': 'delivered',
    'i-offer-create': 'dropped',
    'i-lease-create': 'dropped',
    # The journal cannot serialize it (RecursionError): the batch is
    # requeued every requeue_delay seconds, forever.
    'j-deep-payload': 'looping',
}


def routing_key(topic, priority='info'):
    """The routing key, and queue name, of a topic at a priority."""
    return '%s.%s' % (topic, priority.lower())


def connection(transport_url):
    """A kombu connection to the first host of an oslo transport URL."""
    url = urllib.parse.urlsplit(transport_url)
    if url.scheme not in ('rabbit', 'kombu', 'amqp'):
        raise ValueError('not a RabbitMQ transport URL: %s' % url.scheme)
    netloc = url.netloc.split(',')[0]
    credentials, _, hostport = netloc.rpartition('@')
    user, _, password = credentials.partition(':')
    host = urllib.parse.urlsplit('//' + hostport)
    return kombu.Connection(
        hostname=host.hostname or 'localhost', port=host.port or 5672,
        userid=urllib.parse.unquote(user) or 'guest',
        password=urllib.parse.unquote(password) or 'guest',
        virtual_host=urllib.parse.unquote(url.path[1:]) or '/',
        transport='pyamqp', transport_options={'confirm_publish': True})


def queue_depth(transport_url, queue):
    """How many messages wait in an existing queue."""
    with connection(transport_url) as conn:
        channel = conn.channel()
        _, count, _ = channel.queue_declare(queue, passive=True)
        channel.close()
    return count


def publish(transport_url, topic, bodies, priority='info',
            exchange=EXCHANGE, durable=False):
    """Publish raw bodies where a Notifier would publish notifications.

    :param bodies: bytes, or (body, properties) pairs where properties
        may hold content_type, content_encoding, headers, delivery_mode,
        priority and any other basic.publish property; a property that is
        absent or None is not sent at all.  A bare body gets
        :data:`NOTIFIER_PROPERTIES`.
    :param priority: the notification priority naming the routing key.
    :param durable: must match how the exchange and queue were declared
        (amqp_durable_queues).

    The exchange and the ``<topic>.<priority>`` queue are declared as the
    Notifier declares them, so nothing is lost when no listener has
    started yet.  Publisher confirms make every message be on the broker
    when this returns.
    """
    key = routing_key(topic, priority)
    with connection(transport_url) as conn:
        channel = conn.channel()
        exch = kombu.Exchange(exchange, type='topic', durable=durable,
                              auto_delete=False)
        kombu.Queue(key, exchange=exch, routing_key=key, durable=durable,
                    auto_delete=False, channel=channel).declare()
        for item in bodies:
            body, properties = ((item, NOTIFIER_PROPERTIES)
                                if isinstance(item, bytes) else item)
            properties = dict(properties)
            message = channel.prepare_message(
                body,
                priority=properties.pop('priority', None),
                content_type=properties.pop('content_type', None),
                content_encoding=properties.pop('content_encoding', None),
                headers=properties.pop('headers', None),
                properties=properties)
            channel.basic_publish(message, exchange=exchange,
                                  routing_key=key)
        channel.close()


def utc_timestamp():
    """A timestamp as oslo.messaging writes it: str(utcnow())."""
    return str(datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None))


def message(event_type, payload, priority='INFO',
            publisher_id=fake_esi_leap.PUBLISHER_ID, message_id=None, *,
            timestamp=None, context=None, unique_id=None):
    """The message a messagingv2 Notifier sends, as an ordered dict.

    Fields left as None get fresh values as a Notifier would make them.

    :param context: the request context's to_dict(), flattened in as
        ``_context_<key>`` fields.  A Notifier given a plain dict (as the
        tests' fake esi-leap does) sends no context fields at all.
    """
    msg = {
        'message_id': message_id or str(uuid.uuid4()),
        'publisher_id': publisher_id,
        'event_type': event_type,
        'priority': priority.upper(),
        'payload': payload,
        'timestamp': timestamp or utc_timestamp(),
        '_unique_id': unique_id or uuid.uuid4().hex,
    }
    msg.update(('_context_%s' % key, value)
               for key, value in (context or {}).items())
    return msg


def wrap(msg, version='2.0'):
    """The messagingv2 envelope around any message value, as bytes."""
    return kombu_json.dumps({'oslo.version': version,
                             'oslo.message': jsonutils.dumps(msg)}).encode()


def envelope(event_type, payload, priority='INFO',
             publisher_id=fake_esi_leap.PUBLISHER_ID, message_id=None,
             **kwargs):
    """The body a messagingv2 Notifier publishes for one notification."""
    return wrap(message(event_type, payload, priority, publisher_id,
                        message_id, **kwargs))


def lease_envelope(event_type='esi_leap.lease.fulfill.end', message_id=None,
                   **data):
    """A valid esi-leap lease notification body."""
    return envelope(event_type, _lease_payload(**data),
                    message_id=message_id)


def _lease_payload(**data):
    return fake_esi_leap.payload(fake_esi_leap.lease_data(**data))


def _without(msg, *keys):
    return {k: v for k, v in msg.items() if k not in keys}


def _nested(depth):
    value = {}
    for _ in range(depth):
        value = {'n': value}
    return value


def malformed_cases(large_size=5 * 1024 * 1024, nesting=900):
    """Bodies a listener must survive: (label, body bytes, properties).

    Labels start with the letter of the class of fault: (a) body not
    JSON, (b) JSON without an envelope, (c) envelope whose message is not
    JSON, (d) message JSON but not an object, (e) invalid UTF-8, (f) a
    large valid notification, (g) content type and encoding oddities,
    (h) a valid envelope with odd fields, (i) event types nobody handles,
    (j) deep nesting.  :data:`OSLO_OUTCOME` says what the listener
    makes of each.

    Not a body: a valid body published again after the listener acked
    it (same ``_unique_id``) is never acked; see :data:`OSLO_OUTCOME`.
    """
    fulfill = 'esi_leap.lease.fulfill.end'
    good = _lease_payload()
    props = NOTIFIER_PROPERTIES

    def msg(**overrides):
        return dict(message(fulfill, good), **overrides)

    def valid():
        # Each its own _unique_id: the driver ignores a repeated one.
        return wrap(msg())

    # Set after payload(), whose deep copy would hit the recursion limit.
    deep = _lease_payload()
    deep['esi_leap_object.data']['properties'] = _nested(nesting)
    cases = [
        ('a-not-json', b'this is not json', props),
        ('a-truncated-json', valid()[:600], props),
        ('a-empty-body', b'', props),
        ('b-no-oslo-message', b'{"oslo.version": "2.0"}', props),
        ('b-empty-object', b'{}', props),
        ('b-unenveloped-v1-notification',
         jsonutils.dumps(msg()).encode(), props),
        ('b-top-level-list', b'[1, 2]', props),
        ('b-top-level-list-of-pairs',
         jsonutils.dumps(list(msg().items())).encode(), props),
        ('b-top-level-string', b'"text"', props),
        ('b-top-level-null', b'null', props),
        ('c-message-not-json',
         b'{"oslo.version": "2.0", "oslo.message": "not json"}', props),
        ('c-message-not-a-string',
         jsonutils.dumps({'oslo.version': '2.0',
                          'oslo.message': msg()}).encode(), props),
        ('c-version-unsupported', wrap(msg(), version='3.0'), props),
        ('c-version-not-a-string',
         b'{"oslo.version": 2, "oslo.message": "{}"}', props),
        ('d-message-list', wrap([1, 2]), props),
        ('d-message-empty-list', wrap([]), props),
        ('d-message-null', wrap(None), props),
        ('d-message-number', wrap(42), props),
        ('d-message-string', wrap('text'), props),
        ('e-invalid-utf8', b'\xff\xfe' + valid(), props),
        ('e-invalid-utf8-binary-encoding', b'\xff\xfe' + valid(),
         dict(props, content_encoding='binary')),
        ('f-large', envelope(fulfill, _lease_payload(
            properties={'blob': 'x' * large_size})), props),
        ('g-octet-stream', valid(),
         dict(props, content_type='application/octet-stream')),
        ('g-text-plain', valid(), dict(props, content_type='text/plain')),
        ('g-json-with-charset', valid(),
         dict(props, content_type='application/json; charset=utf-8')),
        ('g-no-content-type', valid(),
         dict(props, content_type=None, content_encoding=None)),
        ('g-no-content-encoding', valid(),
         dict(props, content_encoding=None)),
        ('g-encoding-latin-1', valid(),
         dict(props, content_encoding='latin-1')),
        ('g-pickle', valid(),
         dict(props, content_type='application/x-python-serialize')),
        ('g-bogus-compression', valid(),
         dict(props, headers={'compression': 'application/x-gzip'})),
        # kombu's "gzip" compression (kombu_compression) is zlib.
        ('g-zlib-compression', zlib.compress(valid()),
         dict(props, headers={'compression': 'application/x-gzip'})),
        ('h-priority-missing', wrap(_without(msg(), 'priority')), props),
        ('h-priority-unknown', wrap(msg(priority='BOGUS')), props),
        ('h-priority-known-unhandled', wrap(msg(priority='WARN')), props),
        ('h-priority-error-on-info', wrap(msg(priority='ERROR')), props),
        ('h-priority-null', wrap(msg(priority=None)), props),
        ('h-priority-number', wrap(msg(priority=42)), props),
        ('h-event-type-missing', wrap(_without(msg(), 'event_type')),
         props),
        ('h-event-type-number', wrap(msg(event_type=42)), props),
        ('h-payload-null', wrap(msg(payload=None)), props),
        ('h-payload-not-versioned', wrap(msg(payload=[1, 2])), props),
        ('h-metadata-missing',
         wrap(_without(msg(), 'message_id', 'timestamp')), props),
        ('h-message-id-number', wrap(msg(message_id=42)), props),
        ('h-context-odd',
         wrap(msg(_context_=1, _context_roles={'x': [None]},
                  _msg_id='m', _reply_q='nowhere', _timeout='soon')),
         props),
        ('i-offer-create', envelope('esi_leap.offer.create', good), props),
        ('i-lease-create', envelope('esi_leap.lease.create', good), props),
        ('j-deep-payload', envelope(fulfill, deep), props),
    ]
    return cases
