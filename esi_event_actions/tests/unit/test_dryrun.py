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
"""test-rule and replay: what each rule would do with an event."""

import datetime
import io
import json
import os

import fixtures

from esi_event_actions import bootstrap
from esi_event_actions.cmd import manage
from esi_event_actions import dryrun
from esi_event_actions import journal
from esi_event_actions import pipeline
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import httpserver

FULFILL = 'esi_leap.lease.fulfill.end'
RULES = '''
[fulfill]
events = esi_leap.lease.fulfill.end
script = act.sh
script_params = node_name,fulfill_time
filter_params = {"purpose": "test"}

[hook]
events = esi_leap.lease.*.end
action = webhook
url = %s
secret = s3cret
headers = {"Authorization": "Bearer hunter2"}
params = node_name

[journal]
connection = sqlite:///%s/journal.sqlite
'''


class ManageTestCase(base.TestCase):
    """Runs esi-event-actions-manage on ``self.config``."""

    def manage(self, *args, stdin=''):
        out = self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', io.StringIO())).new_value
        self.useFixture(fixtures.MonkeyPatch('sys.stdin',
                                             io.StringIO(stdin)))
        rc = manage.main(['--config-file', self.config] + list(args),
                         conf=type(self.conf)(), setup_logging=False)
        return rc, out.getvalue()


class DryRunTest(ManageTestCase):

    def setUp(self):
        super().setUp()
        self.out = os.path.join(self.dir, 'ran')
        self.script('act.sh', 'echo "$@" >> %s' % self.out)
        self.server = self.useFixture(httpserver.HTTPServer())
        self.config = self.write('t.conf', RULES % (self.server.url,
                                                    self.dir))

    def test_every_input_shape(self):
        message, lease = fake_esi_leap.bus_message()
        raw = {'oslo.version': '2.0', 'oslo.message': json.dumps(message)}
        row = {'id': 12, 'event_type': FULFILL,
               'event_time': '2026-11-26T10:00:00', 'object_type': 'lease',
               'object_uuid': lease['uuid'], 'resource_type': 'dummy_node',
               'resource_uuid': lease['resource_uuid'], 'lessee_id': 'l',
               'owner_id': 'o'}
        cli_row = {'ID': 12, 'Event Type': FULFILL,
                   'Event Time': '2026-11-26T10:00:00',
                   'Object Type': 'lease', 'Object UUID': lease['uuid'],
                   'Resource Type': 'dummy_node',
                   'Resource UUID': lease['resource_uuid'],
                   'Lessee ID': 'l', 'Owner ID': 'o'}
        for doc, source in ((raw, 'notification'), (message, 'notification'),
                            (row, 'history'), ([cli_row], 'history')):
            events = dryrun.read_events(json.dumps(doc))
            self.assertEqual([(FULFILL, source)],
                             [(e.event_type, e.source) for e in events])
        bare = dryrun.read_events(json.dumps(fake_esi_leap.payload(lease)),
                                  event_type=FULFILL)[0]
        self.assertEqual(lease, bare.data)
        self.assertEqual(lease, dryrun.read_events(
            json.dumps(lease), event_type=FULFILL)[0].data)
        for text in ('nope', '[1]', json.dumps(lease)):
            self.assertRaises(dryrun.InputError, dryrun.read_events, text)

    def test_text_report(self):
        message, lease = fake_esi_leap.bus_message(purpose='prod')
        rc, out = self.manage('test-rule', stdin=json.dumps(message))
        self.assertEqual(0, rc, out)
        self.assertIn("[fulfill] no: filter: purpose is 'prod', wanted "
                      '"test"', out)
        self.assertIn('[hook] MATCH -> webhook', out)
        self.assertIn('"Authorization": "***"', out)
        self.assertNotIn('hunter2', out)
        self.assertNotIn('s3cret', out)
        self.assertFalse(os.path.exists(self.out))
        self.assertEqual([], self.server.requests)

    def test_json_report_and_execute(self):
        message, lease = fake_esi_leap.bus_message(node_name='n; $(id)')
        path = self.write('msg.json', json.dumps(message))
        rc, out = self.manage('test-rule', '-f', 'json', '--execute', path)
        self.assertEqual(0, rc, out)
        report = json.loads(out)[0]
        rules = {r['rule']: r for r in report['rules']}
        self.assertEqual([os.path.join(self.dir, 'act.sh'), 'n; $(id)', ''],
                         rules['fulfill']['would']['argv'])
        self.assertEqual('m-1', rules['fulfill']['would']['environment'][
            'ESI_EVENT_ID'])
        self.assertEqual({'node_name': 'n; $(id)'},
                         rules['hook']['would']['body']['params'])
        self.assertEqual('success: exit status 0',
                         rules['fulfill']['result'])
        self.assertTrue(rules['hook']['result'].startswith('success'))
        with open(self.out) as f:
            self.assertEqual('n; $(id) \n', f.read())
        self.assertEqual(1, len(self.server.requests))

    def test_once_per_over_a_sequence(self):
        # Two fulfill.error for one lease, as esi-leap sends on each retry
        # of a failing fulfil: the first acts, the second is skipped.
        with open(self.config, 'a') as f:
            f.write('\n[page]\nevents = esi_leap.lease.fulfill.error\n'
                    'script = act.sh\nonce_per = uuid\n')
        lease = fake_esi_leap.lease_data()
        messages = []
        for number in (1, 2):
            message, _ = fake_esi_leap.bus_message()
            message.update(event_type='esi_leap.lease.fulfill.error',
                           message_id='m-%d' % number, priority='ERROR',
                           payload=fake_esi_leap.payload(lease))
            messages.append(message)
        rc, out = self.manage('test-rule', '--execute',
                              stdin=json.dumps(messages))
        self.assertEqual(0, rc, out)
        first, second = out.split('\n\n')
        self.assertIn('[page] MATCH -> script', first)
        self.assertNotIn('SKIPPED', first)
        self.assertIn('SKIPPED: once_per uuid=%s: event m-1 acted on it'
                      % lease['uuid'], second)
        self.assertNotIn('result:', second.split('[page]')[1])
        with open(self.out) as f:
            self.assertEqual(1, len(f.read().splitlines()))

    def test_bad_input(self):
        self.assertEqual(2, self.manage('test-rule', stdin='{"x": 1}')[0])

    def test_replay_jobs_and_files(self):
        message, lease = fake_esi_leap.bus_message()
        self.load(open(self.config).read())
        ruleset = bootstrap.check(self.conf)
        store = journal.Journal('sqlite:///%s/journal.sqlite' % self.dir)
        self.addCleanup(store.close)
        jobs = pipeline.Pipeline(ruleset, store).accept(
            dryrun.read_events(json.dumps(message)))
        self.assertEqual(2, len(jobs))
        rc, out = self.manage('replay', '--job', str(jobs[0].id))
        self.assertEqual(0, rc, out)
        self.assertIn('2 new job(s): 3 4', out)
        path = self.write('m.json', json.dumps([message, message]))
        rc, out = self.manage('replay', '--file', path)
        self.assertIn('4 new job(s)', out)
        rows = store.rows()
        self.assertEqual(8, len(rows))
        replays = [r for r in rows if r['event_id'].startswith('replay:')]
        self.assertEqual(6, len(replays))
        self.assertEqual({'replay'}, {json.loads(r['event'])['source']
                                      for r in replays})
        self.assertEqual(2, self.manage('replay')[0])


TIMED_RULES = '''
[warn]
events = esi_leap.lease.fulfill.end
action = log
at = end_time - 48h
at_past = skip

[late]
events = esi_leap.lease.fulfill.end
action = log
at = end_time - 48h

[watch]
events = esi_leap.lease.fulfill.end
action = log
at = event_time + 10m
cancel_on = esi_leap.lease.fulfill.error, esi_leap.lease.delete.*
'''
# The clock test-rule reads, fixed: the relative times are exact.
NOW = datetime.datetime(2026, 11, 26, 10, 0)


class TimedRuleTest(ManageTestCase):
    """test-rule says when each timed rule's job would run, given now."""

    def setUp(self):
        super().setUp()
        self.config = self.write('t.conf', TIMED_RULES)
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.journal.utcnow', lambda: NOW))

    def timers(self, sent_at='2026-11-26 09:55:30.000000', **lease):
        """test-rule's lines about the timers, of a fulfill.end."""
        message, _ = fake_esi_leap.bus_message(**lease)
        message['timestamp'] = sent_at
        rc, out = self.manage('test-rule', stdin=json.dumps(message))
        self.assertEqual(0, rc, out)
        return [line for line in out.splitlines()[1:]
                if line.lstrip().startswith(('[', 'at:', 'cancel_on:'))]

    def test_a_future_end_time_is_scheduled(self):
        self.assertEqual([
            '  [warn] MATCH -> log',
            '      at: 2026-11-28T09:59:00Z (in 1d 23h 59m): scheduled '
            'for then',
            '      cancel_on: esi_leap.lease.delete.*',
            '  [late] MATCH -> log',
            '      at: 2026-11-28T09:59:00Z (in 1d 23h 59m): scheduled '
            'for then',
            '      cancel_on: esi_leap.lease.delete.*',
            '  [watch] MATCH -> log',
            '      at: 2026-11-26T10:05:30Z (in 5m): scheduled for then',
            '      cancel_on: esi_leap.lease.fulfill.error, '
            'esi_leap.lease.delete.*',
        ], self.timers(end_time='2026-11-30T09:59:00Z'))

    def test_a_past_time_runs_at_once_or_is_skipped_by_at_past(self):
        lines = self.timers(sent_at='2026-11-26 09:49:30.000000',
                            end_time='2026-11-28T07:57:00+00:00')
        self.assertEqual([
            '      at: 2026-11-26T07:57:00Z (2h 3m ago): past, skipped '
            '(at_past = skip)',
            '      at: 2026-11-26T07:57:00Z (2h 3m ago): past, runs at '
            'once',
            '      at: 2026-11-26T09:59:30Z (30s ago): past, runs at once',
        ], [line for line in lines if 'at: ' in line])

    def test_a_lease_without_the_time_is_skipped_with_why(self):
        lines = self.timers(end_time=None)
        self.assertEqual([
            '      at: skipped: end_time is not a time',
            '      at: skipped: end_time is not a time',
            '      at: 2026-11-26T10:05:30Z (in 5m): scheduled for then',
        ], [line for line in lines if 'at: ' in line])

    def test_json_has_the_same_fields(self):
        message, _ = fake_esi_leap.bus_message(
            end_time='2026-11-28T07:57:00Z')
        message['timestamp'] = 'not a time'
        rc, out = self.manage('test-rule', '-f', 'json',
                              stdin=json.dumps(message))
        self.assertEqual(0, rc, out)
        rules = {r['rule']: r for r in json.loads(out)[0]['rules']}
        self.assertEqual({
            'state': 'skip', 'due': '2026-11-26T07:57:00Z',
            'from_now': '2h 3m ago',
            'reason': 'its time, 2026-11-26T07:57:00Z, had passed',
            'cancel_on': ['esi_leap.lease.delete.*'],
        }, rules['warn']['timer'])
        self.assertEqual({
            'state': 'run', 'due': '2026-11-26T07:57:00Z',
            'from_now': '2h 3m ago',
            'cancel_on': ['esi_leap.lease.delete.*'],
        }, rules['late']['timer'])
        self.assertEqual({
            'state': 'skip', 'due': None, 'from_now': None,
            'reason': 'event_time is not a time',
            'cancel_on': ['esi_leap.lease.fulfill.error',
                          'esi_leap.lease.delete.*'],
        }, rules['watch']['timer'])

    def test_the_journal_decides_the_same(self):
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.journal.model.utcnow', lambda: NOW))
        self.load(TIMED_RULES + '[journal]\nconnection = sqlite:///%s/j.db\n'
                  % self.dir)
        ruleset = bootstrap.check(self.conf)
        store = journal.Journal('sqlite:///%s/j.db' % self.dir)
        self.addCleanup(store.close)
        states = {'scheduled': journal.SCHEDULED, 'run': journal.PENDING,
                  'skip': journal.SKIPPED}
        for end_time in ('2026-11-30T09:59:00Z', '2026-11-28T07:57:00Z',
                         None):
            message, _ = fake_esi_leap.bus_message(end_time=end_time)
            message['message_id'] = 'm-%s' % end_time
            event, = dryrun.read_events(json.dumps(message))
            shown = {r['rule']: states[r['timer']['state']]
                     for r in dryrun.evaluate(ruleset, event)}
            jobs = pipeline.Pipeline(ruleset, store).accept([event])
            self.assertEqual(shown, {job.rule: job.state for job in jobs})
            self.assertEqual(3, len(jobs))
