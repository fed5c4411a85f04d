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
"""The notifications the benchmark publishes, and the queues it fills.

They are what esi-leap's Notifier sends, byte for byte
(:mod:`esi_event_actions.tests.functional.harness.raw` and the fake
esi-leap of the tests): message i is about node i mod len(nodes), its
lease is named bench-<i> and its timestamp grows with i, so that the
order of the jobs of one node is the order of i.
"""

import datetime
import time
import uuid

import kombu

from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import raw

import benchmark

EVENT_TYPE = fake_esi_leap.FULFILL_END


def node_uuids(count):
    return [str(uuid.UUID(int=0xbe7c << 96 | index)) for index in
            range(count)]


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def lease(index, nodes, prefix='bench'):
    """The lease of message ``index``; its name orders a node's calls."""
    return fake_esi_leap.lease_data(node_uuid=nodes[index % len(nodes)],
                                    name='%s-%07d' % (prefix, index))


def build_bodies(count, nodes):
    """``count`` messagingv2 bodies, as esi-leap's Notifier publishes."""
    context = fake_esi_leap.request_context().to_dict()
    start = utcnow()
    return [raw.envelope(
        EVENT_TYPE, fake_esi_leap.payload(lease(index, nodes)),
        timestamp=str(start + datetime.timedelta(microseconds=index)),
        context=context) for index in range(count)]


class Queues:
    """The queues of one benchmark on a RabbitMQ."""

    def __init__(self, url):
        self.url = url
        self.exchange = kombu.Exchange(raw.EXCHANGE, type='topic',
                                       durable=False, auto_delete=False)
        self.names = []

    def bind(self, names, topic):
        """Declare queues as an oslo listener pool would, bound to topic."""
        key = raw.routing_key(topic)
        with raw.connection(self.url) as conn:
            channel = conn.channel()
            for name in names:
                kombu.Queue(name, exchange=self.exchange, routing_key=key,
                            durable=False, auto_delete=False,
                            channel=channel).declare()
                self.names.append(name)
            channel.close()

    def delete(self, names):
        with raw.connection(self.url) as conn:
            channel = conn.channel()
            for name in names:
                try:
                    channel.queue_delete(name)
                except Exception:
                    # The broker closes a channel whose command failed.
                    channel = conn.channel()

    def fill(self, names, topic, bodies):
        """Publish bodies once to each of the queues; the publish rate."""
        self.bind(names, topic)
        started = time.monotonic()
        raw.publish(self.url, topic, bodies)
        elapsed = time.monotonic() - started
        # raw.publish declared the topic's own queue: nobody reads it.
        self.delete([raw.routing_key(topic)])
        for name in names:
            depth = raw.queue_depth(self.url, name)
            if depth != len(bodies):
                raise benchmark.BenchError(
                    'queue %s holds %d messages, not %d'
                    % (name, depth, len(bodies)))
        return len(bodies) / elapsed

    def cleanup(self):
        self.delete(self.names)
        self.names = []
