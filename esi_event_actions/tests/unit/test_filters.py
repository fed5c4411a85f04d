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

from esi_event_actions import event
from esi_event_actions import filters
from esi_event_actions.tests import base
from esi_event_actions.tests import esi_leap


def _event(**data):
    return event.Event('esi_leap.lease.fulfill.end',
                       esi_leap.lease_data(**data), id='m1')


class FilterTest(base.TestCase):

    def assertMatches(self, spec, expected, **data):
        self.assertEqual(expected, filters.Filter(spec).matches(
            _event(**data)), '%s on %s' % (spec, data))

    def test_empty_filter_matches_everything(self):
        self.assertMatches({}, True)
        self.assertMatches(None, True)

    def test_pattern_must_match_whole_value(self):
        # The legacy listener matched prefixes: "test" passed "testing".
        self.assertMatches({'purpose': 'test'}, True, purpose='test')
        self.assertMatches({'purpose': 'test'}, False, purpose='testing')
        self.assertMatches({'purpose': 'test'}, False, purpose='a test')
        self.assertMatches({'purpose': 'test.*'}, True, purpose='testing')

    def test_dot_path_reads_nested_dicts(self):
        self.assertMatches({'properties.vendor': 'foo'}, True,
                           properties={'vendor': 'foo'})
        self.assertMatches({'node_properties.vendor': 'Dell|foo'}, True)
        self.assertMatches({'properties.vendor': 'foo'}, False,
                           properties={'vendor': 'foobar'})

    def test_list_means_any_of(self):
        spec = {'purpose': ['ci', 'test']}
        self.assertMatches(spec, True, purpose='ci')
        self.assertMatches(spec, True, purpose='test')
        self.assertMatches(spec, False, purpose='prod')

    def test_numbers_and_booleans_match_on_json_text(self):
        self.assertMatches({'node_properties.cpus': '16'}, True)
        self.assertMatches({'node_properties.cpus': '1[0-9]'}, True)
        self.assertMatches({'node_properties.cpus': 16}, True)
        self.assertMatches({'node_properties.cpus': 1}, False)
        self.assertMatches({'properties.ok': 'true'}, True,
                           properties={'ok': True})
        self.assertMatches({'properties.ok': True}, True,
                           properties={'ok': True})
        self.assertMatches({'properties.ok': 'True'}, False,
                           properties={'ok': True})
        self.assertMatches({'id': '4.'}, True)

    def test_missing_or_null_never_matches_a_pattern(self):
        self.assertMatches({'purpose': '.*'}, False, purpose=None)
        self.assertMatches({'nothing.here': '.*'}, False)
        self.assertMatches({'properties.vendor': '.*'}, False)
        # "purpose.x" walks into a string: missing, not an error.
        self.assertMatches({'purpose.x': '.*'}, False)

    def test_null_matches_missing_or_null_only(self):
        self.assertMatches({'purpose': None}, True, purpose=None)
        self.assertMatches({'nope': None}, True)
        self.assertMatches({'purpose': None}, False, purpose='')
        self.assertMatches({'purpose': [None, 'test']}, True, purpose='test')

    def test_hostile_values_never_raise(self):
        for value in ([1, 2], {'a': 'b'}, 'x\n' * 1000, '\udcff', 5.5,
                      'a' * 5 * 1024 * 1024):
            self.assertMatches({'purpose': 'test'}, False, purpose=value)
        # A "." in a pattern that must match a newline: DOTALL.
        self.assertMatches({'purpose': 'a.b'}, True, purpose='a\nb')

    def test_mismatch_explains(self):
        why = filters.Filter({'purpose': 'test'}).mismatch(
            _event(purpose='prod'))
        self.assertEqual("purpose is 'prod', wanted \"test\"", why)
        why = filters.Filter({'a.b': 'x'}).mismatch(_event())
        self.assertEqual('a.b is missing, wanted "x"', why)

    def test_bad_specs_are_refused(self):
        for spec in ({'purpose': '('}, {'purpose': []},
                     {'purpose': {'a': 1}}, {'purpose': [['x']]}):
            self.assertRaises(ValueError, filters.Filter, spec)


class EventTest(base.TestCase):

    def test_time_parses_oslo_and_iso_timestamps(self):
        def at(stamp):
            return event.Event('t', {}, id='m', timestamp=stamp).time
        self.assertEqual('2026-11-26 19:37:24.284971',
                         str(at('2026-11-26 19:37:24.284971')))
        self.assertEqual('2026-11-26 19:37:24',
                         str(at('2026-11-26T19:37:24Z')))
        self.assertEqual('2026-11-26 18:37:24',
                         str(at('2026-11-26T19:37:24+01:00')))
        for bad in (None, 7, 'yesterday', ''):
            self.assertIsNone(at(bad))

    def test_lookup_and_node(self):
        evt = _event(resource_uuid='r-1', node_uuid='n-1')
        self.assertEqual('r-1', evt.node)
        self.assertIs(event.MISSING, evt.lookup('properties.none'))
        self.assertIsNone(event.Event('t', {'resource_uuid': 5}, id='m').node)
