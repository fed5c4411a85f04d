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
"""Every use of oslo.messaging's and oslo.service's private parts.

No other module of esi-event-actions touches a private name of those
libraries.  Checked against oslo.messaging 18.3.1 and oslo.service 4.8.0,
the versions in ``constraints.txt`` that CI installs; ``tox -e
oslo-newest`` runs the unit tests against their newest releases.
:func:`check` looks at start for each part a guard needs: where a guard
cannot be in place, its fallback is oslo's stock behaviour with one
WARNING, or, where that behaviour would be unsafe, a refusal to start.
:class:`Server` looks again, silently, for the two guards it puts in
place.  Nothing here imports the rest of the service: the one thing it
reports, a failed poll, goes to the callback :class:`Server` is given.

``dispatcher``
    ``notify.dispatcher.BatchNotificationDispatcher._extract_user_message``:
    :class:`Dispatcher` overrides it so that a message whose priority is
    not a string, or not one esi-leap sends, is dropped alone.  Stock
    behaviour raises for the whole batch, which is requeued and raises
    again for ever: a poison batch looping.  **Unsafe: refuse.**

``duplicates``
    ``_drivers.amqp._MsgIdCache``, ``_drivers.amqp.UNIQUE_ID`` and the
    rabbit listener's ``msg_id_cache``: :class:`AcceptDuplicates` replaces
    the cache.  The stock cache neither acknowledges nor rejects a message
    whose id it saw among the last 16: redeliveries after a requeue hold
    prefetch slots until the listener restarts, and enough of them wedge
    consumption.  **Unsafe: refuse.**  A driver listener with no
    ``msg_id_cache`` at all has nothing to guard.

``adapter``
    ``_drivers.base.PollStyleListenerAdapter``, its ``_runner``,
    ``_poll_style_listener``, ``_listen_thread``, ``_started`` and
    ``on_incoming_callback``: :class:`Adapter` replaces the stock
    adapter's polling loop.  It batches what has arrived without waking a
    hundred times a second, and tells whether its polls fail.  The stock
    adapter only costs wake-ups and latency (with a batch timeout of
    :data:`FALLBACK_BATCH_TIMEOUT` when none is set, since without one it
    waits for a full batch): **safe: WARNING**, and ``/healthz`` then sees
    only whether the server runs.

``server``
    ``MessageHandlingServer._create_listener``, ``_process_incoming``,
    ``_on_incoming``, ``_started`` and ``listener``: :class:`Server`
    handles each batch on the polling thread and puts :class:`Adapter` in
    place.  Stock behaviour hands batches to an executor thread: slower,
    not wrong.  **Safe: WARNING** (the adapter guard is then off too).

``prefetch``
    ``_drivers.impl_rabbit.rabbit_opts``: :func:`set_prefetch_default`
    changes the default of ``[oslo_messaging_rabbit]
    rabbit_qos_prefetch_count``, which has no public setter.  The stock
    default is 0, an unlimited prefetch: a backlog would all go to one
    instance, into its memory.  **Unsafe: refuse**, unless the option is
    set above 0.

``reload``
    oslo.service's threading launcher's ``_manager.register_hooks``:
    :func:`on_reload` registers the hook that reloads the rules on
    SIGHUP.  Without it SIGHUP restarts the worker with the rules loaded
    at start: **safe: WARNING.**
"""

import threading
import time
import types

from oslo_config import cfg
from oslo_log import log as logging
from oslo_messaging._drivers import amqp as amqp_driver
from oslo_messaging._drivers import base as driver_base
from oslo_messaging.notify import dispatcher as notify_dispatcher
from oslo_messaging.notify import listener as notify_listener
from oslo_utils import excutils

from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

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

UNSAFE = ('dispatcher', 'duplicates', 'prefetch')


class UnsafeInternals(Exception):
    """A guard whose fallback is unsafe cannot be put in place."""


def _off(**found):
    """Those of ``found`` (a guard: why it is off, or None) that are off."""
    return {name: why for name, why in found.items() if why}


def _missing(owner, *names):
    return [name for name in names if not hasattr(owner, name)]


def _check_dispatcher():
    method = getattr(notify_dispatcher.BatchNotificationDispatcher,
                     '_extract_user_message', None)
    if method is None:
        return 'BatchNotificationDispatcher._extract_user_message is gone'
    incoming = types.SimpleNamespace(ctxt={}, message={
        'priority': 'INFO', 'event_type': 'e', 'payload': {},
        'publisher_id': 'p', 'message_id': 'm'})
    try:
        extracted = method(notify_dispatcher.BatchNotificationDispatcher(
            [], None), incoming)
        priority, _, message = extracted
        shaped = priority == 'info' and message.get('event_type') == 'e'
    except Exception as exc:
        return '_extract_user_message fails: %s: %s' % (
            type(exc).__name__, exc)
    return None if shaped else '_extract_user_message answers %r' % (
        extracted,)


def _check_duplicates():
    missing = _missing(amqp_driver, '_MsgIdCache', 'UNIQUE_ID')
    if not missing:
        missing = _missing(amqp_driver._MsgIdCache,
                           'check_duplicate_message')
    return missing and '_drivers.amqp lacks %s' % ', '.join(missing)


def _check_adapter():
    cls = getattr(driver_base, 'PollStyleListenerAdapter', None)
    if cls is None or not hasattr(cls, '_runner'):
        return 'PollStyleListenerAdapter._runner is gone'
    stand_in = types.SimpleNamespace(prefetch_size=10)
    try:
        adapter = cls(stand_in, 2, 0)
        callback = object()
        driver_base.Listener.start(adapter, callback)
    except Exception as exc:
        return 'PollStyleListenerAdapter cannot be built: %s: %s' % (
            type(exc).__name__, exc)
    found = (getattr(adapter, '_poll_style_listener', None) is stand_in and
             isinstance(getattr(adapter, '_listen_thread', None),
                        threading.Thread) and
             getattr(adapter, '_started', None) is False and
             getattr(adapter, 'on_incoming_callback', None) is callback and
             (adapter.batch_size, adapter.batch_timeout) == (2, 0))
    return None if found else 'PollStyleListenerAdapter is built otherwise'


def _check_server():
    missing = _missing(notify_listener.BatchNotificationServer,
                       '_create_listener', '_process_incoming',
                       '_on_incoming')
    return missing and 'BatchNotificationServer lacks %s' % ', '.join(
        missing)


def _server_guards_off():
    """The guards :class:`Server` puts in place that are off, with why."""
    off = _off(adapter=_check_adapter(), server=_check_server())
    if 'server' in off:
        # The server is what puts the adapter in place.
        off.setdefault('adapter', 'the server guard is off')
    return off


def _prefetch_opt():
    # Imported here: were the module gone, check() would say so.
    from oslo_messaging._drivers import impl_rabbit
    return {opt.dest: opt for opt in impl_rabbit.rabbit_opts}[
        'rabbit_qos_prefetch_count']


def set_prefetch_default(count):
    """Make ``count`` the default prefetch of the rabbit driver."""
    try:
        cfg.set_defaults([_prefetch_opt()], rabbit_qos_prefetch_count=count)
    except Exception:
        # Listing the options needs no prefetch; the listener's check()
        # finds the default unset, and says why.
        pass


def _prefetch_default_unset():
    try:
        default = _prefetch_opt().default
    except Exception as exc:
        return 'impl_rabbit.rabbit_opts: %s: %s' % (type(exc).__name__, exc)
    return None if default else 'set_prefetch_default was not called'


def _check_prefetch(conf):
    why = _prefetch_default_unset()
    if why is None:
        return None
    try:
        count = conf.oslo_messaging_rabbit.rabbit_qos_prefetch_count
    except Exception:
        count = 0
    return None if count else (
        '%s, and [oslo_messaging_rabbit] rabbit_qos_prefetch_count is not '
        'set above 0' % why)


def check(conf, listening=True):
    """Check every guard; WARNING for each safe one off.

    :param listening: whether this process consumes from the bus (the
        poller needs the reload hook only).
    :returns: the guards found off, by name, with why.
    :raises UnsafeInternals: naming each guard whose fallback is unsafe.
    """
    off = {}
    if listening:
        off = dict(_server_guards_off(), **_off(
            dispatcher=_check_dispatcher(), duplicates=_check_duplicates(),
            prefetch=_check_prefetch(conf)))
    unsafe = ['%s (%s)' % (name, off[name]) for name in UNSAFE
              if name in off]
    if unsafe:
        raise UnsafeInternals(
            'this oslo.messaging cannot be used safely: the guard%s %s '
            'cannot be put in place; install the version in '
            'constraints.txt' % ('s' if len(unsafe) > 1 else '',
                                 '; '.join(unsafe)))
    for name, why in sorted(off.items()):
        LOG.warning('The %s guard on oslo.messaging is off (%s): falling '
                    'back to its own behaviour', name, why)
    return off


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

    With the ``server`` guard off (see :func:`check`) it behaves as
    oslo.messaging's own server.

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
        self.guards_off = _server_guards_off()

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
                raise UnsafeInternals(
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


def on_reload(launcher, callback):
    """Have ``launcher`` call ``callback`` in its parent on SIGHUP.

    oslo.service offers no hook of its own for this: this registers one
    with the cotyledon manager behind its threading launcher.
    """
    manager = getattr(launcher, '_manager', None)
    register = getattr(manager, 'register_hooks', None)
    if register is None:
        LOG.warning('The reload guard on oslo.service is off (the launcher '
                    'has no _manager.register_hooks): SIGHUP restarts the '
                    'worker with the rules loaded at start')
        return False
    register(on_reload=callback)
    return True
