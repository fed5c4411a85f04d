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

No module of esi-event-actions outside this package touches a private
name of those libraries.  Checked against oslo.messaging 18.3.1 and
oslo.service 4.8.0, the versions in ``constraints.txt`` that CI installs;
``tox -e oslo-newest`` runs the unit tests against their newest releases.
:func:`check` looks at start for each part a guard needs: where a guard
cannot be in place, its fallback is oslo's stock behaviour with one
WARNING, or, where that behaviour would be unsafe, a refusal to start.
:class:`Server` looks again, silently, for the two guards it puts in
place.  Nothing here imports the rest of the service: the one thing it
reports, a failed poll, goes to the callback :class:`Server` is given.

- :mod:`.checks`: :func:`check` and the prefetch default;
- :mod:`.listening`: :class:`Server` and the guards it puts in place;
- :mod:`.launcher`: :func:`on_reload`.

The guards, by name:

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
    :data:`.listening.FALLBACK_BATCH_TIMEOUT` when none is set, since
    without one it waits for a full batch): **safe: WARNING**, and
    ``/healthz`` then sees only whether the server runs.

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

# The names the rest of the service uses, in one place.
from esi_event_actions.oslo_internals.checks import check  # noqa: F401
from esi_event_actions.oslo_internals.checks import set_prefetch_default  # noqa
from esi_event_actions.oslo_internals.checks import UnsafeInternals  # noqa
from esi_event_actions.oslo_internals.launcher import on_reload  # noqa: F401
from esi_event_actions.oslo_internals.listening import AcceptDuplicates  # noqa
from esi_event_actions.oslo_internals.listening import Adapter  # noqa: F401
from esi_event_actions.oslo_internals.listening import Dispatcher  # noqa
from esi_event_actions.oslo_internals.listening import DROP  # noqa: F401
from esi_event_actions.oslo_internals.listening import Server  # noqa: F401
