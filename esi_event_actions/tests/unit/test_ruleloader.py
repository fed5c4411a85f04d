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
"""Loading rules: every problem of every rule section, located."""

import dataclasses
import os
import sys

import fixtures

from esi_event_actions import bootstrap
from esi_event_actions import exception
from esi_event_actions.tests.common import base


class RuleConfigTest(base.TestCase):

    def check(self, text):
        self.load(text)
        return bootstrap.check(self.conf)

    def errors(self, text):
        self.load(text)
        exc = self.assertRaises(exception.ConfigErrors, bootstrap.check,
                                self.conf)
        return [(e.section, e.key, e.reason) for e in exc.errors]

    def test_hash_inside_json_string_is_kept(self):
        self.script('s.sh')
        rules = self.check('''
            [r]
            events = esi_leap.lease.fulfill.end  # a comment
            script = s.sh   # another
            filter_params = {"name": "a # b", "purpose": "x#y"} # trailing
            ''')
        self.assertEqual({'name': 'a # b', 'purpose': 'x#y'},
                         rules.by_name['r'].filter.spec)
        self.assertEqual(['esi_leap.lease.fulfill.end'],
                         rules.by_name['r'].events)

    def test_hash_without_space_is_part_of_value(self):
        self.script('run#1.sh')
        rules = self.check('''
            [r]
            events = esi_leap.lease.delete.end
            script = run#1.sh
            ''')
        self.assertTrue(rules.by_name['r'].action.path.endswith('run#1.sh'))

    def test_a_rule_is_loaded_whole_and_read_only(self):
        path = self.load('''
            [r]
            events = esi_leap.lease.fulfill.end
            action = log
            max_attempts = 3
            ''')
        rule = bootstrap.check(self.conf).by_name['r']
        self.assertEqual(('r', ['esi_leap.lease.fulfill.end'], 'log', 3,
                          path, None, None),
                         (rule.name, rule.events, rule.action_name,
                          rule.retry.max_attempts, rule.location('events'),
                          rule.rate_limit, rule.once_per))
        self.assertIs(rule.options, rule.action.context.options)
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, rule,
                          'fallback', True)

    def test_every_problem_is_reported_at_once(self):
        found = self.errors('''
            [a]
            events = esi_leap.lease.fullfill.end
            script = missing.sh
            [b]
            script = x
            [c]
            events = esi_leap.lease.fulfill.*
            action = nope
            [d]
            events = esi_leap.lease.fulfill.end
            action = script
            [e]
            events = esi_leap.lease.fulfill.end
            script = %s
            script_param = node_name
            filter_params = {"purpose": "(unclosed"}
            [f]
            events = esi_leap.lease.fulfill.end
            script = %s
            filter_params = ["purpose"]
            ''' % (self.script(), self.script()))
        keys = [(section, key) for section, key, _ in found]
        self.assertEqual([('a', 'events'), ('a', 'script'), ('b', 'events'),
                          ('b', 'script'), ('c', 'action'), ('d', 'script'),
                          ('e', 'filter_params'), ('e', 'script_param'),
                          ('f', 'filter_params')], keys)
        reasons = dict(((s, k), r) for s, k, r in found)
        self.assertIn('matches no esi-leap event type',
                      reasons[('a', 'events')])
        self.assertIn('no such file', reasons[('a', 'script')])
        self.assertIn("unknown action 'nope'", reasons[('c', 'action')])
        self.assertRegex(reasons[('c', 'action')], 'installed: .*script')
        self.assertIn('invalid regular expression',
                      reasons[('e', 'filter_params')])
        self.assertIn('unknown option', reasons[('e', 'script_param')])
        self.assertIn('expected a JSON object',
                      reasons[('f', 'filter_params')])

    def test_script_must_be_executable(self):
        self.write('plain.sh', 'echo\n', 0o644)
        found = self.errors('''
            [r]
            events = esi_leap.lease.fulfill.end
            script = plain.sh
            ''')
        self.assertEqual('script', found[0][1])
        self.assertIn('not executable', found[0][2])

    def test_relative_script_is_relative_to_its_file(self):
        sub = os.path.join(self.dir, 'conf.d')
        os.mkdir(sub)
        self.script('conf.d/hook.sh')
        path = os.path.join(sub, 'rules.conf')
        with open(path, 'w') as f:
            f.write('[r]\nevents = esi_leap.lease.delete.*\n'
                    'script = hook.sh\n')
        bootstrap.parse_args(['--config-dir', sub], self.conf,
                             default_config_files=[])
        rules = bootstrap.check(self.conf)
        self.assertEqual(os.path.join(sub, 'hook.sh'),
                         rules.by_name['r'].action.path)

    def test_a_plugin_that_cannot_be_imported_says_why(self):
        # An installed plugin whose module fails to import.
        site = os.path.join(self.dir, 'site')
        meta = os.path.join(site, 'broken_plugin-1.0.dist-info')
        os.makedirs(meta)
        self.write('site/broken_plugin-1.0.dist-info/METADATA',
                   'Metadata-Version: 2.1\nName: broken-plugin\n'
                   'Version: 1.0\n')
        self.write('site/broken_plugin-1.0.dist-info/entry_points.txt',
                   '[esi_event_actions.actions]\n'
                   'broken = broken_plugin_module:Action\n')
        self.write('site/broken_plugin_module.py',
                   'import frobnicate_library_not_installed\n')
        self.useFixture(fixtures.MonkeyPatch('sys.path', [site] + sys.path))
        # stevedore lists a namespace's entry points once per process.
        self.useFixture(fixtures.MonkeyPatch(
            'stevedore.extension.ExtensionManager.ENTRY_POINT_CACHE', {}))
        reasons = dict(((s, k), r) for s, k, r in self.errors('''
            [r]
            events = esi_leap.lease.fulfill.end
            action = broken
            '''))
        self.assertIn('frobnicate_library_not_installed',
                      reasons[('r', 'action')])
        self.assertNotIn('unknown action', reasons[('r', 'action')])

    def test_other_sections_are_not_rules(self):
        rules = self.check('''
            [listener]
            topics = a,b
            [oslo_messaging_rabbit]
            heartbeat_timeout_threshold = 30
            [unrelated]
            foo = bar
            ''')
        self.assertEqual(0, len(rules))
        self.assertEqual(['a', 'b'], self.conf.listener.topics)

    def test_bad_service_option_is_located(self):
        path = self.load('''
            [worker]
            workers = many
            ''')
        exc = self.assertRaises(exception.ConfigErrors, bootstrap.check,
                                self.conf)
        self.assertEqual([(path, 'worker', 'workers')],
                         [(e.filename, e.section, e.key)
                          for e in exc.errors])
