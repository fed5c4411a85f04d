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
"""The guards the listener runs with, in place of oslo.messaging's parts.

Each is checked at start by :mod:`.checks`; what it replaces and why is
told in :mod:`esi_event_actions.oslo_internals`.
"""

import time

from oslo_log import log as logging
from oslo_messaging._drivers import amqp as amqp_driver
from oslo_messaging._drivers import base as driver_base
from oslo_messaging.notify import dispatcher as notify_dispatcher
from oslo_messaging.notify import listener as notify_listener
from oslo_utils import excutils

from esi_event_actions.oslo_internals import checks
from esi_event_actions import safetext

# The package's name, which these log lines have always carried and
# operators may have set levels for.
LOG = logging.getLogger(__package__)

# A priority that no endpoint of ours handles: the dispatcher acknowledges
# such a message silently, so our own log line is the only one about it.
DROP = 'sample'
# Longest wait for a first message before the listener looks whether it was
# stopped; the driver returns at once when a message arrives.
IDLE_POLL = 1.0
# The socket timeout of a look for messages that have arrived already: long
# enough to read a frame the broker has sent, too short to wait for one.
ARRIVED = 0.0002

# The batch timeout oslo's own adapter gets when ours is off and none is
# set: it wakes that often, and delays a lone message that long.
FALLBACK_BATCH_TIMEOUT = 0.05


class Dispatcher(notify_dispatcher.BatchNotificationDispatcher):
    """Keeps one malformed message from failing its whole batch.

    oslo.messaging reads every message of a batch before dispatching it,
    and a message whose priority is not a string raises there: the whole
    batch would be requeued, and requeued again, for ever.

    :param priorities: the priorities endpoints handle; others are
        dropped with a WARNING.
    """

    def __init__(self, endpoints, serializer, priorities=('info', 'error')):
        super().__init__(endpoints, serializer)
        self._priorities = priorities

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
        if priority not in self._priorities:
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
                    {'id': safetext.printable(message.get('message_id'),
                                              200),
                     'why': safetext.printable(why)})
        return DROP, incoming, None


class AcceptDuplicates(amqp_driver._MsgIdCache):
    """Lets redelivered messages through to the journal.

    The rabbit driver remembers the last 16 message ids it acknowledged
    and, on seeing one again, neither acknowledges nor rejects it: the
    message holds a prefetch slot until the listener restarts, and enough
    of them stop consumption.  The journal recognises a redelivery by its
    message id anyway, so every message is let through.
    """

    def check_duplicate_message(self, message_data):
        message_data.pop(amqp_driver.UNIQUE_ID, None)


class Adapter(driver_base.PollStyleListenerAdapter):
    """Batches what has arrived, without waiting and without spinning.

    oslo.messaging's adapter polls with the batch timeout even when the
    queue is empty, waking a hundred times a second for a 10 ms timeout,
    and then waits out the timeout after the first message.  This one waits
    for a first message as long as the driver lets it, then adds what has
    arrived already (and what arrives within the batch timeout, if one is
    set): no added latency at a low rate, large batches under load.

    :param on_poll_failed: called with no argument at each failed poll.
    """

    #: What the driver's poll raised, as long as it goes on raising.
    failing = None

    def __init__(self, poll_style_listener, batch_size, batch_timeout, *,
                 on_poll_failed):
        super().__init__(poll_style_listener, batch_size, batch_timeout)
        self._on_poll_failed = on_poll_failed

    @excutils.forever_retry_uncaught_exceptions
    def _runner(self):
        while self._started:
            try:
                poll = self._poll_style_listener.poll
                incoming = poll(batch_size=1, batch_timeout=IDLE_POLL)
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
                                batch_timeout=ARRIVED)
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
        self._on_poll_failed()
        time.sleep(IDLE_POLL)

    def consuming(self):
        """Whether the polling thread runs and its polls succeed."""
        return self._listen_thread.is_alive() and self.failing is None

    def _gather(self, poll, incoming):
        deadline = time.monotonic() + (self.batch_timeout or 0)
        while len(incoming) < self.batch_size:
            # One message a poll: oslo's batch poll shares one deadline
            # across the batch, which a tiny timeout would cut short.
            more = poll(batch_size=1, batch_timeout=max(
                deadline - time.monotonic(), ARRIVED))
            if not more:
                break
            incoming += more
        return incoming


class Server(notify_listener.BatchNotificationServer):
    """A batch notification listener handling each batch on its poller.

    What ``oslo_messaging.get_batch_notification_listener()`` builds, with
    the guards of this module in place of their originals.  Every
    parameter is keyword-only; those oslo's function takes too mean the
    same there.

    oslo.messaging hands every batch to an executor thread, whose
    acknowledgements then wait for the polling thread to come round, often
    a socket timeout later: with a finite prefetch the broker sends nothing
    meanwhile.  Handled on the polling thread, a batch is acknowledged at
    the very next poll, batches are journalled one at a time in arrival
    order, and no thread hand-off is paid per batch.  What the broker sends
    meanwhile waits in the socket, within the prefetch.

    With the ``server`` guard off (see :func:`.checks.check`) it behaves
    as oslo.messaging's own server.

    :param priorities: those :class:`Dispatcher` lets through.
    :param on_poll_failed: called with no argument each time a poll for
        notifications fails.
    """

    _driver_listener = None

    def __init__(self, *, transport, targets, endpoints, priorities,
                 on_poll_failed, pool=None, batch_size=1,
                 batch_timeout=None):
        super().__init__(transport, targets,
                         Dispatcher(endpoints, None, priorities),
                         executor='threading', allow_requeue=True, pool=pool,
                         batch_size=batch_size, batch_timeout=batch_timeout)
        self._on_poll_failed = on_poll_failed
        #: Its guards found off, by name, with why.  Looked for again in
        #: the worker rather than carried over from check() in the
        #: launcher: same answer, and no module state to carry it.
        self.guards_off = checks.server_guards_off()

    def _on_incoming(self, incoming):
        if 'server' in self.guards_off:
            return super()._on_incoming(incoming)
        self._process_incoming(incoming)

    def _create_listener(self):
        adapter = super()._create_listener()
        driver_listener = getattr(adapter, '_poll_style_listener', None)
        if driver_listener is None or 'adapter' in self.guards_off:
            if not adapter.batch_timeout:
                # Without one oslo's adapter waits for a full batch.
                adapter.batch_timeout = FALLBACK_BATCH_TIMEOUT
            return adapter
        cache = getattr(driver_listener, 'msg_id_cache', None)
        if cache is not None:
            if not isinstance(cache, amqp_driver._MsgIdCache):
                raise checks.UnsafeInternals(
                    'the duplicates guard cannot be put in place: the '
                    'rabbit listener\'s msg_id_cache is a %s'
                    % type(cache).__name__)
            driver_listener.msg_id_cache = AcceptDuplicates()
        self._driver_listener = driver_listener
        return Adapter(driver_listener, adapter.batch_size,
                       adapter.batch_timeout,
                       on_poll_failed=self._on_poll_failed)

    def consuming(self):
        """Whether notifications are being taken in (or could be)."""
        check = getattr(self.listener, 'consuming', None)
        return bool(getattr(self, '_started', False)) and (
            check is None or check())

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
