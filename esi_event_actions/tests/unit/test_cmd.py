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

from concurrent import futures
import glob
import os
import pkgutil
import re
import subprocess
import sys

from esi_event_actions.tests.common import base

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


def _modules():
    import esi_event_actions
    return sorted(m.name for m in pkgutil.walk_packages(
        esi_event_actions.__path__, 'esi_event_actions.')
        if '.tests' not in m.name and '.migrations.' not in m.name)


def _import_alone(name):
    """The error importing ``name`` first in a new interpreter, or None."""
    proc = subprocess.run([sys.executable, '-c', 'import ' + name],
                          capture_output=True, text=True, timeout=120)
    return None if proc.returncode == 0 else '%s: %s' % (
        name, proc.stderr.strip().splitlines()[-1])


class ImportTest(base.TestCase):

    def test_every_module_imports_first(self):
        # An import cycle fails whichever module it is entered by, and only
        # some entries reveal it: each module is imported first, alone.
        names = _modules()
        self.assertGreater(len(names), 40)
        with futures.ThreadPoolExecutor(4) as pool:
            failed = [e for e in pool.map(_import_alone, names) if e]
        self.assertEqual([], failed)

    def test_options_and_actions_do_not_import_each_other(self):
        # conf/ declares options (conf/opts lists them, the actions' too);
        # the actions take their option types from optiontypes.  A cycle
        # here breaks as soon as conf/__init__ imports its modules.
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        found = []
        for package, forbidden in (('conf', 'esi_event_actions.actions'),
                                   ('actions', 'esi_event_actions.conf')):
            for path in glob.glob(os.path.join(root, package, '**', '*.py'),
                                  recursive=True):
                if path.endswith(os.path.join('conf', 'opts.py')):
                    continue
                with open(path) as f:
                    if re.search(r'^\s*(from|import) %s\b'
                                 % re.escape(forbidden), f.read(), re.M):
                        found.append(os.path.relpath(path, root))
        self.assertEqual([], found)
