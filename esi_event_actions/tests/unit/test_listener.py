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

import time

import fixtures
import oslo_messaging

from esi_event_actions import listener
from esi_event_actions import metrics
from esi_event_actions import oslo_internals
from esi_event_actions import pipeline
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap


class ListenerTest(cases.ListenerTestCase):

    def test_seed_rules_run_their_scripts(self):
        self.start_listener()
        lease = fake_esi_leap.lease_data(properties={'vendor': 'foo'})
        skipped = fake_esi_leap.lease_data(properties={'vendor': 'foo'},
                                           purpose='production')
        self.esi_leap.emit('esi_leap.lease.fulfill.start', lease)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', skipped)
        self.esi_leap.emit('esi_leap.lease.delete.end', dict(
            lease, fulfill_time='2026-11-26T10:00:05Z'))
        self.wait_jobs(2)
        name = lease['node_name']
        # fulfill.end carries a null fulfill_time, delete.end a null
        # expire_time: each is an empty argument, not a crash.
        self.assertEqual(['delete.sh [%s][]' % name,
                          'fulfill.sh [%s][]' % name], self.output())
        self.assertIn('Rule fulfill skips', self.logger.output)
        self.assertIn("purpose is 'production', wanted \"test\"",
                      self.logger.output)

    def test_bad_messages_are_dropped_and_valid_ones_kept(self):
        self.start_listener()
        good = fake_esi_leap.lease_data(properties={'vendor': 'foo'})
        notifier = self.esi_leap.notifier
        ctx = self.esi_leap.context
        notifier.info(ctx, 'esi_leap.lease.fulfill.end', ['a', 'list'])
        notifier.info(ctx, 'esi_leap.lease.fulfill.end', None)
        notifier.info(ctx, 'esi_leap.lease.fulfill.end',
                      {'esi_leap_object.name': 'LeaseCRUDPayload'})
        notifier.info(ctx, 'esi_leap.lease.fulfill.end',
                      {'esi_leap_object.data': 'not a dict'})
        notifier.info(ctx, 'esi_leap.lease.fulfill.end', dict(
            fake_esi_leap.payload(good), **{
                'esi_leap_object.data': dict(good, purpose=7,
                                             properties='x')}))
        self.esi_leap.emit('esi_leap.lease.fulfill.end', good)
        self.wait_jobs(1)
        self.assertEqual(['fulfill.sh [%s][]' % good['node_name']],
                         self.output())
        log = self.logger.output
        self.assertEqual(4, log.count('Dropping notification'))
        self.assertIn('payload is list, not an object', log)
        self.assertIn('esi_leap_object.data is str, not an object', log)

    def test_a_dispatcher_answer_of_another_shape_drops_the_message(self):
        # Should oslo.messaging change what it extracts from a message,
        # the guard drops that message instead of failing the batch.
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_messaging.notify.dispatcher.BatchNotificationDispatcher.'
            '_extract_user_message', lambda self, incoming: ('info', None)))
        dispatcher = oslo_internals.Dispatcher([], None)
        incoming = type('Incoming', (), {'message': {'message_id': 'm1'}})()
        self.assertEqual(oslo_internals.DROP,
                         dispatcher._extract_user_message(incoming)[0])
        self.assertIn('Dropping notification m1', self.logger.output)

    def test_health_says_so_when_the_consumer_stops_consuming(self):
        server = self.start_listener()
        self.assertTrue(server.consuming())
        # The driver's poll now fails for ever (a renamed attribute in a
        # later oslo.messaging, say): the thread lives, nothing comes in.
        driver = server.listener._poll_style_listener

        def broken(*args, **kwargs):
            raise AttributeError('no attribute _renamed')
        driver.poll = broken
        deadline = time.monotonic() + 10
        while server.consuming() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(server.consuming())

    def test_failed_polls_are_counted_and_the_consumer_is_down(self):
        stats = metrics.Metrics('listener')
        pipe = pipeline.Pipeline(self.ruleset, self.journal, 1,
                                 metrics=stats)
        server = listener.build(self.conf, self.transport, pipe)
        stats.watch(self.journal, server)
        self.start_listener(server)

        def sample(name):
            return stats.registry.get_sample_value(
                'esi_event_actions_' + name, {'source': 'listener'})
        self.assertEqual((0.0, 1.0), (sample('poll_failures_total'),
                                      sample('consumer_up')))

        def broken(*args, **kwargs):
            raise AttributeError('no attribute _renamed')
        server.listener._poll_style_listener.poll = broken
        deadline = time.monotonic() + 10
        while not sample('poll_failures_total') and (
                time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertGreaterEqual(sample('poll_failures_total'), 1.0)
        self.assertEqual(0.0, sample('consumer_up'))

    def test_journal_failure_requeues_without_loss_or_duplicate(self):
        self.conf.set_override('requeue_delay', 0, group='listener')
        real_add = self.journal.add
        calls = []

        def flaky_add(entries, **kwargs):
            calls.append(len(entries))
            if len(calls) == 1:
                raise RuntimeError('database is locked')
            return real_add(entries, **kwargs)
        self.journal.add = flaky_add
        self.start_listener()
        lease = fake_esi_leap.lease_data(properties={'vendor': 'foo'})
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        self.wait_jobs(1)
        self.assertGreaterEqual(len(calls), 2)
        self.assertEqual(1, len(self.journal.rows()))
        self.assertIn('Journalling notifications failed (attempt 1): '
                      'database is locked', self.logger.output)
        self.assertIn('The journal is back', self.logger.output)

    def test_redelivery_adds_nothing(self):
        lease = fake_esi_leap.lease_data(properties={'vendor': 'foo'})
        message = {'event_type': 'esi_leap.lease.fulfill.end',
                   'payload': fake_esi_leap.payload(lease),
                   'publisher_id': 'esi-leap-manager.h',
                   'metadata': {'message_id': 'same-id', 'timestamp': 't'}}
        endpoint = listener.FulfillEndpoint(self.pipeline)
        for _ in range(3):
            self.assertEqual(oslo_messaging.NotificationResult.HANDLED,
                             endpoint.info([message]))
        self.wait_jobs(1)
        self.assertEqual(1, len(self.journal.rows()))

    def test_endpoints_split_the_event_families(self):
        fulfill = listener.FulfillEndpoint.filter_rule
        delete = listener.DeleteEndpoint.filter_rule
        for status in ('start', 'end', 'error'):
            self.assertTrue(fulfill.match(
                {}, 'p', 'esi_leap.lease.fulfill.%s' % status, {}, {}))
            self.assertFalse(delete.match(
                {}, 'p', 'esi_leap.lease.fulfill.%s' % status, {}, {}))
            self.assertTrue(delete.match(
                {}, 'p', 'esi_leap.lease.delete.%s' % status, {}, {}))
        self.assertFalse(fulfill.match({}, 'p', 'esi_leap.offer.create',
                                       {}, {}))
