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

import io
import json
import re

import fixtures

from esi_event_actions.actions import base as action_base
from esi_event_actions.cmd import manage
from esi_event_actions import event
from esi_event_actions import journal
from esi_event_actions import migration
from esi_event_actions import policies
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import samples

# What a terminal acts on: every control character but the newline that
# ends a line of output.
TERMINAL_CONTROLS = re.compile('[\x00-\x09\x0b-\x1f\x7f-\x9f]')
# A title change, a screen clear, and a CSI in its one-byte C1 form.
HOSTILE = '\x1b]0;pwned\x07\x1b[2J\x9b31m'


class ManageTestCase(base.TestCase):
    """Runs esi-event-actions-manage on a seed configuration."""

    def setUp(self):
        super().setUp()
        self.script('fulfill.sh')
        self.script('delete.sh')
        self.url = 'sqlite:///%s/journal.sqlite' % self.dir
        self.config = self.write('m.conf', samples.SEED_FIXED + (
            '\n[journal]\nconnection = %s\n' % self.url))

    def manage(self, *args):
        out = self.useFixture(fixtures.MonkeyPatch('sys.stdout',
                                                   io.StringIO())).new_value
        conf = type(self.conf)()
        rc = manage.main(['--config-file', self.config] + list(args),
                         conf=conf, setup_logging=False)
        return rc, out.getvalue()

    def jobs(self, count):
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        store.add([(event.Event('esi_leap.lease.fulfill.end',
                                fake_esi_leap.lease_data(node_uuid='n%d' % i),
                                id='m%d' % i), ['fulfill'])
                   for i in range(count)])
        return store


class ManageTest(ManageTestCase):

    def test_check_config_lists_rules(self):
        rc, out = self.manage('check-config')
        self.assertEqual(0, rc)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith(
            '[fulfill] events=esi_leap.lease.fulfill.end '
            'filter=properties.vendor,purpose -> script '))
        self.assertTrue(lines[0].endswith('<node_name> <fulfill_time>'))
        self.assertEqual('Configuration OK: 2 rule(s)', lines[-1])

    def test_check_config_reports_errors(self):
        with open(self.config, 'a') as f:
            f.write('\n[broken]\nevents = esi_leap.lease.fulfill.end\n'
                    'script = nope.sh\nscript_timeout = soon\n')
        rc, out = self.manage('check-config')
        self.assertEqual(1, rc)
        self.assertIn('Configuration has 2 error(s):', out)
        self.assertIn('%s [broken] script: no such file' % self.config, out)
        self.assertIn('%s [broken] script_timeout:' % self.config, out)

    def check_config_error(self, text):
        """check-config's exit status and output with ``text`` appended."""
        with open(self.config, 'a') as f:
            f.write(text)
        return self.manage('check-config')

    def test_check_config_refuses_a_misspelt_start_from(self):
        rc, out = self.check_config_error(
            '\n[poller]\nstart_from = begining\n')
        self.assertEqual(1, rc)
        self.assertIn('%s [poller] start_from:' % self.config, out)

    def test_check_config_refuses_an_id_no_checkpoint_holds(self):
        rc, out = self.check_config_error(
            '\n[poller]\nstart_from = 9223372036854775808\n')
        self.assertEqual(1, rc)
        self.assertIn('%s [poller] start_from:' % self.config, out)

    def test_check_config_refuses_a_rule_named_after_a_service_group(self):
        rc, out = self.check_config_error(
            '\n[worker]\nevents = esi_leap.lease.fulfill.end\n'
            'script = fulfill.sh\n')
        self.assertEqual(1, rc)
        self.assertIn('%s [worker] events:' % self.config, out)

    def test_check_config_refuses_metrics_without_prometheus_client(self):
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.metrics.prometheus_client', None))
        rc, out = self.check_config_error('\n[metrics]\nenabled = true\n')
        self.assertEqual(1, rc)
        self.assertIn('%s [metrics] enabled:' % self.config, out)
        self.assertIn('prometheus_client', out)

    def test_replay_on_a_bad_config_lists_the_errors(self):
        with open(self.config, 'a') as f:
            f.write('\n[broken]\nevents = esi_leap.lease.fulfill.end\n'
                    'script = nope.sh\n')
        events = self.write('events.json', '[]')
        rc, out = self.manage('replay', '--file', events)
        self.assertEqual(1, rc)
        self.assertIn('Configuration has 1 error(s):', out)
        self.assertIn('%s [broken] script: no such file' % self.config, out)

    def test_journal_list_show_retry_purge_status(self):
        store = self.jobs(3)
        for job in store.claim('me', 2, 60):
            ends.finish(store, job.id, 'me', journal.DEAD, action_base.Result(
                action_base.RETRY, 'exit 1', 1, 'boom'), 0.2)
        rc, out = self.manage('journal', 'list', '--state', 'dead')
        self.assertEqual(0, rc)
        self.assertEqual(3, len(out.splitlines()))
        self.assertIn('exit 1', out)
        rc, out = self.manage('journal', 'list', '-f', 'json', '--node', 'n2')
        self.assertEqual(['pending'], [r['state'] for r in json.loads(out)])
        rc, out = self.manage('journal', 'show', '1')
        shown = json.loads(out)
        self.assertEqual(('boom', 'm0'), (shown['output'],
                                          shown['event']['id']))
        self.assertEqual(1, self.manage('journal', 'show', '99')[0])
        self.assertEqual((0, '1 job(s) will run again\n'),
                         self.manage('journal', 'retry', '1'))
        self.assertEqual((0, '1 job(s) will run again\n'),
                         self.manage('journal', 'retry', '--all-dead'))
        self.assertEqual(2, self.manage('journal', 'retry')[0])
        rc, out = self.manage('status', '-f', 'json')
        status = json.loads(out)
        self.assertEqual(3, status['jobs']['pending'])
        self.assertGreaterEqual(status['oldest_unfinished_age'], 0)
        rc, out = self.manage('journal', 'purge', '--older-than', '0')
        self.assertIn('Deleted 0 done/dead/skipped/cancelled job(s)', out)


class DbCommandTest(ManageTestCase):
    """esi-event-actions-manage db: the journal's schema."""

    def test_upgrade_current_history_stamp(self):
        head = migration.head()
        rc, out = self.manage('db', 'current')
        self.assertEqual((0, 'none (empty; this release: %s; runs from -)'
                          '\n' % head), (rc, out))
        rc, out = self.manage('db', 'upgrade', '0001')
        self.assertEqual((0, 'Journal schema upgraded from nothing to '
                          '0001\n'), (rc, out))
        rc, out = self.manage('db', 'current')
        self.assertIn('0001 (behind this release: run '
                      'esi-event-actions-manage db upgrade', out)
        rc, out = self.manage('db', 'history')
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith('0001 (current) '), lines)
        self.assertTrue(lines[-1].startswith('%s (head) ' % head), lines)
        self.assertTrue(lines[1].endswith(
            '[expand-only: the previous release runs on it]'), lines)
        self.assertEqual((0, 'Journal schema upgraded from 0001 to %s\n'
                          % head), self.manage('db', 'upgrade'))
        self.assertEqual((0, 'Journal schema already at %s\n' % head),
                         self.manage('db', 'upgrade'))
        rc, out = self.manage('db', 'stamp', '0042')
        self.assertEqual(1, rc)
        self.assertIn("Cannot do that: Can't locate revision", out)
        self.assertEqual((0, 'Journal schema stamped %s\n' % head),
                         self.manage('db', 'stamp', 'head'))

    def test_other_commands_upgrade_a_sqlite_journal(self):
        self.manage('db', 'upgrade', '0001')
        rc, out = self.manage('status')
        self.assertEqual(0, rc)
        rc, out = self.manage('db', 'current')
        self.assertTrue(out.startswith('%s (up to date' % migration.head()),
                        out)

    def test_journal_list_shows_skipped_jobs(self):
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        lease = fake_esi_leap.lease_data()
        store.add([(event.Event('esi_leap.lease.fulfill.error', lease,
                                id='e%d' % i), ['fulfill'])
                   for i in range(3)],
                  once={'fulfill': policies.OncePer('uuid', 0)})
        rc, out = self.manage('journal', 'list', '--state', 'skipped')
        self.assertEqual(0, rc)
        lines = out.splitlines()
        self.assertEqual(3, len(lines))
        # The detail, cut to the table's column.
        self.assertIn('once_per uuid=%s' % lease['uuid'][:30], lines[1])
        rc, out = self.manage('status')
        self.assertIn('skipped  2', out)


class MalformedNumberTest(ManageTestCase):
    """A number that cannot be meant is refused before the journal opens."""

    def refused(self, *args):
        """Standard error of a command that argparse refuses."""
        err = self.useFixture(fixtures.MonkeyPatch('sys.stderr',
                                                   io.StringIO())).new_value
        exc = self.assertRaises(SystemExit, self.manage, *args)
        self.assertEqual(2, exc.code)
        return err.getvalue()

    def assert_refused(self, *args):
        lines = self.refused(*args).splitlines()
        # The usage, then the one line that says what is wrong.
        self.assertTrue(lines[0].startswith('usage: '), lines)
        self.assertEqual([lines[-1]], [line for line in lines
                                       if 'error' in line])
        self.assertIn('error: argument', lines[-1])
        return lines[-1]

    def test_job_ids_out_of_range(self):
        for value in ('99999999999999999999', '2147483648', '0', '-1',
                      'nan', '1.5', ''):
            self.assert_refused('journal', 'show', value)
            self.assert_refused('journal', 'retry', '1', value)
            self.assert_refused('replay', '--job', value)
        line = self.assert_refused('journal', 'show', '99999999999999999999')
        self.assertIn('not a job id', line)

    def test_the_largest_job_id_is_looked_up(self):
        self.assertEqual((1, 'No job 2147483647\n'),
                         self.manage('journal', 'show', '2147483647'))

    def test_list_limit(self):
        for value in ('0', '-1', '99999999999999999999', 'inf'):
            self.assert_refused('journal', 'list', '--limit', value)
        self.jobs(3)
        rc, out = self.manage('journal', 'list', '--limit', '2')
        self.assertEqual((0, 3), (rc, len(out.splitlines())))

    def test_purge_days(self):
        store = self.jobs(2)
        for job in store.claim('me', 2, 60):
            ends.finish(store, job.id, 'me', journal.DONE,
                        action_base.Result(action_base.SUCCESS, 'ok'), 0.1)
        for value in ('-100000', '-0.5', 'nan', 'NaN', 'inf', '-inf',
                      '1e400', '36501', 'soon'):
            self.assert_refused('journal', 'purge', '--older-than', value)
        self.assertEqual({'done': 2}, {
            state: count for state, count in store.counts().items()
            if count})
        rc, out = self.manage('journal', 'purge', '--older-than', '36500')
        self.assertEqual(0, rc)
        self.assertIn('Deleted 0 ', out)
        rc, out = self.manage('journal', 'purge', '--older-than', '0.0')
        self.assertIn('Deleted 2 ', out)


class TerminalSafeOutputTest(ManageTestCase):
    """What a lessee or an action chose reaches the terminal escaped."""

    def setUp(self):
        super().setUp()
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        lease = fake_esi_leap.lease_data(node_uuid='n' + HOSTILE,
                                         purpose='test' + HOSTILE)
        self.message = {
            'message_id': 'm' + HOSTILE, 'publisher_id': 'esi-leap.h',
            'event_type': 'esi_leap.lease.fulfill.end', 'priority': 'INFO',
            'payload': fake_esi_leap.payload(lease),
            'timestamp': '2026-11-26 10:00:00.000001'}
        store.add([(event.Event('esi_leap.lease.fulfill.end', lease,
                                id='m' + HOSTILE), ['fulfill'])])
        for job in store.claim('me', 1, 60):
            ends.finish(store, job.id, 'me', journal.DEAD, action_base.Result(
                action_base.FAILURE, 'exit status 1: ' + HOSTILE, 1,
                'stdout ' + HOSTILE), 0.1)

    def assert_escaped(self, out):
        self.assertIsNone(TERMINAL_CONTROLS.search(out), repr(out))

    def test_journal_list_table(self):
        rc, out = self.manage('journal', 'list')
        self.assertEqual(0, rc)
        self.assert_escaped(out)
        self.assertIn('exit status 1: \\x1b]0;pwned\\x07', out)
        self.assertEqual(2, len(out.splitlines()))

    def test_journal_show_and_json_keep_the_values(self):
        rc, out = self.manage('journal', 'show', '1')
        self.assert_escaped(out)
        shown = json.loads(out)
        self.assertEqual('stdout ' + HOSTILE, shown['output'])
        self.assertEqual('test' + HOSTILE, shown['event']['data']['purpose'])
        rc, out = self.manage('journal', 'list', '-f', 'json')
        self.assert_escaped(out)
        self.assertEqual('exit status 1: ' + HOSTILE,
                         json.loads(out)[0]['detail'])

    def test_status(self):
        rc, out = self.manage('status')
        self.assertEqual(0, rc)
        self.assert_escaped(out)

    def test_test_rule_text_report(self):
        path = self.write('msg.json', json.dumps(self.message))
        rc, out = self.manage('test-rule', path)
        self.assertEqual(0, rc)
        self.assert_escaped(out)
        self.assertIn('m\\x1b]0;pwned', out)

    def test_replay(self):
        rc, out = self.manage('replay', '--job', '1')
        self.assertEqual(0, rc)
        self.assert_escaped(out)
        self.assertIn('m\\x1b]0;pwned', out)


class RejectedEventsTest(ManageTestCase):
    """journal rejected: what the journal could not store, and why."""

    def setUp(self):
        super().setUp()
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        lease = fake_esi_leap.lease_data(name='evil' + HOSTILE)
        store.reject(event.Event('esi_leap.lease.fulfill.end', lease,
                                 id='m-' + HOSTILE),
                     ['fulfill', 'page'], ValueError('a value ' + HOSTILE))

    def test_table_is_escaped_and_names_the_reason(self):
        rc, out = self.manage('journal', 'rejected')
        self.assertEqual(0, rc)
        self.assertIsNone(TERMINAL_CONTROLS.search(out), repr(out))
        lines = out.splitlines()
        self.assertEqual(2, len(lines))
        self.assertIn('fulfill,page', lines[1])
        self.assertIn('ValueError: a value', lines[1])

    def test_json_keeps_the_event(self):
        rc, out = self.manage('journal', 'rejected', '-f', 'json')
        self.assertEqual(0, rc)
        rows = json.loads(out)
        self.assertEqual('evil' + HOSTILE, rows[0]['event']['data']['name'])
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))
        exc = self.assertRaises(SystemExit, self.manage, 'journal',
                                'rejected', '--limit', '-1')
        self.assertEqual(2, exc.code)

    def test_json_shows_a_cut_event_as_its_text(self):
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        # Empty objects side by side: the cut ends on a brace, as a whole
        # document would, but it is not one.
        for pad in range(4):
            big = event.Event('esi_leap.lease.fulfill.end', {
                'a': 'x' * pad, 'p': [{}] * 20000}, id='big-%d' % pad)
            text = big.to_json()[:journal.REJECTED_EVENT_LIMIT]
            if text.endswith('}'):
                break
        self.assertTrue(text.endswith('}'))
        store.reject(big, ['fulfill'], ValueError('too big'))
        rc, out = self.manage('journal', 'rejected', '-f', 'json')
        self.assertEqual(0, rc)
        self.assertEqual(text, json.loads(out)[0]['event'])


class OncePerCommandsTest(ManageTestCase):
    """journal retry and replay honour once_per, as the listener does."""

    def setUp(self):
        super().setUp()
        self.config = self.write('m.conf', samples.SEED_FIXED + (
            '\n[journal]\nconnection = %s\n'
            '[page]\nevents = esi_leap.lease.fulfill.error\n'
            'once_per = uuid\naction = log\n' % self.url))
        self.store = journal.Journal(self.url)
        self.addCleanup(self.store.close)
        lease = fake_esi_leap.lease_data()
        once = {'page': policies.OncePer('uuid', 0.0)}
        self.ids = []
        # Two retries of a failing fulfil died with the pager; a third
        # paged.
        for number, state in enumerate((journal.DEAD, journal.DEAD,
                                        journal.DONE)):
            job, = self.store.add([(event.Event(
                'esi_leap.lease.fulfill.error', lease, id='e%d' % number),
                ['page'])], claim=journal.Claim('me'), once=once)
            ends.finish(self.store, job.id, 'me', state,
                        action_base.Result(action_base.RETRY, 'x'), 0.1)
            self.ids.append(job.id)

    def test_retry_all_dead_pages_no_more(self):
        rc, out = self.manage('journal', 'retry', '--all-dead')
        self.assertEqual(0, rc)
        self.assertEqual([
            '0 job(s) will run again',
            'Job %d skipped: once_per, job %d acted on its value'
            % (self.ids[0], self.ids[2]),
            'Job %d skipped: once_per, job %d acted on its value'
            % (self.ids[1], self.ids[2])], out.splitlines())
        self.assertEqual(0, self.store.counts()[journal.DEAD])
        # The table, which cuts long details, still names the job.
        rc, out = self.manage('journal', 'list', '--state', 'skipped')
        self.assertEqual(2, out.count('job %d acted on once_per uuid='
                                      % self.ids[2]))

    def test_replay_honours_once_per_unless_told(self):
        rc, out = self.manage('replay', '--job', str(self.ids[2]))
        self.assertEqual(0, rc)
        self.assertIn('0 new job(s)', out)
        self.assertIn('acted on once_per uuid=', out)
        rc, out = self.manage('replay', '--job', str(self.ids[2]),
                              '--ignore-once-per')
        self.assertEqual(0, rc)
        self.assertIn('1 new job(s)', out)
