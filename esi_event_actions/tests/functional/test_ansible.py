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
"""The ansible action end to end: real broker, service and playbooks."""

import json
import os
import shutil
import sys

import fixtures

from esi_event_actions.actions.ansible import jobdirs
from esi_event_actions.actions.ansible import runner
from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import samples
from esi_event_actions.tests.functional.harness import base

RULE = '''
    [node-setup]
    events = esi_leap.lease.fulfill.end
    action = ansible
    playbook = play.yml
    connection = local
    extra_vars = {"vendor": "node_properties.vendor",
                  "cpus": "node_properties.cpus", "nope": "no.such"}
    params = node_name
    max_attempts = 1
    '''


class AnsibleServiceTest(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        if (runner.ansible_runner is None or
                runner.find_playbook_command() is None):
            self.skipTest(samples.ANSIBLE_MISSING)
        # The service runs from the virtualenv without it on PATH, as a
        # systemd unit naming the virtualenv's esi-event-actions would.
        bin_dir = os.path.abspath(os.path.dirname(sys.executable))
        path = os.pathsep.join(
            p for p in os.environ.get('PATH', '').split(os.pathsep)
            if p and os.path.abspath(p) != bin_dir)
        self.useFixture(fixtures.EnvironmentVariable('PATH', path))
        if os.path.dirname(runner.find_playbook_command()) == bin_dir:
            self.assertIsNone(shutil.which('ansible-playbook', path=path))

    def received(self):
        path = os.path.join(self.dir, 'received.json')
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def test_notification_runs_the_playbook_with_the_event(self):
        self.write('play.yml', samples.DUMP_PLAYBOOK)
        svc = self.service(self.config(RULE))
        svc.wait_listening()
        lease = fake_esi_leap.lease_data()
        self.esi_leap.emit('esi_leap.lease.fulfill.start', lease)
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        got = base.wait_for(self.received, 120, 'the playbook')
        self.assertEqual(lease['node_name'],
                         got['esi_event']['data']['node_name'])
        self.assertEqual(lease, got['esi_event']['data'])
        self.assertEqual('esi_leap.lease.fulfill.end',
                         got['esi_event']['event_type'])
        self.assertEqual('foo', got['vendor'])
        self.assertEqual(16, got['cpus'])
        self.assertIsNone(got['nope'])
        self.assertEqual({'node_name': lease['node_name']},
                         got['esi_params'])
        self.assertEqual(('node-setup', 1, lease['node_name'], 'local'),
                         (got['esi_rule'], got['esi_attempt'],
                          got['host'], got['connection']))
        row = base.wait_for(lambda: self.journal_rows(state=journal.DONE),
                            60, 'the job done')[0]
        self.assertEqual('exit status 0: ok=1 changed=1', row['detail'])
        self.assertIn('PLAY RECAP', row['output'])
        self.assertEqual(1, len(self.journal_rows()))
        job_dir = os.path.join(self.dir, 'ansible', 'node-setup',
                               jobdirs.job_ident('node-setup',
                                                 row['event_id'], 1))
        self.assertTrue(os.path.isdir(job_dir), os.listdir(os.path.dirname(
            job_dir)))

    def test_failed_task_is_named_in_the_journal(self):
        self.write('play.yml', samples.FAIL_PLAYBOOK)
        svc = self.service(self.config(RULE))
        svc.wait_listening()
        lease = fake_esi_leap.lease_data()
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        row = base.wait_for(lambda: self.journal_rows(state=journal.DEAD),
                            120, 'the job dead')[0]
        self.assertEqual('exit status 2: task "Fail on purpose" failed on '
                         '%s' % lease['node_name'], row['detail'])
        self.assertEqual(2, row['exit_status'])
        self.assertIn('not this time', row['output'])
        self.assertIn('Fail on purpose', svc.log())
