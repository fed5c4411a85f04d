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
"""The bus source: esi-leap notifications from RabbitMQ into the pipeline."""

import time

from oslo_log import log as logging
import oslo_messaging

from esi_event_actions import notification

LOG = logging.getLogger(__name__)


class _LeaseEndpoint:
    """Batch endpoint for one family of esi-leap lease notifications.

    Each message is journalled before the batch is acknowledged.  A message
    that cannot describe a lease event is logged once and acknowledged: no
    retry can ever make it valid.  If the journal fails, the whole batch is
    requeued; redelivered messages that were stored already add nothing.
    """

    filter_rule = None

    def __init__(self, pipeline, requeue_delay=1.0):
        self._pipeline = pipeline
        self._requeue_delay = requeue_delay

    def info(self, messages):
        return self._handle(messages, 'info')

    def error(self, messages):
        return self._handle(messages, 'error')

    def _handle(self, messages, priority):
        events = []
        for message in messages:
            try:
                events.append(notification.to_event(message, priority))
            except notification.BadMessage as exc:
                self._reject(message, exc)
        try:
            self._pipeline.accept(events)
        except Exception:
            LOG.exception('Could not journal %d notification(s); handing '
                          'them back to the broker', len(events))
            time.sleep(self._requeue_delay)
            return oslo_messaging.NotificationResult.REQUEUE
        return oslo_messaging.NotificationResult.HANDLED

    @staticmethod
    def _reject(message, exc):
        metadata = message.get('metadata') or {}
        LOG.warning('Dropping notification %(id)s (%(type)s): %(why)s',
                    {'id': metadata.get('message_id'),
                     'type': message.get('event_type'), 'why': exc})
        LOG.debug('Dropped payload: %r', message.get('payload'))


class FulfillEndpoint(_LeaseEndpoint):
    """esi_leap.lease.fulfill.start, .end and .error."""

    filter_rule = oslo_messaging.NotificationFilter(
        event_type=r'^esi_leap\.lease\.fulfill\.')


class DeleteEndpoint(_LeaseEndpoint):
    """esi_leap.lease.delete.start, .end and .error (expiry and cancel)."""

    filter_rule = oslo_messaging.NotificationFilter(
        event_type=r'^esi_leap\.lease\.delete\.')


def targets(conf):
    return [oslo_messaging.Target(topic=topic, exchange=conf.listener.exchange)
            for topic in topics(conf)]


def topics(conf):
    """Topics to consume; the legacy "queues" key names them too."""
    configured = conf.listener.topics
    if conf.queues and configured == ['esi_leap_versioned_notifications']:
        found = []
        for queue in conf.queues:
            topic = queue.rsplit('.', 1)[0] if queue.endswith(
                ('.info', '.error')) else queue
            if topic not in found:
                found.append(topic)
        return found
    return configured


def build(conf, transport, pipeline):
    """A batch notification listener for esi-leap's lease events."""
    delay = conf.listener.requeue_delay
    endpoints = [FulfillEndpoint(pipeline, delay),
                 DeleteEndpoint(pipeline, delay)]
    return oslo_messaging.get_batch_notification_listener(
        transport, targets(conf), endpoints, executor='threading',
        allow_requeue=True, pool=conf.listener.pool,
        batch_size=conf.listener.batch_size,
        batch_timeout=conf.listener.batch_timeout)
