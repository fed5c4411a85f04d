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
"""The service's modules and classes stay a size a newcomer can read."""

import ast
import os

from esi_event_actions.tests.common import base

PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TESTS = os.path.join(PACKAGE, 'tests')
MODULE_LINES = 450
CLASS_LINES = 250


def modules():
    """Every module of the service, tests aside: (path, text)."""
    for top, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__' and
                         os.path.join(top, d) != TESTS)
        for name in sorted(f for f in files if f.endswith('.py')):
            path = os.path.join(top, name)
            with open(path) as f:
                yield os.path.relpath(path, PACKAGE), f.read()


class SizeTest(base.TestCase):

    def test_no_module_over_450_lines_and_no_class_over_250(self):
        found, seen = [], 0
        for path, text in modules():
            seen += 1
            lines = len(text.splitlines())
            if lines > MODULE_LINES:
                found.append('%s: %d lines' % (path, lines))
            for node in ast.walk(ast.parse(text, path)):
                if isinstance(node, ast.ClassDef):
                    size = node.end_lineno - node.lineno + 1
                    if size > CLASS_LINES:
                        found.append('%s: class %s, %d lines'
                                     % (path, node.name, size))
        self.assertGreater(seen, 50)
        self.assertEqual([], found)
