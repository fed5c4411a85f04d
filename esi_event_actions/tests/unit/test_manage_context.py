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
"""esi-event-actions-manage context: show, set, unset, list."""

import contextlib
import io
import json
import re

from oslo_config import cfg

from esi_event_actions.cmd import manage
from esi_event_actions import journal
from esi_event_actions.tests.common import base

LEASE = '5f1e0b9c-lease'
# A title change, a screen clear, and a CSI in its one-byte C1 form.
HOSTILE = '\x1b]0;pwned\x07\x1b[2J\x9b31m'
TERMINAL_CONTROLS = re.compile('[\x00-\x09\x0b-\x1f\x7f-\x9f]')


class ManageContextTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.url = 'sqlite:///%s/journal.sqlite' % self.dir
        self.config = self.write('m.conf', '''
            [journal]
            connection = %s
            context_max_bytes = 64
            ''' % self.url)

    def manage(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = manage.main(['--config-file', self.config,
                              'context'] + list(args),
                             conf=cfg.ConfigOpts(), setup_logging=False)
        return rc, out.getvalue()

    def stored(self, lease=LEASE):
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        return store.context(lease)

    def test_set_show_unset(self):
        rc, out = self.manage('show', LEASE)
        self.assertEqual((0, {}), (rc, json.loads(out)))
        rc, out = self.manage('set', LEASE, 'vlan=1234', 'fip="10.0.0.7"',
                              'tags=["a"]')
        self.assertEqual(0, rc, out)
        context = {'vlan': 1234, 'fip': '10.0.0.7', 'tags': ['a']}
        self.assertEqual(context, json.loads(out))
        self.assertEqual(context, self.stored())
        rc, out = self.manage('show', LEASE)
        self.assertEqual(context, json.loads(out))
        rc, out = self.manage('set', LEASE, '--json', '{"vlan": 7, '
                              '"tags": null}')
        self.assertEqual({'vlan': 7, 'fip': '10.0.0.7'}, json.loads(out))
        rc, out = self.manage('unset', LEASE, 'fip', 'nope')
        self.assertEqual(0, rc)
        lines = out.splitlines()
        self.assertEqual('Key nope is not set', lines[0])
        self.assertEqual({'vlan': 7}, json.loads('\n'.join(lines[1:])))
        self.assertEqual({'vlan': 7}, self.stored())

    def test_a_value_must_be_json(self):
        for args, reason in [
                (['fip=10.0.0.7'], 'the value of fip is not JSON'),
                (['a=NaN'], 'the value of a is not JSON'),
                (['vlan'], 'vlan is not KEY=JSON'),
                (['=1'], '=1 is not KEY=JSON'),
                ([], 'give KEY=JSON pairs or --json'),
                (['--json', '[1]'], '--json is not a JSON object'),
                (['--json', '{'], '--json is not JSON'),
                (['a=1', '--json', '{}'], 'not both')]:
            rc, out = self.manage('set', LEASE, *args)
            self.assertEqual(2, rc, args)
            self.assertTrue(out.startswith('Context not changed: '), out)
            self.assertIn(reason, out)
        self.assertIn('a string is quoted', self.manage(
            'set', LEASE, 'fip=10.0.0.7')[1])
        self.assertEqual({}, self.stored())

    def test_a_write_over_the_limit_changes_nothing(self):
        self.manage('set', LEASE, 'vlan=1')
        rc, out = self.manage('set', LEASE, 'big="%s"' % ('x' * 100))
        self.assertEqual(1, rc)
        self.assertEqual('Context of lease %s not changed: 122 bytes, over '
                         'the limit of 64\n' % LEASE, out)
        self.assertEqual({'vlan': 1}, self.stored())

    def test_list(self):
        self.manage('set', 'lease-a', 'a=1')
        self.manage('set', 'lease-b', 'b=[1, 2]')
        rc, out = self.manage('list', '-f', 'json')
        self.assertEqual(0, rc)
        rows = json.loads(out)
        self.assertEqual({'lease-a': 8, 'lease-b': 13},
                         {r['lease']: r['size'] for r in rows})
        rc, out = self.manage('list', '--limit', '1')
        lines = out.splitlines()
        self.assertEqual(['lease', 'size', 'updated_at'], lines[0].split())
        self.assertEqual(2, len(lines))

    def test_output_is_terminal_safe(self):
        with open(self.config, 'a') as f:
            f.write('context_max_bytes = 1024\n')
        lease = 'lease-' + HOSTILE
        pair = '%s=%s' % (HOSTILE, json.dumps(HOSTILE))
        rc, out = self.manage('set', lease, pair)
        self.assertEqual(0, rc)
        self.assertEqual({HOSTILE: HOSTILE}, json.loads(out))
        for args in (['show', lease], ['list'], ['list', '-f', 'json'],
                     ['unset', lease, HOSTILE, 'x' + HOSTILE]):
            rc, out = self.manage(*args)
            self.assertEqual(0, rc, args)
            self.assertIsNone(TERMINAL_CONTROLS.search(out), (args, out))
        rc, out = self.manage('set', lease, '--json', json.dumps(
            {HOSTILE: 'x' * 2000}))
        self.assertEqual(1, rc)
        self.assertIsNone(TERMINAL_CONTROLS.search(out), out)
