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
"""The base class of the unit tests, and where the repository is."""

import os
import textwrap
import time

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

from esi_event_actions import bootstrap
from esi_event_actions import esi_leap_client
from esi_event_actions import history
from esi_event_actions import pipeline

# The top of the source tree: the documentation, etc/ and devstack/ the
# tests read.
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))


class TestCase(testtools.TestCase):
    """A test with a private ConfigOpts, temp dir and captured logs."""

    def setUp(self):
        super().setUp()
        self.logger = self.useFixture(fixtures.FakeLogger(level='DEBUG'))
        self.conf = self.useFixture(
            config_fixture.Config(cfg.ConfigOpts())).conf
        self.dir = self.useFixture(fixtures.TempDir()).path

    def assert_process_ends(self, pid, what=None):
        """Fail unless process ``pid`` is gone within five seconds."""
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        self.fail('%s survived the timeout' % (what or 'process %d' % pid))

    def tool_missing(self, why, package):
        """Skip for ``why``, except in CI, which installs ``package``.

        The CI machine installs the test tools from bindep.txt: there, a
        tool's absence is a failure, not a reason to skip.
        """
        if os.environ.get('CI'):
            self.fail('%s (bindep.txt: %s)' % (why, package))
        self.skipTest('%s (package %s)' % (why, package))

    def write(self, name, text, mode=None):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text))
        if mode is not None:
            os.chmod(path, mode)
        return path

    def script(self, name='script.sh', body='exit 0'):
        return self.write(name, '#!/bin/sh\n%s\n' % body, 0o755)

    def start_pipeline(self):
        """The loaded configuration's pipeline, started till the test ends."""
        pipe = pipeline.build(self.conf, bootstrap.check(self.conf))
        pipe.start()
        self.addCleanup(pipe.close)
        self.addCleanup(pipe.stop, 10)
        return pipe

    def history_poller(self, pipe):
        """A poller of the configured esi-leap's history into ``pipe``."""
        client = history.HistoryClient(esi_leap_client.adapter(self.conf))
        return history.HistoryPoller(client, pipe, self.conf.poller)

    def load(self, text, name='test.conf'):
        """Parse a config file, in a new ConfigOpts with every option."""
        path = self.write(name, text)
        self.conf = self.useFixture(
            config_fixture.Config(cfg.ConfigOpts())).conf
        bootstrap.parse_args(['--config-file', path], self.conf,
                             default_config_files=[])
        return path


class MissingToolTest(TestCase):
    """A test that needs a tool fails in CI without it, and skips elsewhere.

    Subclasses name the test (``needs``: its class and method) and the
    start of its failure (``missing``).
    """

    needs = None
    missing = None

    def run_without_it(self, ci):
        self.useFixture(fixtures.MonkeyPatch('shutil.which',
                                             lambda name: None))
        self.useFixture(fixtures.EnvironmentVariable('CI', ci))
        result = testtools.TestResult()
        test_class, method = self.needs
        test_class(method).run(result)
        return result

    def test_it_fails_in_ci(self):
        result = self.run_without_it('true')
        self.assertEqual((1, {}), (len(result.failures),
                                   result.skip_reasons))
        self.assertIn(self.missing, result.failures[0][1])

    def test_it_is_skipped_elsewhere(self):
        result = self.run_without_it(None)
        self.assertEqual([], result.failures)
        self.assertEqual(1, len(result.skip_reasons))
