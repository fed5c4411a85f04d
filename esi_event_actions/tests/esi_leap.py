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
"""Notifications shaped exactly as esi-leap 1.0 sends them.

esi-leap's manager emits LeaseCRUDPayload objects through an oslo.messaging
Notifier with the messagingv2 driver, publisher ``esi-leap-manager.<host>``,
topic ``esi_leap_versioned_notifications``, priority INFO for ``.start`` and
``.end`` and ERROR for ``.error``.  Its quirks are kept: ``fulfill.end``
still says status ``created`` with a null ``fulfill_time``, and
``delete.end`` has a null ``expire_time``.
"""

import copy
import uuid

from oslo_context import context
import oslo_messaging

TOPIC = 'esi_leap_versioned_notifications'

OWNER = 'a3d1f2b4c5e6478f9a0b1c2d3e4f5a6b'
LESSEE = 'f6e5d4c3b2a14f0e9d8c7b6a5f4e3d2c'


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


class _ContextSerializer(oslo_messaging.JsonPayloadSerializer):
    """Sends the request context as esi-leap's serializer does."""

    def serialize_context(self, ctxt):
        return ctxt.to_dict()


class EsiLeap:
    """Publishes lease notifications as esi-leap's manager does."""

    def __init__(self, transport, topic=TOPIC, host='esi-leap-host'):
        self.notifier = oslo_messaging.Notifier(
            transport, publisher_id='esi-leap-manager.%s' % host,
            driver='messagingv2', topics=[topic],
            serializer=_ContextSerializer())
        self.context = context.RequestContext(
            project_id=OWNER, user_id=str(uuid.uuid4()))

    def emit(self, event_type, data):
        level = 'error' if event_type.endswith('.error') else 'info'
        # The context object itself, as esi-leap passes it: its fields
        # travel as _context_* keys.
        getattr(self.notifier, level)(self.context, event_type,
                                      payload(data))
