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
"""The options and commands the documentation names exist.

The configuration reference is generated from the code and cannot drift;
the prose around it can.  Every ````[group] option```` and every
``esi-event-actions-manage`` command written in the documentation is
checked against what the code registers.
"""

import argparse
import glob
import os
import re

from esi_event_actions import bootstrap
from esi_event_actions.cmd import manage
from esi_event_actions.conf import opts as conf_opts
from esi_event_actions.tests.common import base

# esi-leap's own options, which the documentation quotes from esi-leap.conf.
ESI_LEAP_GROUPS = {'notification'}

_OPTION = re.compile(r'``\[(\w+)\] (\w+)``')
_COMMAND = re.compile(r'esi-event-actions-manage(?: --config-file \S+)*'
                      r' ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?')


def documents():
    paths = (glob.glob(os.path.join(base.REPO, 'doc', 'source', '*.rst')) +
             [os.path.join(base.REPO, 'README.rst'),
              os.path.join(base.REPO, 'devstack', 'README.rst')])
    for path in sorted(paths):
        with open(path) as f:
            # A reference may be wrapped over two lines.
            yield path, re.sub(r'\s*\n\s*', ' ', f.read())


class DocsTest(base.TestCase):

    def registered(self):
        bootstrap.parse_args([], self.conf, default_config_files=[])
        found = set()
        for group, opts in conf_opts.list_opts():
            name = getattr(group, 'name', group)
            found.update((name, opt.dest) for opt in opts)
        for name in [None] + list(self.conf):
            section = self.conf if name is None else self.conf[name]
            if name is not None and not hasattr(section, 'keys'):
                continue
            found.update((name or 'DEFAULT', key) for key in section.keys())
        return found

    def test_documented_options_exist(self):
        registered = self.registered()
        missing = []
        for path, text in documents():
            for group, option in _OPTION.findall(text):
                if group in ESI_LEAP_GROUPS:
                    continue
                if (group, option) not in registered:
                    missing.append('%s: [%s] %s' % (
                        os.path.relpath(path, base.REPO), group, option))
        self.assertEqual([], missing)

    def test_documented_commands_exist(self):
        parser = argparse.ArgumentParser()
        manage.add_command_parsers(parser.add_subparsers())
        commands = parser._subparsers._group_actions[0].choices
        missing = []
        for path, text in documents():
            for command, sub in _COMMAND.findall(text):
                if command not in commands:
                    missing.append('%s: %s' % (
                        os.path.relpath(path, base.REPO), command))
                    continue
                nested = [a for a in commands[command]._actions
                          if isinstance(a, argparse._SubParsersAction)]
                if nested and sub not in nested[0].choices:
                    missing.append('%s: %s %s' % (
                        os.path.relpath(path, base.REPO), command, sub))
        self.assertEqual([], missing)
