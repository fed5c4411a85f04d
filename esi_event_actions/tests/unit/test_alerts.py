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
"""The shipped Prometheus alert rules: valid, tested, documented.

That the metric names they use are the ones a running service exports
is checked against a live scrape by the functional tests
(test_monitoring).
"""

import os
import shutil
import subprocess


from esi_event_actions.conf import metrics as metrics_opts
from esi_event_actions.tests.common import alert_rules
from esi_event_actions.tests.common import base

MONITORING = os.path.join(base.REPO, 'doc', 'source',
                          'monitoring.rst')
# The alert that is off unless an operator sets this option.
NO_EVENTS = 'EsiEventActionsNoEvents'


class PromtoolTest(base.TestCase):
    """promtool's own checks: rules valid, and their unit tests pass."""

    def promtool(self, *args):
        path = shutil.which('promtool')
        if path is None:
            self.tool_missing('promtool is not installed', 'prometheus')
        proc = subprocess.run([path] + list(args), capture_output=True,
                              text=True, timeout=120,
                              cwd=alert_rules.DIRECTORY)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        return proc.stdout

    def test_check_rules(self):
        out = self.promtool('check', 'rules', 'alerts.yaml')
        self.assertIn('SUCCESS: %d rules found' % len(alert_rules.rules()),
                      out)

    def test_test_rules(self):
        out = self.promtool('test', 'rules', 'alerts_test.yaml')
        self.assertIn('SUCCESS', out)


class MissingPromtoolTest(base.MissingToolTest):

    needs = (PromtoolTest, 'test_check_rules')
    missing = 'promtool is not installed'


class AlertRulesTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.rules = alert_rules.rules()
        self.alerts = {rule['alert']: (group, rule)
                       for group, rule in self.rules}

    def test_every_rule_is_an_alert_with_a_severity_and_a_text(self):
        self.assertEqual(len(self.rules), len(self.alerts))
        for name, (_, rule) in self.alerts.items():
            self.assertIn(rule['labels'].get('severity'),
                          ('warning', 'critical'), name)
            self.assertEqual({'summary', 'description'},
                             set(rule['annotations']), name)

    def test_every_alert_is_tested_firing_and_quiet(self):
        firing, quiet = set(), set()
        for case in alert_rules.load(alert_rules.TESTS)['tests']:
            for check in case.get('alert_rule_test', ()):
                (firing if check.get('exp_alerts') else quiet).add(
                    check['alertname'])
        self.assertEqual(set(self.alerts), firing)
        self.assertEqual(set(self.alerts), quiet)

    def test_the_no_events_alert_has_a_group_of_its_own(self):
        group, rule = self.alerts[NO_EVENTS]
        self.assertEqual([NO_EVENTS], [r['alert'] for g, r in self.rules
                                       if g == group])
        self.assertEqual(1, len({g for g, _ in self.rules} - {group}))
        # Off by default: it needs a threshold above the default, 0.
        self.assertIn('(esi_event_actions_expected_event_interval_seconds'
                      ' > 0)', rule['expr'])
        default, = [opt.default for opt in metrics_opts.list_opts()
                    if opt.name == 'expected_event_interval']
        self.assertEqual(0, default)

    def test_every_alert_is_documented(self):
        with open(MONITORING) as f:
            text = f.read()
        self.assertEqual([], [name for name in sorted(self.alerts)
                              if '``%s``' % name not in text])

    def test_the_rules_use_only_the_service_s_metrics(self):
        used = alert_rules.used_names()
        self.assertEqual(set(), {name for name in used
                                 if not name.startswith('esi_event_actions_')})
        self.assertIn('esi_event_actions_job_attempts_total', used)


class MetricNamesTest(base.TestCase):
    """The tokenizer that reads metric names out of PromQL."""

    def test_functions_keywords_labels_and_durations_are_not_names(self):
        self.assertEqual(
            {'a_total', 'b', 'c:ratio'},
            alert_rules.metric_names(
                'sum without (state) (rate(a_total{state="retry",'
                'rule=~"x|{y}"}[15m] offset 5m)) / on (instance) '
                'group_left (rule) b > bool 1e3 * 0x1f '
                'and ignoring(job) c:ratio # d_total in a comment'))

    def test_time_and_absent_and_or(self):
        self.assertEqual(
            {'x_seconds', 'y_seconds', 'z_seconds'},
            alert_rules.metric_names(
                '(x_seconds OR time() - y_seconds) > (z_seconds > 0) '
                'unless absent(x_seconds)'))

    def test_a_name_matcher_is_refused(self):
        self.assertRaises(ValueError, alert_rules.metric_names,
                          '{__name__=~"esi_.*"} > 0')

    def test_exported_names_of_a_scrape(self):
        scrape = '\n'.join((
            '# HELP a_total Something.',
            '# TYPE a_total counter',
            '# HELP b_total Labelled, no sample yet.',
            '# TYPE b_total counter',
            '# TYPE c counter',
            '# TYPE h_seconds histogram',
            'h_seconds_bucket{le="+Inf",rule="r"} 1.0',
            '# TYPE g gauge',
            'g 1.0',
            'a_total{source="listener"} 2.0',
            'a_created{source="listener"} 1.7e9',
            ''))
        names = alert_rules.exported_names(scrape)
        self.assertEqual({'a_total', 'a_created', 'b_total', 'c_total',
                          'h_seconds_bucket', 'h_seconds_count',
                          'h_seconds_sum', 'g'}, names)
        # A counter is only ever selected with its suffix.
        self.assertNotIn('b', names)
