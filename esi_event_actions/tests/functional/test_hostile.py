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
"""Hostile input straight onto the exchange: the service stays up."""

import collections
import itertools
import uuid

from esi_event_actions import journal
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import raw

HOSTILE_VALUES = [
    'x; touch /tmp/pwned $(id) `id` | cat & echo "\'*?~\\',
    'line one\nline two\r\nthree\ttab',
    '\u00ff\u2603\U0001f4a5 bin\x01\x02\x7f\x1b[31m',
    '-rf --help',
    ' leading and trailing ',
]


class HostileInputTest(base.FunctionalTestCase):

    def test_1000_malformed_among_valid_messages(self):
        calls = self.recorder('act.sh')
        svc = self.service(self.config('''
            [act]
            events = esi_leap.lease.fulfill.end
            filter_params = {"purpose": "valid"}
            script = act.sh
            script_params = name,properties.note
            '''))
        svc.wait_listening()
        bad, labels = [], []
        rounds = itertools.count()
        while len(bad) < 1000:
            # Only the first rounds carry the 5 MB notification.
            big = 5 * 1024 * 1024 if next(rounds) < 3 else 1024
            for label, body, props in raw.malformed_cases(large_size=big):
                bad.append((body, props))
                labels.append(label)
        bad, labels = bad[:1000], labels[:1000]
        # A message published again after it was acked (same _unique_id):
        # more copies than the prefetch count.
        again = raw.lease_envelope(purpose='valid', name='again',
                                   message_id=str(uuid.uuid4()))
        valid = {}
        messages = []
        for number, item in enumerate(bad):
            messages.append(item)
            if number % 5 == 0:
                name = 'valid-%d' % number
                note = HOSTILE_VALUES[number % len(HOSTILE_VALUES)]
                valid[name] = note
                messages.append((raw.lease_envelope(
                    purpose='valid', name=name,
                    properties={'note': note}), raw.NOTIFIER_PROPERTIES))
        raw.publish(self.transport_url, self.topic, messages)
        raw.publish(self.transport_url, self.topic, [again] * 70)

        base.wait_for(lambda: len(calls.read()) >= len(valid) + 1, 240,
                      'every valid message acted on')
        self.assertIsNone(svc.proc.poll())
        got = collections.Counter((c[2][0], c[2][1]) for c in calls.read())
        expected = collections.Counter(valid.items())
        expected[('again', '')] = 1
        self.assertEqual(expected, got)
        rows = self.journal_rows()
        self.assertEqual(len(valid) + 1, len(rows))
        self.assertEqual({journal.DONE}, {r['state'] for r in rows})
        # Nothing is left behind, unacked or looping.
        base.wait_for(lambda: raw.queue_depth(
            self.transport_url, raw.routing_key(self.topic)) == 0, 60,
            'an empty queue')
        # Each bad message is logged once; those that are well-formed
        # notifications after all are received like any other.
        silent = sum(1 for label in labels
                     if raw.OSLO_OUTCOME[label] == 'delivered')

        def dropped():
            log = svc.log()
            return (log.count('Dropping notification') +
                    log.count('Ignoring notification') +
                    log.count('Failed to process message'))
        try:
            base.wait_for(lambda: dropped() >= len(bad) - silent, 60,
                          'a log line for every bad message')
        finally:
            self.assertEqual(len(bad) - silent, dropped())
