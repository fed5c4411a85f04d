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
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap


class FilterTest(base.TestCase):

    def assertMatches(self, spec, expected, **data):
        self.assertEqual(expected, filters.Filter(spec).mismatch(
            fake_esi_leap.lease_event(**data)) is None,
            '%s on %s' % (spec, data))

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
            fake_esi_leap.lease_event(purpose='prod'))
        self.assertEqual("purpose is 'prod', wanted \"test\"", why)
        why = filters.Filter({'a.b': 'x'}).mismatch(
            fake_esi_leap.lease_event())
        self.assertEqual('a.b is missing, wanted "x"', why)

    def test_bad_specs_are_refused(self):
        for spec in ({'purpose': '('}, {'purpose': []},
                     {'purpose': {'a': 1}}, {'purpose': [[]]}):
            self.assertRaises(ValueError, filters.Filter, spec)


class OperatorTest(base.TestCase):
    """Operator objects, on genuine payload shapes (cpus may be text)."""

    def holds(self, spec, value):
        props = {'vendor': 'Dell', 'cpus': value}
        if value is event.MISSING:
            del props['cpus']
        return filters.Filter({'node_properties.cpus': spec}).mismatch(
            fake_esi_leap.lease_event(node_properties=props)) is None

    def test_comparisons_on_numbers_and_numeric_strings(self):
        for spec, value, expected in (
                ({'>=': 32}, 40, True), ({'>=': 32}, '40', True),
                ({'>=': 32}, ' 32 ', True), ({'>=': 32}, 16, False),
                ({'>=': 32}, '16', False), ({'>': 32}, 32, False),
                ({'<': '1e2'}, 99.5, True), ({'<=': -1}, '-1.0', True),
                ({'==': 40}, '40.0', True), ({'!=': 40}, 41, True),
                ({'>=': 32, '<': 64}, 48, True),
                ({'>=': 32, '<': 64}, 64, False)):
            self.assertEqual(expected, self.holds(spec, value),
                             (spec, value))

    def test_a_value_that_cannot_be_compared_does_not_match(self):
        for value in ('forty', 'nan', 'inf', '1_0', True, None, [40],
                      {'n': 40}, '', event.MISSING):
            for name in ('>=', '<', '==', '!='):
                self.assertFalse(self.holds({name: 32}, value),
                                 (name, value))

    def test_equality_with_a_string_operand_compares_text(self):
        self.assertTrue(self.holds({'==': '40'}, '40'))
        self.assertTrue(self.holds({'==': '40'}, 40))
        self.assertFalse(self.holds({'==': '40'}, '40.0'))
        self.assertTrue(self.holds({'!=': 'x'}, 'y'))

    def test_times_compare_as_times(self):
        cases = (
            ({'>=': '2026-11-26T10:00:00Z'}, '2026-11-26T10:00:00Z', True),
            ({'>': '2026-11-26T10:00:00Z'}, '2026-11-26 11:00:00', True),
            # Naive is UTC; an offset is honoured.
            ({'<': '2026-11-26T10:00:00'}, '2026-11-26T11:00:00+02:00',
             True),
            # A date alone is midnight UTC.
            ({'<': '2026-11-27'}, '2026-11-26T23:59:59Z', True),
            ({'<': '2026-11-27'}, '2026-11-27T00:00:00Z', False),
            ({'>=': '2026-11-26'}, 'tomorrow', False),
            ({'>=': '2026-11-26'}, 20261127, False))
        for spec, value, expected in cases:
            self.assertEqual(expected, self.holds(spec, value),
                             (spec, value))

    def test_exists_in_not_regex(self):
        self.assertTrue(self.holds({'exists': True}, 0))
        self.assertFalse(self.holds({'exists': True}, None))
        self.assertTrue(self.holds({'exists': False}, None))
        self.assertTrue(self.holds({'exists': False}, event.MISSING))
        self.assertTrue(self.holds({'in': ['gpu', 40]}, '40'))
        self.assertTrue(self.holds({'in': ['gpu', '40']}, 40))
        self.assertFalse(self.holds({'in': ['gpu']}, 'gpus'))
        self.assertFalse(self.holds({'in': ['gpu']}, event.MISSING))
        self.assertTrue(self.holds({'not': 'x'}, event.MISSING))
        self.assertTrue(self.holds({'not': {'>=': 32}}, 16))
        self.assertFalse(self.holds({'not': {'>=': 32}}, 40))
        self.assertTrue(self.holds({'not': None}, 1))
        self.assertFalse(self.holds({'not': ['a', 1]}, 1))
        self.assertTrue(self.holds({'regex': 'DELL.*', 'ignore_case': True},
                                   'dell-r640'))
        self.assertFalse(self.holds({'regex': 'DELL.*'}, 'dell-r640'))
        self.assertTrue(self.holds(['x', {'>=': 32}], 33))

    def test_list_of_objects_is_an_or(self):
        spec = [{'purpose': 'ci'},
                {'node_properties.vendor': {'regex': 'dell',
                                            'ignore_case': True}}]
        self.assertIsNone(filters.Filter(spec).mismatch(
            fake_esi_leap.lease_event(purpose='ci')))
        self.assertIsNone(filters.Filter(spec).mismatch(
            fake_esi_leap.lease_event(
                purpose='prod', node_properties={'vendor': 'DELL'})))
        why = filters.Filter(spec).mismatch(fake_esi_leap.lease_event(
            purpose='prod', node_properties={'vendor': 'HPE'}))
        self.assertEqual(
            "no filter of the list matches: [1] purpose is 'prod', wanted "
            "\"ci\"; [2] node_properties.vendor is 'HPE', wanted "
            "{\"regex\": \"dell\"}", why)
        self.assertEqual(['node_properties.vendor', 'purpose'],
                         filters.Filter(spec).paths)

    def test_mismatch_names_the_operator_and_the_value(self):
        why = filters.Filter({'node_properties.cpus': {
            'exists': True, '>=': 32}}).mismatch(fake_esi_leap.lease_event())
        self.assertEqual('node_properties.cpus is \'16\', wanted '
                         '{">=": 32}', why)
        why = filters.Filter({'x': {'exists': True}}).mismatch(
            fake_esi_leap.lease_event())
        self.assertEqual('x is missing, wanted {"exists": true}', why)

    def test_bad_operators_are_refused_naming_the_path(self):
        for spec, words in (
                ({'>=': 'soon'}, '">=" needs a number or an ISO 8601 time'),
                ({'>': True}, 'needs a number'),
                ({'<': None}, 'needs a number'),
                ({'=~': 'x'}, 'unknown operator "=~"'),
                ({}, 'needs an operator'),
                ({'ignore_case': True}, 'only beside "regex"'),
                ({'regex': 'x', 'ignore_case': 'yes'}, 'true or false'),
                ({'regex': '('}, 'invalid regular expression'),
                ({'exists': 1}, '"exists" needs true or false'),
                ({'in': 'gpu'}, '"in" needs a list'),
                ({'in': []}, '"in" needs a list'),
                ({'in': [{'a': 1}]}, '"in" needs a list'),
                ({'not': {'>=': 'x'}}, 'needs a number'),
                ({'not': []}, 'empty list')):
            exc = self.assertRaises(ValueError, filters.Filter,
                                    {'node_properties.cpus': spec})
            self.assertIn('node_properties.cpus: ', str(exc))
            self.assertIn(words, str(exc))
        self.assertRaises(ValueError, filters.Filter, [])
        self.assertRaises(ValueError, filters.Filter, [{'a': 'x'}, 'b'])

    def test_values_at_the_edge_of_the_types_do_not_match(self):
        for spec, value in (
                ({'>=': '2024-01-01T00:00:00Z'}, '0001-01-01T00:30:00+01:00'),
                ({'<': '2024-01-01'}, '9999-12-31T23:30:00-01:00'),
                ({'>': 1}, '1e999999999999999999999'),
                ({'==': 1}, '-1e-999999999999999999999')):
            self.assertFalse(self.holds(spec, value), (spec, value))
        for operand in ('1e999999999999999999999',
                        '0001-01-01T00:00:00+01:00'):
            self.assertRaises(ValueError, filters.Filter,
                              {'x': {'>': operand}})

    def test_numbers(self):
        for text, value in (('40', 40), (' -1.5e3 ', -1500), ('.5', 0.5),
                            (7, 7), (2.5, 2.5)):
            self.assertEqual(value, filters.number(text))
        for text in ('nan', 'inf', '1_0', '0x10', '', '1.2.3', True,
                     None, float('nan')):
            self.assertIsNone(filters.number(text), text)
