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
"""The shipped systemd units: sandboxed, and private about their files."""

import glob
import os
import re
import shutil
import subprocess


from esi_event_actions.tests.common import base

UNITS = sorted(glob.glob(os.path.join(base.REPO, 'etc', 'systemd',
                                      '*.service')))
# systemd-analyze's overall exposure, 0 to 10, that a unit may have at
# most; --threshold counts in tenths.
MAX_EXPOSURE = 2.5
_OVERALL = re.compile(r'Overall exposure level for \S+: ([0-9.]+)')


def settings(path):
    """The ``Key=value`` lines of a unit, continuation lines joined."""
    with open(path) as f:
        text = re.sub(r'\\\n\s*', ' ', f.read())
    return [line.strip() for line in text.splitlines()
            if re.match(r'\w+=', line.strip())]


def offline(path):
    """Whether this systemd-analyze can rate a unit file by itself."""
    proc = subprocess.run([path, 'security', '--help'], capture_output=True,
                          text=True, timeout=60)
    return '--offline' in proc.stdout


class UnitFilesTest(base.TestCase):

    def test_there_are_units(self):
        self.assertEqual(['esi-event-actions-poller.service',
                          'esi-event-actions.service'],
                         [os.path.basename(path) for path in UNITS])

    def test_files_and_directories_are_the_service_s_alone(self):
        for path in UNITS:
            lines = settings(path)
            for line in ('UMask=0077', 'StateDirectory=esi-event-actions',
                         'StateDirectoryMode=0700',
                         'ProtectSystem=strict'):
                self.assertIn(line, lines, path)


class SecurityTest(base.TestCase):
    """``systemd-analyze security --offline`` on each shipped unit."""

    def analyze(self, unit):
        path = shutil.which('systemd-analyze')
        if path is None or not offline(path):
            self.tool_missing(
                'systemd-analyze is not installed' if path is None else
                'systemd-analyze is older than 250 (no --offline)', 'systemd')
        return subprocess.run(
            [path, 'security', '--offline=true', '--no-pager',
             '--threshold=%d' % round(MAX_EXPOSURE * 10), unit],
            capture_output=True, text=True, timeout=120, cwd=base.REPO)

    def test_exposure(self):
        for unit in UNITS:
            proc = self.analyze(unit)
            found = _OVERALL.search(proc.stdout)
            self.assertIsNotNone(found, proc.stdout + proc.stderr)
            self.assertLessEqual(float(found.group(1)), MAX_EXPOSURE,
                                 proc.stdout)
            self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)


class MissingSystemdAnalyzeTest(base.MissingToolTest):

    needs = (SecurityTest, 'test_exposure')
    missing = 'systemd-analyze is not installed'
