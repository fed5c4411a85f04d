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
from oslo_messaging._drivers import amqp as amqp_driver
from oslo_messaging._drivers import base as driver_base
from oslo_messaging.notify import dispatcher as notify_dispatcher
from oslo_messaging.notify import listener as notify_listener
from oslo_utils import excutils

from esi_event_actions import journal
from esi_event_actions import metrics as metrics_mod
from esi_event_actions import notification

LOG = logging.getLogger(__name__)

# The priorities esi-leap uses.  A message is routed by the priority in its
# body, whatever queue it came from.
_PRIORITIES = ('info', 'error')
# A priority that no endpoint of ours handles: the dispatcher acknowledges
# such a message silently, so our own log line is the only one about it.
_DROP = 'sample'
# Longest wait for a first message before the listener looks whether it was
# stopped; the driver returns at once when a message arrives.
_IDLE_POLL = 1.0
# The socket timeout of a look for messages that have arrived already: long
# enough to read a frame the broker has sent, too short to wait for one.
_ARRIVED = 0.0002


def _journalling_outage():
    return journal.Outage(LOG, 'Journalling notifications')


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


class _OtherEndpoint(_LeaseEndpoint):
    """Any other event type: nothing can act on it; say so once."""

    filter_rule = oslo_messaging.NotificationFilter(
        event_type=r'^(?!esi_leap\.lease\.(fulfill|delete)\.)')

    def _handle(self, messages, priority):
        for message in messages:
            LOG.info('Ignoring notification %(id)s: no rule can act on '
                     'event type %(type)s',
                     {'id': (message.get('metadata') or {}).get(
                         'message_id'),
                      'type': message.get('event_type')})
        return oslo_messaging.NotificationResult.HANDLED


class _Dispatcher(notify_dispatcher.BatchNotificationDispatcher):
    """Keeps one malformed message from failing its whole batch.

    oslo.messaging reads every message of a batch before dispatching it,
    and a message whose priority is not a string raises there: the whole
    batch would be requeued, and requeued again, for ever.
    """

    def _extract_user_message(self, incoming):
        try:
            extracted = super()._extract_user_message(incoming)
            priority, _, message = extracted
            event_type = message.get('event_type')
        except Exception as exc:
            # The message's own fault, or oslo.messaging's answer changed
            # shape: either way this message alone is dropped.
            return self._malformed(incoming, '%s: %s'
                                   % (type(exc).__name__, exc))
        if priority not in _PRIORITIES:
            return self._malformed(incoming, 'priority %r is not one '
                                   'esi-leap sends' % priority)
        if not isinstance(event_type, str):
            return self._malformed(incoming, 'no event type')
        return extracted

    @staticmethod
    def _malformed(incoming, why):
        message = incoming.message if isinstance(incoming.message,
                                                 dict) else {}
        LOG.warning('Dropping notification %(id)s: %(why)s',
                    {'id': message.get('message_id'), 'why': why})
        return _DROP, incoming, None


class _AcceptDuplicates(amqp_driver._MsgIdCache):
    """Lets redelivered messages through to the journal.

    The rabbit driver remembers the last 16 message ids it acknowledged
    and, on seeing one again, neither acknowledges nor rejects it: the
    message holds a prefetch slot until the listener restarts, and enough
    of them stop consumption.  The journal recognises a redelivery by its
    message id anyway, so every message is let through.
    """

    def check_duplicate_message(self, message_data):
        message_data.pop(amqp_driver.UNIQUE_ID, None)


class _Adapter(driver_base.PollStyleListenerAdapter):
    """Batches what has arrived, without waiting and without spinning.

    oslo.messaging's adapter polls with the batch timeout even when the
    queue is empty, waking a hundred times a second for a 10 ms timeout,
    and then waits out the timeout after the first message.  This one waits
    for a first message as long as the driver lets it, then adds what has
    arrived already (and what arrives within the batch timeout, if one is
    set): no added latency at a low rate, large batches under load.
    """

    #: What the driver's poll raised, as long as it goes on raising.
    failing = None

    def __init__(self, poll_style_listener, batch_size, batch_timeout,
                 metrics=metrics_mod.NO_METRICS):
        super().__init__(poll_style_listener, batch_size, batch_timeout)
        self.metrics = metrics

    @excutils.forever_retry_uncaught_exceptions
    def _runner(self):
        while self._started:
            poll = self._poll_style_listener.poll
            try:
                incoming = poll(batch_size=1, batch_timeout=_IDLE_POLL)
                if incoming:
                    incoming = self._gather(poll, incoming)
            except Exception as exc:
                self._poll_failed(exc)
                continue
            self.failing = None
            if incoming:
                self.on_incoming_callback(incoming)
        # Stopped: hand over what was consumed already, as oslo's does.
        poll = self._poll_style_listener.poll
        while True:
            try:
                incoming = poll(batch_size=self.batch_size,
                                batch_timeout=_ARRIVED)
            except Exception:
                # What is not acknowledged is delivered again anyway.
                return
            if not incoming:
                return
            self.on_incoming_callback(incoming)

    def _poll_failed(self, exc):
        # The driver retries connections itself: what reaches here is a
        # bug, in oslo.messaging or in our use of it.  Say it once, let
        # the health check say it for as long as it lasts, and do not spin.
        if self.failing is None:
            LOG.error('The listener cannot poll for notifications: %s', exc,
                      exc_info=True)
        self.failing = exc
        self.metrics.poll_failed()
        time.sleep(_IDLE_POLL)

    def consuming(self):
        """Whether the polling thread runs and its polls succeed."""
        return self._listen_thread.is_alive() and self.failing is None

    def _gather(self, poll, incoming):
        deadline = time.monotonic() + (self.batch_timeout or 0)
        while len(incoming) < self.batch_size:
            # One message a poll: oslo's batch poll shares one deadline
            # across the batch, which a tiny timeout would cut short.
            more = poll(batch_size=1, batch_timeout=max(
                deadline - time.monotonic(), _ARRIVED))
            if not more:
                break
            incoming += more
        return incoming


class _Server(notify_listener.BatchNotificationServer):
    """Handles each batch on the polling thread.

    oslo.messaging hands every batch to an executor thread, whose
    acknowledgements then wait for the polling thread to come round, often
    a socket timeout later: with a finite prefetch the broker sends nothing
    meanwhile.  Handled on the polling thread, a batch is acknowledged at
    the very next poll, batches are journalled one at a time in arrival
    order, and no thread hand-off is paid per batch.  What the broker sends
    meanwhile waits in the socket, within the prefetch.
    """

    _driver_listener = None
    #: Where the adapter counts its failed polls.
    metrics = metrics_mod.NO_METRICS

    def _on_incoming(self, incoming):
        self._process_incoming(incoming)

    def _create_listener(self):
        adapter = super()._create_listener()
        driver_listener = getattr(adapter, '_poll_style_listener', None)
        if driver_listener is None:
            return adapter
        if isinstance(getattr(driver_listener, 'msg_id_cache', None),
                      amqp_driver._MsgIdCache):
            driver_listener.msg_id_cache = _AcceptDuplicates()
        self._driver_listener = driver_listener
        return _Adapter(driver_listener, adapter.batch_size,
                        adapter.batch_timeout, self.metrics)

    def consuming(self):
        """Whether notifications are being taken in (or could be)."""
        check = getattr(self.listener, 'consuming', None)
        return self._started and (check is None or check())

    def connected(self):
        """Whether the broker connection is up; None if unknown."""
        # The driver's connection context holds the driver's connection,
        # which holds kombu's: only kombu's knows.
        conn = getattr(self._driver_listener, 'conn', None)
        for _ in range(3):
            state = getattr(conn, 'connected', None)
            if isinstance(state, bool):
                return state
            conn = getattr(conn, 'connection', None)
        return None


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
    # One outage, whichever endpoint meets it.
    outage = _journalling_outage()
    endpoints = [FulfillEndpoint(pipeline, delay, outage),
                 DeleteEndpoint(pipeline, delay, outage),
                 _OtherEndpoint(pipeline, delay, outage)]
    # What get_batch_notification_listener() builds, with the two guards
    # above in place of their oslo.messaging originals.
    server = _Server(transport, targets(conf), _Dispatcher(endpoints, None),
                     'threading', True, conf.listener.pool,
                     conf.listener.batch_size, conf.listener.batch_timeout)
    server.metrics = pipeline.metrics
    return server
