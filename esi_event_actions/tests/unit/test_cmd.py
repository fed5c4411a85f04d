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
"""The commands as a newcomer first runs them."""

import os
import subprocess
import sys

from esi_event_actions.tests import base

COMMANDS = ('listener', 'manage', 'poller')


class CommandOutputTest(base.TestCase):

    def test_help_prints_no_warning_about_libraries(self):
        # Libraries pull in eventlet and dnspython, whose deprecation
        # notices are about nothing the user configured.
        env = dict(os.environ)
        env.pop('PYTHONWARNINGS', None)
        for command in COMMANDS:
            proc = subprocess.run(
                [sys.executable, '-m', 'esi_event_actions.cmd.' + command,
                 '--help'], capture_output=True, text=True, env=env,
                timeout=120)
            self.assertEqual(0, proc.returncode, proc.stderr)
            self.assertIn('usage:', proc.stdout)
            self.assertEqual('', proc.stderr, command)
