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

"""What tests hand the real esi-leap 1.0, and the error it fails with.

The configuration file and the ``dummy_node`` files that describe nodes
(written by :mod:`.server`), and times and request bodies as
esi-leap's API takes them (sent by :mod:`.client`).
"""

import datetime
import json
import os

from esi_event_actions.tests.functional.harness import procs

RESOURCE_TYPE = 'dummy_node'
EVENT_PREFIX = 'esi_leap.lease.'
TIME_FORMAT = '%Y-%m-%dT%H:%M:%S'

CONFIG = """\
[DEFAULT]
# The suffix of the notifications' publisher_id, and the manager's RPC
# server name.
host = {host}
transport_url = {transport_url}
debug = {debug}
use_stderr = false

[api]
host_ip = {loopback}
port = {api_port}
api_workers = 1
default_resource_type = {resource_type}

[database]
connection = sqlite:///{db}
sqlite_synchronous = false

[pecan]
auth_enable = false

[dummy_node]
dummy_node_dir = {nodes}

[notification]
notification_level = info
versioned_notifications_topics = {topic}

[oslo_messaging_notifications]
driver = messagingv2
transport_url = {transport_url}

[oslo_concurrency]
lock_path = {locks}

[keystone]
auth_type = none
endpoint = {keystone}

[ironic]
auth_type = none
endpoint = {ironic}
"""


class EsiLeapError(procs.ServerError):
    """esi-leap could not be installed, started or stopped.

    Also raised when a wait for something esi-leap does times out.
    """


def write_config(path, **values):
    """Write the configuration file of an instance to path.

    :param values: the fields of :data:`CONFIG` but loopback and
        resource_type
    """
    values = dict(values, loopback=procs.LOOPBACK,
                  resource_type=RESOURCE_TYPE)
    # oslo.config substitutes $name in values.
    config = CONFIG.format(**{key: str(val).replace('$', '$$')
                              for key, val in values.items()})
    procs.write_file(path, config)


def utcnow():
    """The current UTC time, naive and to the second, as esi-leap wants."""
    return datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None, microsecond=0)


def timestamp(value):
    """Format a time for esi-leap's API.

    esi-leap compares naive UTC datetimes: an aware datetime is converted
    to UTC and stripped, a naive one is taken as UTC, a string is passed
    as is. Never send an offset or ``Z``: esi-leap would then compare an
    aware with a naive datetime and fail.
    """
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.strftime(TIME_FORMAT)


def full_event_type(event_type):
    """``fulfill.end`` -> ``esi_leap.lease.fulfill.end``."""
    if event_type.startswith('esi_leap.'):
        return event_type
    return EVENT_PREFIX + event_type


def period(start, end, days=1):
    """Return ``(start_time, end_time)`` for a request body.

    :param start: datetime (naive = UTC) or string; None for now
    :param end: None for ``days`` days after start
    """
    start = utcnow() if start is None else start
    if end is None:
        if isinstance(start, str):
            raise ValueError('give end with a string start')
        end = start + datetime.timedelta(days=days)
    return timestamp(start), timestamp(end)


def with_options(body, **options):
    """Add to a request body the options that are not None; return it."""
    body.update((key, val) for key, val in options.items() if val is not None)
    return body


def dummy_node(owner, vendor='Dell', properties=None,
               resource_class='baremetal', provision_state='available',
               power_state='power off'):
    """Return the contents of a ``dummy_node`` file.

    :param owner: the owning project id
    :param properties: the node's properties; by default a small server of
        vendor ``vendor``
    """
    if properties is None:
        properties = {'vendor': vendor, 'cpu_arch': 'x86_64',
                      'cpus': 16, 'memory_mb': 65536, 'local_gb': 500}
    return {
        'project_owner_id': owner,
        'resource_class': resource_class,
        'power_state': power_state,
        'provision_state': provision_state,
        'properties': properties,
    }


def write_node(node_dir, node_uuid, node):
    """Write node (see :func:`dummy_node`) as the file of node_uuid."""
    # Atomic: the manager reads and rewrites these files.
    procs.write_file(os.path.join(node_dir, node_uuid), json.dumps(node))


def read_node(node_dir, node_uuid):
    """Return the file of node_uuid as a dict."""
    with open(os.path.join(node_dir, node_uuid)) as f:
        return json.load(f)


def remove_node(node_dir, node_uuid):
    """Delete the file of node_uuid, if there is one."""
    try:
        os.remove(os.path.join(node_dir, node_uuid))
    except FileNotFoundError:
        pass
