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
"""Every built-in action, and a third-party one, from a real notification."""

import json
import os
import subprocess
import sys
import time

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import httpserver
from esi_event_actions.tests.functional.harness import base

PLUGIN = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                      'contrib', 'esi-event-actions-example-plugin')


class ActionsTest(base.FunctionalTestCase):

    def test_webhook_signed_request_verifies(self):
        server = self.useFixture(httpserver.HTTPServer())
        server.statuses.append(503)
        svc = self.service(self.config('''
            [hook]
            events = esi_leap.lease.fulfill.end
            action = webhook
            url = %s
            secret = %s
            params = node_name
            retry_base_delay = 0.2
            ''' % (server.url, httpserver.SECRET)))
        svc.wait_listening()
        lease = fake_esi_leap.lease_data()
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 60,
                      'the webhook job')
        self.assertEqual(2, len(server.requests))
        for _, _, headers, body in server.requests:
            self.assertTrue(httpserver.verify(httpserver.SECRET, headers,
                                              body, time.time()))
        sent = [json.loads(r[3]) for r in server.requests]
        self.assertEqual([1, 2], [s['attempt'] for s in sent])
        self.assertEqual({'node_name': lease['node_name']}, sent[1]['params'])
        self.assertEqual(lease, sent[1]['data'])
        row = self.journal_rows()[0]
        self.assertEqual((2, 200), (row['attempts'], row['exit_status']))
        self.assertNotIn(httpserver.SECRET, svc.log())

    def test_log_action(self):
        svc = self.service(self.config('''
            [audit]
            events = esi_leap.lease.*.end
            action = log
            params = node_name
            '''))
        svc.wait_listening()
        lease = fake_esi_leap.lease_data()
        self.esi_leap.emit('esi_leap.lease.delete.end', lease)
        base.wait_for(lambda: 'esi-event {' in svc.log(), 60, 'the line')
        line = [ln for ln in svc.log().splitlines() if 'esi-event {' in ln]
        logged = json.loads(line[0].split('esi-event ', 1)[1])
        self.assertEqual(('audit', {'node_name': lease['node_name']}),
                         (logged['rule'], logged['params']))

    def test_third_party_plugin_installed_with_pip(self):
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q',
                        '--no-deps', PLUGIN],
                       check=True, capture_output=True)
        self.addCleanup(subprocess.run, [
            sys.executable, '-m', 'pip', 'uninstall', '-q', '-y',
            'esi-event-actions-example-plugin'], capture_output=True)
        out = os.path.join(self.dir, 'leases.log')
        svc = self.service(self.config('''
            [audit]
            events = esi_leap.lease.fulfill.end
            action = append_file
            path = %s
            template = {event_type} {node_name} {vendor}
            params = node_name,node_properties.vendor
            ''' % out))
        svc.wait_listening()
        lease = fake_esi_leap.lease_data()
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        base.wait_for(lambda: os.path.exists(out), 60, 'the plugin')
        with open(out) as f:
            self.assertEqual('esi_leap.lease.fulfill.end %s foo\n'
                             % lease['node_name'], f.read())
        proc = subprocess.run(base.MANAGE + [
            '--config-file', os.path.join(self.dir, 'service.conf'),
            'check-config'], capture_output=True, text=True)
        self.assertIn('-> append_file %s' % out, proc.stdout)
        # Its options, for the sample file of this host, not the shipped one.
        generator = os.path.join(os.path.dirname(sys.executable),
                                 'oslo-config-generator')
        plugins = subprocess.run(
            [generator, '--namespace', 'esi_event_actions.plugins'],
            capture_output=True, text=True, check=True).stdout
        self.assertIn('[example_append_file_rule]', plugins)
        self.assertIn('#template = ', plugins)
        self.assertNotIn('[example_script_rule]', plugins)
        shipped = subprocess.run(
            [generator, '--namespace', 'esi_event_actions'],
            capture_output=True, text=True, check=True).stdout
        self.assertNotIn('append_file', shipped)
