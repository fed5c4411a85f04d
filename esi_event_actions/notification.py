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
"""Turn an esi-leap notification into an Event, or say why it cannot be."""

import hashlib
import json

from esi_event_actions import event as event_mod

_DATA_SUFFIX = '_object.data'
_NAME_SUFFIX = '_object.name'


# Lease data is three levels deep; anything far deeper is an attack on the
# recursion limit of every JSON encoder downstream.
MAX_DEPTH = 32


class BadMessage(Exception):
    """A notification that can never be handled, whatever is retried."""


def _check_depth(value):
    # Iterative: a recursive check would hit the limit it guards against.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadMessage('payload nested deeper than %d levels'
                             % MAX_DEPTH)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def payload_data(payload):
    """The object data of a versioned-object payload, or a plain dict."""
    if not isinstance(payload, dict):
        raise BadMessage('payload is %s, not an object'
                         % type(payload).__name__)
    for key, value in payload.items():
        if isinstance(key, str) and key.endswith(_DATA_SUFFIX):
            if not isinstance(value, dict):
                raise BadMessage('%s is %s, not an object'
                                 % (key, type(value).__name__))
            return value
    if any(isinstance(k, str) and k.endswith(_NAME_SUFFIX) for k in payload):
        raise BadMessage('versioned object payload without its data')
    return payload


def _fallback_id(message):
    # Every oslo.messaging notifier sets a message id.  A message without
    # one still needs a stable key so that its redelivery is recognised.
    text = json.dumps(message, sort_keys=True, default=repr)
    return 'sha256:' + hashlib.sha256(text.encode()).hexdigest()


def to_event(message, priority=None):
    """Build an Event from a listener's message dict.

    :param message: dict with publisher_id, event_type, payload and
        metadata, as an oslo.messaging notification endpoint receives it.
    :raises BadMessage: when the message cannot describe a lease event.
    """
    event_type = message.get('event_type')
    if not isinstance(event_type, str) or not event_type:
        raise BadMessage('no event type')
    data = payload_data(message.get('payload'))
    _check_depth(data)
    metadata = message.get('metadata') or {}
    message_id = metadata.get('message_id')
    if not isinstance(message_id, str) or not message_id:
        message_id = _fallback_id(message)
    publisher = message.get('publisher_id')
    timestamp = metadata.get('timestamp')
    return event_mod.Event(
        event_type=event_type, data=data, id=message_id,
        source='notification',
        publisher_id=publisher if isinstance(publisher, str) else None,
        priority=priority,
        timestamp=timestamp if isinstance(timestamp, str) else None)
