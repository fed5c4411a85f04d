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
"""The guards on oslo's private parts, looked for at start.

Which part each guard needs, and why it is unsafe or merely slower to run
without it, is told in :mod:`esi_event_actions.oslo_internals`.
"""

import threading
import types

from oslo_config import cfg
from oslo_log import log as logging
from oslo_messaging._drivers import amqp as amqp_driver
from oslo_messaging._drivers import base as driver_base
from oslo_messaging.notify import dispatcher as notify_dispatcher
from oslo_messaging.notify import listener as notify_listener

# The package's name, which these log lines have always carried and
# operators may have set levels for.
LOG = logging.getLogger(__package__)

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


def server_guards_off():
    """The guards :class:`~.listening.Server` puts in place that are off.

    :returns: each, by name, with why.
    """
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
        off = dict(server_guards_off(), **_off(
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
