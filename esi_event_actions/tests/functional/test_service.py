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
"""esi-event-actions end to end: real broker, real process, real scripts."""

import os
import signal
import subprocess

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import samples
from esi_event_actions.tests.functional.harness import base


class ServiceTest(base.FunctionalTestCase):

    def test_seed_config_runs_both_scripts(self):
        fulfill = self.recorder('fulfill.sh')
        delete = self.recorder('delete.sh')
        seed = samples.SEED_FIXED.split('[fulfill]', 1)[1]
        svc = self.service(self.config('[fulfill]' + seed))
        svc.wait_listening()
        lease = fake_esi_leap.lease_data(properties={'vendor': 'foo'})
        other = fake_esi_leap.lease_data(properties={'vendor': 'bar'})
        self.esi_leap.emit('esi_leap.lease.fulfill.start', lease)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', other)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        self.esi_leap.emit('esi_leap.lease.delete.end', dict(
            lease, status='deleted', fulfill_time='2026-11-26T10:00:04Z'))
        base.wait_for(lambda: fulfill.read() and delete.read(), 60,
                      'both scripts')
        node = lease['node_name']
        self.assertEqual([[node, '']], [c[2] for c in fulfill.read()])
        self.assertEqual([[node, '']], [c[2] for c in delete.read()])
        self.assertEqual({'fulfill', 'delete'},
                         {c[1] for c in fulfill.read() + delete.read()})
        rows = self.journal_rows()
        self.assertEqual(2, len(rows))
        self.assertEqual({journal.DONE}, {r['state'] for r in rows})

    def test_seed_config_stray_brace_stops_the_service(self):
        self.recorder('fulfill.sh')
        self.recorder('delete.sh')
        seed = samples.SEED.replace('<port in transport_url>', '5672')
        path = self.write('seed.conf', seed)
        for command in (base.SERVICE + ['--config-file', path],
                        base.MANAGE + ['--config-file', path,
                                       'check-config']):
            proc = subprocess.run(command, capture_output=True, text=True,
                                  timeout=60)
            self.assertEqual(1, proc.returncode, proc)
            self.assertIn("%s [delete] filter_params: unexpected '}'" % path,
                          proc.stdout + proc.stderr)

    def test_hostile_value_is_one_byte_exact_argument(self):
        calls = self.recorder('act.sh')
        pwned = os.path.join(self.dir, 'pwned')
        hostile = ('x; touch %s $(id) `touch %s` | & > %s\n"\'*?~\\'
                   % (pwned, pwned, pwned))
        svc = self.service(self.config('''
            [act]
            events = esi_leap.lease.fulfill.end
            script = act.sh
            script_params = name,purpose,properties.note
            '''))
        svc.wait_listening()
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(
                               name=hostile, purpose=None,
                               properties={'note': '$HOME'}))
        base.wait_for(calls.read, 60, 'the script')
        self.assertEqual([[hostile, '', '$HOME']],
                         [c[2] for c in calls.read()])
        self.assertFalse(os.path.exists(pwned))


class ReloadTest(base.FunctionalTestCase):

    def test_sighup_applies_new_rules_and_refuses_a_broken_config(self):
        one = self.recorder('one.sh')
        two = self.recorder('two.sh')
        rule_one = '''
            [one]
            events = esi_leap.lease.fulfill.end
            script = one.sh
            script_params = node_name
            '''
        config = self.config(rule_one)
        svc = self.service(config)
        svc.wait_listening()
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(node_name='first'))
        base.wait_for(one.read, 60, 'rule one')

        # Change rule one's params, add rule two.
        self.config(rule_one.replace('node_name', 'name') + '''
            [two]
            events = esi_leap.lease.fulfill.end
            script = two.sh
            ''')
        os.kill(svc.proc.pid, signal.SIGHUP)
        base.wait_for(lambda: svc.log().count('Listening on') == 2, 60,
                      'the reloaded worker')
        self.assertIn('SIGHUP: configuration reloaded, 2 rule(s): one, two',
                      svc.log())
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(name='second'))
        base.wait_for(lambda: len(one.read()) == 2 and two.read(), 60,
                      'both rules')
        self.assertEqual([['first'], ['second']], [c[2] for c in one.read()])

        # A broken file is refused; the rules in force stay.
        self.write('service.conf', open(config).read().replace(
            'script = two.sh', 'script = missing.sh'))
        os.kill(svc.proc.pid, signal.SIGHUP)
        base.wait_for(lambda: svc.log().count('Listening on') == 3, 60,
                      'the restarted worker')
        self.assertIn('SIGHUP: the new configuration is refused', svc.log())
        self.assertIn('[two] script: no such file', svc.log())
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(name='third'))
        base.wait_for(lambda: len(two.read()) == 2, 60, 'rule two, kept')
        self.assertEqual(['second', 'third'], [c[2][0] for c in
                                               one.read()[1:]])


class StartupTest(base.FunctionalTestCase):

    def test_second_instance_on_one_sqlite_journal_is_refused(self):
        self.recorder('act.sh')
        config = self.config('''
            [act]
            events = esi_leap.lease.fulfill.end
            script = act.sh
            ''')
        self.service(config).wait_listening()
        proc = subprocess.run(base.SERVICE + ['--config-file', config],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(1, proc.returncode)
        self.assertIn('esi-event-actions: cannot start: the journal ',
                      proc.stderr)
        self.assertIn('is in use by another esi-event-actions process',
                      proc.stderr)
        # Nothing in the configuration is wrong.
        self.assertNotIn('configuration error', proc.stderr)

    def test_unusable_journal_stops_the_service_at_start(self):
        config = self.write('bad.conf', '''
            [journal]
            connection = mysql://nobody@127.0.0.1/nothing
            ''')
        proc = subprocess.run(base.SERVICE + ['--config-file', config],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(1, proc.returncode)
        self.assertIn("[journal] connection: cannot open the journal: "
                      "unsupported journal database 'mysql'", proc.stderr)
