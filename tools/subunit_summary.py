#!/usr/bin/env python3
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
"""Read a subunit v2 stream on stdin; print "N passed, N failed".

Tests may report a figure in a detail whose name starts with "report"
(the reruns after a kill -9, say): it is printed, pass or fail.

Exits 1 when a test failed or none ran, so that a runner that silently ran
nothing is not mistaken for a green run.
"""

import sys

import subunit
import testtools


def main():
    counts = {'success': 0, 'fail': 0, 'skip': 0}
    failed, reports = [], []

    def on_test(test):
        for name, detail in sorted(test['details'].items()):
            if name.startswith('report'):
                reports.append('%s: %s' % (test['id'].rsplit('.', 1)[-1],
                                           detail.as_text().strip()))
        status = test['status']
        if status in ('success', 'xfail'):
            counts['success'] += 1
        elif status == 'skip':
            counts['skip'] += 1
        elif status in ('fail', 'uxsuccess'):
            counts['fail'] += 1
            failed.append(test['id'])

    result = testtools.StreamToDict(on_test)
    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer,
                                              non_subunit_name='stdout')
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()
    for report in reports:
        print(report)
    for test_id in failed:
        print('FAILED: %s' % test_id)
    line = '%d passed, %d failed' % (counts['success'], counts['fail'])
    if counts['skip']:
        line += ', %d skipped' % counts['skip']
    print(line)
    return 1 if counts['fail'] or not counts['success'] else 0


if __name__ == '__main__':
    sys.exit(main())
