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

import os

from esi_event_actions import bootstrap
from esi_event_actions.conf import legacy
from esi_event_actions import exception
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import samples


class SeedConfigTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.script('fulfill.sh')
        self.script('delete.sh')

    def test_seed_with_stray_brace_names_file_section_and_key(self):
        path = self.load(samples.SEED.replace('<port in transport_url>',
                                              '5672'))
        exc = self.assertRaises(exception.ConfigErrors, bootstrap.check,
                                self.conf)
        self.assertEqual(1, len(exc.errors))
        error = exc.errors[0]
        self.assertEqual((path, 'delete', 'filter_params'),
                         (error.filename, error.section, error.key))
        self.assertIn("unexpected '}'", error.reason)
        self.assertIn('%s [delete] filter_params: unexpected' % path,
                      str(error))

    def test_seed_placeholder_port_is_reported(self):
        path = self.load(samples.SEED.replace('"foo"}}', '"foo"}'))
        exc = self.assertRaises(exception.ConfigErrors, bootstrap.check,
                                self.conf)
        self.assertEqual([(path, 'DEFAULT', 'port')],
                         [(e.filename, e.section, e.key)
                          for e in exc.errors])

    def test_seed_fixed_loads_both_rules(self):
        self.load(samples.SEED_FIXED)
        ruleset = bootstrap.check(self.conf)
        self.assertEqual(['fulfill', 'delete'],
                         [r.name for r in ruleset.rules])
        fulfill = ruleset.by_name['fulfill']
        self.assertEqual(['esi_leap.lease.fulfill.end'], fulfill.events)
        self.assertEqual(['node_name', 'fulfill_time'],
                         fulfill.action.param_paths())
        self.assertEqual({'purpose': 'test', 'properties.vendor': 'foo'},
                         fulfill.filter.spec)
        self.assertEqual(os.path.join(self.dir, 'fulfill.sh'),
                         fulfill.action.path)
        self.assertEqual('script', fulfill.action_name)

    def test_seed_legacy_keys_build_transport_url_and_topics(self):
        self.load(samples.SEED_FIXED.replace('<user in transport_url>', 'es i')
                  .replace('<password in transport_url>', 'p@ss:#word')
                  .replace('<host in transport_url>', 'rabbit.example'))
        self.assertEqual('rabbit://es%20i:p%40ss%3A%23word@'
                         'rabbit.example:5672/',
                         legacy.transport_url(self.conf))
        self.assertEqual(['esi_leap_versioned_notifications'],
                         legacy.topics(self.conf))

    def test_transport_url_wins_over_legacy_keys(self):
        self.load(samples.SEED_FIXED.replace(
            '[DEFAULT]', '[DEFAULT]\ntransport_url = rabbit://a:b@c:1/'))
        self.assertIsNone(legacy.transport_url(self.conf))
