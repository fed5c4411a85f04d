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
"""What an operator sees of a running service: metrics, health, logs."""

import json
import socket
import urllib.error
import urllib.request

from esi_event_actions.tests.common import alert_rules
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import base


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class _Scraping(base.FunctionalTestCase):

    def metrics_service(self, port, rule_extra='', extra=''):
        """The service with one script rule and metrics on ``port``."""
        return self.service(self.config('''
            [act]
            events = esi_leap.lease.fulfill.end
            script = act.sh
            %s
            ''' % rule_extra, extra=extra + '''
            [metrics]
            enabled = true
            port = %d
            ''' % port))

    def get(self, path):
        try:
            response = urllib.request.urlopen(self.url + path, timeout=10)
            return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


class AlertRulesTest(_Scraping):
    """The shipped alert rules select what a running service exports."""

    def test_every_metric_of_the_alert_rules_is_exported(self):
        used = alert_rules.used_names()
        port = free_port()
        self.url = 'http://127.0.0.1:%d' % port
        self.recorder('act.sh')
        svc = self.metrics_service(port)
        svc.wait_listening()
        # The time since the last event is exported from the first event
        # on.  The job's attempt may not be counted yet: a labelled family
        # without samples counts as exported.
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data())

        def scrape():
            status, text = self.get('/metrics')
            return (status == 200 and 'esi_event_actions_seconds_since_'
                    'last_event ' in text and text)
        exported = alert_rules.exported_names(
            base.wait_for(scrape, 60, 'the event in the metrics'))
        self.assertEqual([], sorted(used - exported),
                         'names the rules use and /metrics lacks')
        # Not vacuous: the rules use journal, counter and gauge families.
        self.assertLessEqual({'esi_event_actions_journal_jobs',
                              'esi_event_actions_job_attempts_total',
                              'esi_event_actions_consumer_up',
                              'esi_event_actions_timer_overdue_seconds'},
                             used)


class MonitoringTest(_Scraping):

    private_broker = True

    def test_a_busy_metrics_port_stops_the_service_at_start(self):
        calls = self.recorder('act.sh')
        with socket.socket() as taken:
            taken.bind(('127.0.0.1', 0))
            taken.listen()
            port = taken.getsockname()[1]
            svc = self.metrics_service(port)
            # It exits by itself: no worker crash-looping under the launcher.
            self.assertNotEqual(0, svc.proc.wait(60))
        self.assertIn('[metrics] port', svc.log())
        self.assertNotIn('Traceback', svc.log())
        self.assertNotIn('Listening on', svc.log())
        self.assertEqual([], calls.read())

    def test_metrics_health_and_json_logs(self):
        calls = self.recorder('act.sh')
        port = free_port()
        self.url = 'http://127.0.0.1:%d' % port
        svc = self.metrics_service(
            port, rule_extra='filter_params = {"purpose": "test"}',
            extra='''
            [DEFAULT]
            use_json = true
            ''')
        svc.wait_listening()
        lease = fake_esi_leap.lease_data()
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(purpose='other'))
        base.wait_for(calls.read, 60, 'the action')
        base.wait_for(lambda: 'state="done"} 1.0' in self.get('/metrics')[1],
                      30, 'the job in the metrics')
        status, text = self.get('/metrics')
        self.assertEqual(200, status)
        for line in (
                'esi_event_actions_notifications_received_total{event_type='
                '"esi_leap.lease.fulfill.end",source="listener"} 2.0',
                'esi_event_actions_rule_matches_total{rule="act"} 1.0',
                'esi_event_actions_journal_jobs{state="done"} 1.0',
                'esi_event_actions_source_connected 1.0',
                'esi_event_actions_timer_overdue_seconds 0.0'):
            self.assertIn(line, text)
        # Families of timed jobs, without samples: no rule here is timed.
        self.assertLessEqual({'esi_event_actions_timers_%s_total' % what
                              for what in ('scheduled', 'fired',
                                           'cancelled')},
                             alert_rules.exported_names(text))
        self.assertEqual((200, {'consuming': True, 'journal_writable': True,
                                'source_connected': True}),
                         (self.get('/healthz')[0],
                          json.loads(self.get('/healthz')[1])))

        # The broker goes away: the health check says so.
        self.broker.broker.ctl('stop_app')
        base.wait_for(lambda: self.get('/healthz')[0] == 503, 60,
                      'an unhealthy status')
        self.assertIn('esi_event_actions_source_connected 0.0',
                      self.get('/metrics')[1])
        self.broker.broker.ctl('start_app')
        base.wait_for(lambda: self.get('/healthz')[0] == 200, 120,
                      'the reconnection')

        # oslo.log's JSON output: one object per line, with the job's story.
        records = [json.loads(line) for line in svc.log().splitlines()
                   if line.startswith('{')]
        messages = [r['message'] for r in records]
        # One INFO line per job, naming its lease.
        self.assertTrue(any(m.startswith('Job 1 rule act') and 'done' in m
                            and lease['uuid'] in m for m in messages))
