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
"""Whatever a publisher can send, the pipeline ends every event it took.

Lease payloads are drawn from what can cross the wire: strings with NUL,
lone surrogates, control characters and 100 KB lengths; huge, negative,
float and non-finite numbers; deep nesting; odd keys.  Each goes through
the real endpoint, rules (a filter and a ``once_per`` rule), journal,
workers and a real script, and the property is that nothing raises out of
the pipeline, every job the event made reaches a final state, and a normal
event sent after it is done.  The examples are derandomized so that CI
runs the same 200 every time; the functional tests run them again on
PostgreSQL.
"""

import json
import os
import time

import fixtures
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
import oslo_messaging

from esi_event_actions import journal
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap

EXAMPLES = 200

_SPECIAL = st.sampled_from(['\x00', '\x1b[2J', '\x07', '\n', '\r\n',
                            '\x9b', '\u2028', '\ufeff', '\\', '"', '$(id)',
                            '`id`', '; rm -rf /', '-rf', '%s', '{{x}}'])
_CHARACTERS = st.one_of(st.characters(), st.characters(categories=['Cs']),
                        st.characters(max_codepoint=0x9f))
_SHORT = st.lists(st.one_of(_SPECIAL, _CHARACTERS), max_size=12).map(
    ''.join)
# One in a few strings is long: 100 KB of one repeated piece.
_LONG = st.builds(lambda piece, count: piece * count,
                  st.one_of(_SPECIAL, _CHARACTERS),
                  st.integers(1000, 100 * 1024))
TEXT = st.one_of(_SHORT, _SHORT, _SHORT, _LONG)
NUMBERS = st.one_of(
    st.integers(), st.integers(min_value=-2 ** 80, max_value=2 ** 80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float('inf'), float('-inf'), float('nan'), 1e308,
                     -0.0, 2 ** 63, -2 ** 63 - 1]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12)


def _nested(depth):
    value = 'bottom'
    for _ in range(depth):
        value = [value]
    return value


DEEP = st.integers(1, 40).map(_nested)


@st.composite
def lease_payloads(draw):
    """The data of a lease whose every lessee-chosen field is hostile."""
    data = fake_esi_leap.lease_data(
        name=draw(st.one_of(TEXT, SCALARS)),
        purpose=draw(st.one_of(st.none(), TEXT, VALUES)),
        properties=draw(st.one_of(st.dictionaries(TEXT, VALUES,
                                                  max_size=5), VALUES)))
    data['node_properties']['cpus'] = draw(st.one_of(NUMBERS, TEXT))
    if draw(st.booleans()):
        data['properties'] = {'deep': draw(DEEP)}
    for key in draw(st.lists(TEXT, max_size=3)):
        data[key] = draw(VALUES)
    return data


def on_the_wire(message):
    """``message`` as oslo.messaging's JSON makes it arrive."""
    return json.loads(json.dumps(message))


class HostilePayloadPropertyTest(cases.PipelineTestCase):

    def setUp(self):
        super().setUp()
        # At DEBUG the dropped payloads, megabytes over 200 examples,
        # would be the test's captured log.
        self.useFixture(fixtures.FakeLogger(level='INFO'))
        self.sent = 0

    def final(self, event_id):
        # Jobs are journalled before the endpoint returns: an event with
        # none by then (no rule matched, or a message that cannot be a
        # lease event, logged and dropped) never gets one.
        return all(r['state'] in journal.FINAL_STATES
                   for r in self.journal.rows(event_id=event_id))

    def settle(self, event_id, what):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.final(event_id):
                return
            time.sleep(0.01)
        self.fail('%s never ended: %s' % (what, [
            (r['state'], r['detail'])
            for r in self.journal.rows(event_id=event_id)]))

    def send(self, data, **metadata):
        self.sent += 1
        event_id = 'prop-%d-%s' % (self.sent, os.urandom(4).hex())
        answer = self.deliver(on_the_wire(fake_esi_leap.endpoint_message(
            data, message_id=event_id, **metadata)))
        self.assertEqual(oslo_messaging.NotificationResult.HANDLED, answer)
        return event_id

    @settings(max_examples=EXAMPLES, derandomize=True, database=None,
              deadline=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(data=lease_payloads(),
           timestamp=st.one_of(st.none(), TEXT, NUMBERS))
    def test_every_event_ends_and_the_next_one_is_done(self, data,
                                                       timestamp):
        hostile = self.send(data, timestamp=timestamp)
        self.settle(hostile, 'the hostile event')
        normal = self.send(fake_esi_leap.lease_data(name='normal'))
        self.settle(normal, 'the normal event after it')
        states = {r['rule']: r['state']
                  for r in self.journal.rows(event_id=normal)}
        self.assertEqual(journal.DONE, states['act'])
