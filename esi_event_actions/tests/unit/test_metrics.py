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
"""Prometheus metrics and the health endpoint over HTTP."""

import json
import urllib.error
import urllib.request

from esi_event_actions import bootstrap
from esi_event_actions import dryrun
from esi_event_actions import journal
from esi_event_actions import metrics
from esi_event_actions import pipeline
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap


class MetricsTest(base.TestCase):

    class Source:
        def __init__(self):
            self.up = True

        def consuming(self):
            return self.up

        def connected(self):
            return self.up

    def test_metrics_and_health_over_http(self):
        self.script('act.sh', 'exit 0')
        self.load('[r]\nevents = esi_leap.lease.*.end\nscript = act.sh\n'
                  'max_attempts = 1\n')
        store = journal.Journal('sqlite:///%s/j.sqlite' % self.dir)
        self.addCleanup(store.close)
        stats = metrics.Metrics('listener')
        source = self.Source()
        stats.watch(store, source)
        pipe = pipeline.Pipeline(bootstrap.check(self.conf), store,
                                 metrics=stats, poll_interval=0.05)
        pipe.start()
        self.addCleanup(pipe.stop, 5)
        message, _ = fake_esi_leap.bus_message()
        pipe.accept(dryrun.read_events(json.dumps(message)))
        self.assertTrue(pipe.pool.wait_idle(10))
        sock = metrics.listen('127.0.0.1', 0)
        self.addCleanup(sock.close)
        server = metrics.StatusServer(sock, stats, store, source)
        server.start()
        self.addCleanup(server.stop)
        url = 'http://127.0.0.1:%d' % server.port
        text = urllib.request.urlopen(url + '/metrics').read().decode()
        for line in (
                'esi_event_actions_notifications_received_total{event_type='
                '"esi_leap.lease.fulfill.end",source="listener"} 1.0',
                'esi_event_actions_rule_matches_total{rule="r"} 1.0',
                'esi_event_actions_job_attempts_total{rule="r",state="done"} '
                '1.0',
                'esi_event_actions_action_duration_seconds_count{rule="r"} '
                '1.0',
                'esi_event_actions_journal_jobs{state="done"} 1.0',
                'esi_event_actions_oldest_unfinished_job_age_seconds 0.0',
                'esi_event_actions_source_connected 1.0',
                'esi_event_actions_consumer_up{source="listener"} 1.0',
                'esi_event_actions_poll_failures_total{source="listener"} '
                '0.0',
                'esi_event_actions_expected_event_interval_seconds 0.0'):
            self.assertIn(line, text)
        self.assertIn('esi_event_actions_seconds_since_last_event', text)
        self.assertIn('esi_event_actions_start_time_seconds', text)
        health = json.loads(urllib.request.urlopen(url + '/healthz').read())
        self.assertEqual({'consuming': True, 'source_connected': True,
                          'journal_writable': True}, health)
        source.up = False
        error = self.assertRaises(urllib.error.HTTPError,
                                  urllib.request.urlopen, url + '/healthz')
        self.assertEqual(503, error.code)
        text = urllib.request.urlopen(url + '/metrics').read().decode()
        self.assertIn('esi_event_actions_consumer_up{source="listener"} 0.0',
                      text)
