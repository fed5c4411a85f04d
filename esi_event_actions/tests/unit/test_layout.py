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
"""The layout of the tests themselves."""

import ast
import os
import re

from esi_event_actions.tests.common import base

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'esi_event_actions.tests'


def python_files():
    """Every module under tests/, as (dotted name, path)."""
    for top, dirs, files in os.walk(TESTS):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in sorted(f for f in files if f.endswith('.py')):
            path = os.path.join(top, name)
            parts = os.path.relpath(path[:-3], TESTS).split(os.sep)
            yield '.'.join([PACKAGE] + parts), path


def imported(path):
    """The dotted names a module's import statements can name."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            # "from package import module" names a module too.
            yield node.module
            yield from ('%s.%s' % (node.module, alias.name)
                        for alias in node.names)


# A listener pool named in a config a functional test writes: a name, not
# the test's own (a format placeholder).
NAMED_POOL = re.compile(r'^\s*pool\s*=\s*[^%\s]', re.MULTILINE)


def named_pools(path):
    with open(path) as f:
        return NAMED_POOL.findall(f.read())


def is_test_module(name):
    return (name.startswith(PACKAGE + '.')
            and name.rsplit('.', 1)[1].startswith('test_'))


class LayoutTest(base.TestCase):

    def test_no_module_of_the_tests_imports_a_test_module(self):
        # What test modules share lives in tests/common and in the
        # functional harness: a test module is nobody's library.
        found = ['%s imports %s' % (name, other)
                 for name, path in python_files()
                 for other in imported(path) if is_test_module(other)]
        self.assertEqual([], found)

    def test_the_check_sees_every_way_of_importing(self):
        path = self.write('imports.py', '''
            import esi_event_actions.tests.unit.test_a
            from esi_event_actions.tests.unit import test_b
            from esi_event_actions.tests.unit.test_c import Case
            from esi_event_actions.tests.common import cases
            ''')
        self.assertEqual(
            ['esi_event_actions.tests.unit.test_a',
             'esi_event_actions.tests.unit.test_b',
             'esi_event_actions.tests.unit.test_c'],
            sorted({n for n in imported(path) if is_test_module(n)}))

    def test_every_module_of_the_tests_is_seen(self):
        names = [name for name, _ in python_files()]
        self.assertIn(__name__, names)
        self.assertIn(PACKAGE + '.common.cases', names)
        self.assertIn(PACKAGE + '.functional.harness.real_esi_leap.server',
                      names)

    def test_no_functional_test_names_a_listener_pool(self):
        # oslo.messaging names a pool's queue after the pool alone: two
        # tests running at once with one pool name consume each other's
        # notifications on the shared broker.  Each uses its own,
        # FunctionalTestCase.pool.
        found = [name for name, path in python_files()
                 if '.functional.' in name and named_pools(path)]
        self.assertEqual([], found)

    def test_the_pool_check_sees_a_named_pool(self):
        self.assertEqual(1, len(named_pools(self.write('conf.py', '''
            extra = """
                [listener]
                pool = esi-event-actions
                """
            '''))))
        self.assertEqual([], named_pools(self.write('ok.py', '''
            extra = """
                [listener]
                pool = %s
                """ % self.pool
            ''')))
