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
"""The guards on oslo's private parts, their checks and their fallbacks."""

import threading
import types

import fixtures
import oslo_messaging

from esi_event_actions import listener
from esi_event_actions import notification
from esi_event_actions import oslo_internals
from esi_event_actions.oslo_internals import listening
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap


class CheckTest(cases.ListenerTestCase):
    """check() on this oslo, and on one whose private parts moved."""

    def remove(self, target):
        self.useFixture(fixtures.MonkeyPatch(
            target, fixtures.MonkeyPatch.delete))

    def build(self):
        return listener.build(self.conf, self.transport, self.pipeline)

    def test_every_guard_is_in_place_here(self):
        self.assertEqual({}, oslo_internals.check(self.conf))
        self.assertNotIn('guard', self.logger.output)
        self.assertEqual({}, self.build().guards_off)

    def watch_threads(self):
        """The threads the pipeline is given batches on."""
        threads = []
        handle = self.pipeline.accept

        def accept(events, **kwargs):
            threads.append(threading.current_thread())
            return handle(events, **kwargs)
        self.pipeline.accept = accept
        return threads

    def test_the_real_adapter_runs_and_batches_go_on_its_thread(self):
        threads = self.watch_threads()
        server = self.start_listener()
        self.assertIs(oslo_internals.Adapter, type(server.listener))
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(
                               properties={'vendor': 'foo'}))
        self.wait_jobs(1)
        # oslo's own server would hand the batch to an executor thread.
        self.assertEqual([server.listener._listen_thread], threads)
        self.assertTrue(server.consuming())

    def test_unsafe_fallbacks_refuse_to_start(self):
        dispatcher = ('oslo_messaging.notify.dispatcher.%s.'
                      '_extract_user_message')
        for targets, name in (
                # Where it is defined, and where an earlier patch restored
                # it by assignment.
                ([dispatcher % 'NotificationDispatcher',
                  dispatcher % 'BatchNotificationDispatcher'], 'dispatcher'),
                (['oslo_messaging._drivers.amqp._MsgIdCache'], 'duplicates'),
                (['oslo_messaging._drivers.amqp.UNIQUE_ID'], 'duplicates')):
            patches = [fixtures.MonkeyPatch(t, fixtures.MonkeyPatch.delete)
                       for t in targets]
            for patch in patches:
                patch.setUp()
            try:
                exc = self.assertRaises(oslo_internals.UnsafeInternals,
                                        oslo_internals.check, self.conf)
            finally:
                for patch in reversed(patches):
                    patch.cleanUp()
            self.assertIn('the guard %s (' % name, str(exc))
            self.assertIn('constraints.txt', str(exc))

    def test_a_dispatcher_answering_otherwise_is_refused(self):
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_messaging.notify.dispatcher.BatchNotificationDispatcher.'
            '_extract_user_message', lambda self, incoming: ('info', None)))
        exc = self.assertRaises(oslo_internals.UnsafeInternals,
                                oslo_internals.check, self.conf)
        self.assertIn('dispatcher (_extract_user_message fails', str(exc))

    def test_no_prefetch_default_is_refused_unless_one_is_set(self):
        self.remove('oslo_messaging._drivers.impl_rabbit.rabbit_opts')
        # Setting it cannot fail the caller: check() says why.
        oslo_internals.set_prefetch_default(64)
        self.conf.set_override('rabbit_qos_prefetch_count', 0,
                               'oslo_messaging_rabbit')
        exc = self.assertRaises(oslo_internals.UnsafeInternals,
                                oslo_internals.check, self.conf)
        self.assertIn('prefetch (impl_rabbit.rabbit_opts: AttributeError',
                      str(exc))
        self.conf.set_override('rabbit_qos_prefetch_count', 64,
                               'oslo_messaging_rabbit')
        oslo_internals.check(self.conf)

    def test_without_the_adapter_guard_oslos_own_adapter_works(self):
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_messaging._drivers.base.PollStyleListenerAdapter.__init__',
            _built_otherwise))
        self.assertIn('adapter', oslo_internals.check(self.conf))
        self.assertIn('The adapter guard on oslo.messaging is off',
                      self.logger.output)
        server = self.build()
        self.assertEqual({'adapter'}, set(server.guards_off))
        # Stock again, for the adapter oslo builds in its place.
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_messaging._drivers.base.PollStyleListenerAdapter.__init__',
            _STOCK_INIT))
        self.start_listener(server)
        self.assertIsNot(oslo_internals.Adapter, type(server.listener))
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(
                               properties={'vendor': 'foo'}))
        self.wait_jobs(1)

    def test_without_the_server_guard_batches_go_to_the_executor(self):
        self.remove('oslo_messaging.server.MessageHandlingServer.'
                    '_on_incoming')
        self.assertEqual({'server', 'adapter'},
                         set(oslo_internals.check(self.conf)))
        server = self.build()
        self.assertEqual({'server', 'adapter'}, set(server.guards_off))
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_messaging.server.MessageHandlingServer._on_incoming',
            _STOCK_ON_INCOMING))
        threads = self.watch_threads()
        self.start_listener(server)
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(
                               properties={'vendor': 'foo'}))
        self.wait_jobs(1)
        self.assertNotIn(server.listener._listen_thread, threads)
        self.assertEqual(1, len(threads))

    def test_reload_hook_or_one_warning(self):
        hooks = []
        manager = types.SimpleNamespace(
            register_hooks=lambda **kw: hooks.append(kw))
        self.assertTrue(oslo_internals.on_reload(
            types.SimpleNamespace(_manager=manager), print))
        self.assertEqual([{'on_reload': print}], hooks)
        self.assertFalse(oslo_internals.on_reload(object(), print))
        self.assertIn('The reload guard on oslo.service is off',
                      self.logger.output)


def _built_otherwise(self, poll_style_listener, batch_size, batch_timeout):
    # A later oslo.messaging, say, that names its attributes differently.
    listening.driver_base.Listener.__init__(
        self, batch_size, batch_timeout, poll_style_listener.prefetch_size)
    self._renamed = poll_style_listener


_STOCK_INIT = listening.driver_base.PollStyleListenerAdapter.__init__
_STOCK_ON_INCOMING = (
    listening.notify_listener.BatchNotificationServer._on_incoming)


class _Incoming:
    """What a driver hands the dispatcher: a context and a message."""

    def __init__(self, **message):
        self.ctxt = {}
        self.message = message


class GuardTest(base.TestCase):
    """The guards around oslo.messaging's rabbit driver and dispatcher."""

    def setUp(self):
        super().setUp()
        self.seen = []
        test = self

        class Endpoint(listener._LeaseEndpoint):
            def _handle(self, messages, priority):
                test.seen.extend(m['event_type'] for m in messages)
                return oslo_messaging.NotificationResult.HANDLED
        self.endpoints = [Endpoint(None)]
        self.dispatcher = oslo_internals.Dispatcher(self.endpoints, None)

    def test_one_bad_priority_does_not_fail_its_batch(self):
        good = dict(event_type='esi_leap.lease.fulfill.end', payload={},
                    priority='INFO', publisher_id='p', message_id='m1')
        batch = [_Incoming(**dict(good, priority=None)),
                 _Incoming(**dict(good, priority=42)),
                 _Incoming(**dict(good, priority='WARN')),
                 _Incoming(**dict(good, event_type=None)),
                 _Incoming(**good)]
        self.assertEqual(set(), self.dispatcher.dispatch(batch))
        self.assertEqual(['esi_leap.lease.fulfill.end'], self.seen)
        self.assertEqual(4, self.logger.output.count(
            'Dropping notification'))
        self.assertIn("priority 'warn' is not one esi-leap sends",
                      self.logger.output)

    def test_redelivered_message_ids_are_let_through(self):
        transport = oslo_messaging.get_notification_transport(
            self.conf, url='kombu+memory:////')
        self.addCleanup(transport.cleanup)
        server = oslo_internals.Server(
            transport=transport, targets=[oslo_messaging.Target(topic='t')],
            endpoints=self.endpoints, priorities=('info',),
            on_poll_failed=lambda: None)
        adapter = server._create_listener()
        # These are oslo.messaging internals: if an upgrade moves them, this
        # test fails instead of the guard silently going away.
        cache = adapter._poll_style_listener.msg_id_cache
        self.assertIsInstance(cache, oslo_internals.AcceptDuplicates)
        data = {'_unique_id': 'u1'}
        for _ in range(3):
            cache.check_duplicate_message(dict(data))
        cache.add('u1')
        cache.check_duplicate_message(dict(data))

    def test_deep_payload_is_refused(self):
        deep = leaf = {}
        for _ in range(100):
            leaf['x'] = {}
            leaf = leaf['x']
        message = {'event_type': 'esi_leap.lease.fulfill.end',
                   'payload': fake_esi_leap.payload(fake_esi_leap.lease_data(
                       properties=deep)), 'metadata': {}}
        self.assertRaises(notification.BadMessage, notification.to_event,
                          message)
