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

from esi_event_actions.conf import legacy
from esi_event_actions import event
from esi_event_actions import notification
from esi_event_actions import oslo_internals
from esi_event_actions import outage as outage_mod
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

# Characters of a publisher's value shown in a log line.
_SHOWN_LIMIT = 200

# The priorities esi-leap uses.  A message is routed by the priority in its
# body, whatever queue it came from.
_PRIORITIES = ('info', 'error')


def _journalling_outage():
    return outage_mod.Outage(LOG, 'Journalling notifications')


def _shown(value):
    """A value a publisher chose, fit for one log line."""
    return safetext.printable(value, _SHOWN_LIMIT)


class _LeaseEndpoint:
    """Batch endpoint for one family of esi-leap lease notifications.

    Each message is journalled before the batch is acknowledged.  A message
    that cannot describe a lease event is logged once and acknowledged: no
    retry can ever make it valid.  If the journal fails, the whole batch is
    requeued; redelivered messages that were stored already add nothing.
    """

    filter_rule = None

    def __init__(self, pipeline, requeue_delay=1.0, outage=None):
        self._pipeline = pipeline
        self._requeue_delay = requeue_delay
        self._outage = outage or _journalling_outage()

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
            except Exception as exc:
                # Whatever else a message can do to us, it does to itself
                # alone: the rest of the batch goes on.
                self._reject(message, 'cannot be read (%s: %s)'
                             % (type(exc).__name__, exc))
        try:
            self._pipeline.accept(events)
        except Exception as exc:
            # The batch goes back to the broker, which offers it again.
            self._outage.failed(exc)
            time.sleep(self._requeue_delay)
            return oslo_messaging.NotificationResult.REQUEUE
        self._outage.succeeded()
        return oslo_messaging.NotificationResult.HANDLED

    @staticmethod
    def _reject(message, exc):
        metadata = message.get('metadata') or {}
        LOG.warning('Dropping notification %(id)s (%(type)s): %(why)s',
                    {'id': _shown(metadata.get('message_id')),
                     'type': _shown(message.get('event_type')),
                     'why': _shown(exc)})
        LOG.debug('Dropped payload: %r', message.get('payload'))


class FulfillEndpoint(_LeaseEndpoint):
    """esi_leap.lease.fulfill.start, .end and .error."""

    filter_rule = oslo_messaging.NotificationFilter(
        event_type=event.family_pattern('fulfill'))


class DeleteEndpoint(_LeaseEndpoint):
    """esi_leap.lease.delete.start, .end and .error (expiry and cancel)."""

    filter_rule = oslo_messaging.NotificationFilter(
        event_type=event.family_pattern('delete'))


class _OtherEndpoint(_LeaseEndpoint):
    """Any other event type: nothing can act on it; say so once."""

    filter_rule = oslo_messaging.NotificationFilter(
        event_type=event.other_pattern())

    def _handle(self, messages, priority):
        for message in messages:
            LOG.info('Ignoring notification %(id)s: no rule can act on '
                     'event type %(type)s',
                     {'id': _shown((message.get('metadata') or {}).get(
                         'message_id')),
                      'type': _shown(message.get('event_type'))})
        return oslo_messaging.NotificationResult.HANDLED


def targets(conf):
    return [oslo_messaging.Target(topic=topic, exchange=conf.listener.exchange)
            for topic in legacy.topics(conf)]


def build(conf, transport, pipeline):
    """A batch notification listener for esi-leap's lease events."""
    delay = conf.listener.requeue_delay
    # One outage, whichever endpoint meets it.
    outage = _journalling_outage()
    endpoints = [FulfillEndpoint(pipeline, delay, outage),
                 DeleteEndpoint(pipeline, delay, outage),
                 _OtherEndpoint(pipeline, delay, outage)]
    return oslo_internals.Server(
        transport=transport, targets=targets(conf), endpoints=endpoints,
        priorities=_PRIORITIES,
        on_poll_failed=pipeline.metrics.poll_failed,
        pool=conf.listener.pool, batch_size=conf.listener.batch_size,
        batch_timeout=conf.listener.batch_timeout)
