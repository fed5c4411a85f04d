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

import email.utils
import io
import json
import logging
import os
import shutil
import threading
import time

import fixtures

from esi_event_actions.actions import base as action_base
from esi_event_actions.actions import webhook
from esi_event_actions import bootstrap
from esi_event_actions.cmd import manage
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions import pipeline
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import httpserver


class WebhookTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.server = self.useFixture(httpserver.HTTPServer())

    def rule(self, extra='', url=None):
        self.load('[hook]\nevents = esi_leap.lease.fulfill.end\n'
                  'action = webhook\nurl = %s\n'
                  'params = node_name,node_properties.cpus,purpose\n%s\n'
                  % (url or self.server.url, extra))
        return ruleloader.load(self.conf).by_name['hook']

    def event(self, **data):
        return event.Event('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data(**data), id='msg-1',
                           publisher_id='esi-leap-manager.host1',
                           timestamp='2026-11-26 10:00:00.000001')

    def call(self, rule, attempt=1, **data):
        evt = self.event(**data)
        return rule.action.run(evt, rule.params(evt), attempt)

    def assert_no_url_secret(self, text):
        for secret in httpserver.URL_SECRETS:
            self.assertNotIn(secret, text)

    def finished(self, rule, timeout=30):
        """The result of one call; fails if it has not come by ``timeout``.

        A bounded wait, not a measure: what is tested is that the call
        ends at all while the server would go on for ever.
        """
        results = []
        thread = threading.Thread(
            target=lambda: results.append(self.call(rule)), daemon=True)
        thread.start()
        thread.join(timeout)
        self.assertEqual(1, len(results), 'the delivery is still running')
        return results[0]

    def test_body_and_signature(self):
        rule = self.rule('secret = %s\nheaders = {"Authorization": "Bearer '
                         'xyz"}' % httpserver.SECRET)
        result = self.call(rule, attempt=2, purpose=None)
        self.assertTrue(result.ok, result)
        self.assertEqual(200, result.exit_status)
        method, path, headers, body = self.server.requests[0]
        self.assertEqual(('POST', '/hook'), (method, path))
        now = time.time()
        secret = httpserver.SECRET
        self.assertTrue(httpserver.verify(secret, headers, body, now))
        self.assertFalse(httpserver.verify('wrong', headers, body, now))
        self.assertFalse(httpserver.verify(secret, headers, body + b' ', now))
        self.assertFalse(httpserver.verify(secret, headers, body, now + 3600))
        self.assertEqual('Bearer xyz', headers['Authorization'])
        self.assertEqual('msg-1', headers['X-ESI-Event-Id'])
        self.assertEqual('2', headers['X-ESI-Attempt'])
        sent = json.loads(body)
        self.assertEqual('1.0', sent['version'])
        self.assertEqual(('hook', 'esi_leap.lease.fulfill.end', 'msg-1', 2),
                         (sent['rule'], sent['event_type'], sent['event_id'],
                          sent['attempt']))
        self.assertEqual({'node_name': sent['data']['node_name'],
                          'node_properties.cpus': '16', 'purpose': ''},
                         sent['params'])
        self.assertIsNone(sent['data']['purpose'])

    def test_no_signature_without_secret(self):
        self.assertTrue(self.call(self.rule()).ok)
        headers = self.server.requests[0][2]
        self.assertNotIn('X-ESI-Signature', headers)

    def test_status_classes(self):
        rule = self.rule()
        expected = {200: action_base.SUCCESS, 204: action_base.SUCCESS,
                    302: action_base.FAILURE, 400: action_base.FAILURE,
                    404: action_base.FAILURE, 408: action_base.RETRY,
                    429: action_base.RETRY, 500: action_base.RETRY,
                    503: action_base.RETRY}
        self.server.statuses.extend(expected)
        got = {code: self.call(rule).status for code in expected}
        self.assertEqual(expected, got)

    def test_connection_refused_and_timeout_are_retried(self):
        rule = self.rule(url='http://127.0.0.1:9/hook')
        result = self.call(rule)
        self.assertEqual(action_base.RETRY, result.status)
        self.assertIn('ConnectionError', result.detail)
        self.server.delay = threading.Event()
        self.addCleanup(self.server.delay.set)
        rule = self.rule('timeout = 0.3')
        result = self.call(rule)
        self.assertEqual(
            (action_base.RETRY, 'no complete response within 0.3s'),
            (result.status, result.detail))

    def test_secrets_never_logged(self):
        rule = self.rule('secret = %s\nheaders = {"Authorization": "Bearer '
                         'hunter2"}' % httpserver.SECRET)
        self.server.statuses.append(500)
        self.call(rule)
        self.conf.log_opt_values(__import__('logging').getLogger('x'),
                                 10)
        for text in (httpserver.SECRET, 'hunter2'):
            self.assertNotIn(text, self.logger.output)
            self.assertNotIn(text, rule.summary())

    def test_a_trickling_answer_ends_at_the_timeout(self):
        # One byte every 0.4 s: no single read ever waits a whole second.
        for in_headers in (False, True):
            self.server.statuses.append(httpserver.trickle(
                0.4, in_headers=in_headers))
            result = self.finished(self.rule('timeout = 1'))
            self.assertEqual(
                (action_base.RETRY, 'no complete response within 1s'),
                (result.status, result.detail), in_headers)

    def test_only_what_is_kept_of_a_huge_body_is_read(self):
        size = 128 << 20
        self.server.statuses.append(httpserver.huge_body(size))
        result = self.finished(self.rule())
        self.assertEqual((action_base.RETRY, 500, 'HTTP 500 Internal Server '
                          'Error'), (result.status, result.exit_status,
                                     result.detail))
        self.assertEqual('0123456789abcdef' * 256, result.output)
        for _ in range(300):
            if self.server.sent:
                break
            time.sleep(0.1)
        # The connection is closed once the output is read: the server
        # stops at what the socket buffers took.
        self.assertLess(self.server.sent[0], size // 4)

    def test_url_secrets_are_redacted(self):
        for url, shown in (
                (httpserver.secret_url('https://h.example:8443'),
                 'https://***@h.example:8443/***?***'),
                ('http://h.example/', 'http://h.example/'),
                ('http://h.example', 'http://h.example'),
                ('http://u@[::1]:80/a#frag', 'http://***@[::1]:80/***#***'),
                ('http://h.example/?k=v', 'http://h.example/?***')):
            self.assertEqual(shown, webhook.redact_url(url))

    def test_url_secrets_never_shown(self):
        rule = self.rule(url=httpserver.secret_url())
        self.assertEqual('webhook POST http://***@127.0.0.1:9/***?***',
                         rule.action.describe())
        result = self.call(rule)
        self.assertEqual(action_base.RETRY, result.status)
        self.assertIn('ConnectionError', result.detail)
        self.assertIn('127.0.0.1', result.detail)
        preview = rule.action.preview(self.event(), rule.params(self.event()))
        self.assertEqual('http://***@127.0.0.1:9/***?***', preview['url'])
        self.conf.log_opt_values(logging.getLogger('dump'), logging.DEBUG)
        for text in (result.detail, result.output, rule.summary(),
                     json.dumps(preview), self.logger.output):
            self.assert_no_url_secret(text)

    def test_url_secrets_never_printed_by_manage(self):
        path = self.write('m.conf', '[journal]\nconnection = sqlite:///%s/'
                          'j.sqlite\n[hook]\nevents = esi_leap.lease.*.end\n'
                          'action = webhook\nurl = %s\n'
                          % (self.dir, httpserver.secret_url()))
        message, _ = fake_esi_leap.bus_message()
        out = self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', io.StringIO())).new_value
        for command in (['check-config'], ['test-rule', '--execute'],
                        ['test-rule', '-f', 'json', '--execute']):
            self.useFixture(fixtures.MonkeyPatch(
                'sys.stdin', io.StringIO(json.dumps(message))))
            rc = manage.main(['--config-file', path] + command,
                             conf=type(self.conf)(), setup_logging=False)
            self.assertEqual(0, rc, out.getvalue())
        self.assertIn('-> webhook POST http://***@127.0.0.1:9/***?***',
                      out.getvalue())
        self.assertIn('ConnectionError', out.getvalue())
        self.assert_no_url_secret(out.getvalue())

    def test_retry_after_replaces_the_backoff_and_410_is_gone(self):
        rule = self.rule()
        later = email.utils.formatdate(time.time() + 120, usegmt=True)
        self.server.statuses.extend([
            (503, {'Retry-After': '2'}), (429, {'Retry-After': later}),
            (503, {'Retry-After': 'soon'}), (500, {'Retry-After': '7'}),
            410])
        asked = [self.call(rule) for _ in range(4)]
        self.assertEqual([action_base.RETRY] * 4, [r.status for r in asked])
        self.assertEqual(2.0, asked[0].retry_after)
        self.assertIn('Retry-After 2s', asked[0].detail)
        self.assertAlmostEqual(120, asked[1].retry_after, delta=5)
        # Unreadable, or on an answer that does not define it: backoff.
        self.assertEqual([None, None], [r.retry_after for r in asked[2:]])
        gone = self.call(rule)
        self.assertEqual((action_base.FAILURE, 410), (gone.status,
                                                      gone.exit_status))
        self.assertEqual('410 Gone: the receiver asked us to stop',
                         gone.detail)

    def test_retry_after_values(self):
        now = 1_000_000_000.0
        date = email.utils.formatdate(now + 30, usegmt=True)
        past = email.utils.formatdate(now - 30, usegmt=True)
        for value, wait in (('0', 0.0), (' 12 ', 12.0), (date, 30.0),
                            (past, 0.0), (date.replace('GMT', '-0000'),
                                          30.0),
                            ('-1', None), ('1.5', None), ('', None),
                            (None, None), ('Thursday', None)):
            self.assertEqual(wait, webhook.retry_after(value, now), value)

    def test_validation(self):
        for extra, key in (('', None), ('ca_file = /nope', 'ca_file'),
                           ('client_key = %s' % __file__, 'client_key'),
                           ('headers = {"X-N": 1}', 'headers')):
            try:
                self.rule(extra)
            except exception.ConfigErrors as exc:
                self.assertEqual([key], [e.key for e in exc.errors])
            else:
                self.assertIsNone(key)
        exc = self.assertRaises(exception.ConfigErrors, self.rule,
                                url='ftp://x/')
        self.assertEqual(['url'], [e.key for e in exc.errors])


class RetryAfterJournalTest(base.TestCase):
    """The wait a receiver asks for is what the journal schedules."""

    def setUp(self):
        super().setUp()
        self.server = self.useFixture(httpserver.HTTPServer())
        self.journal = journal.Journal(
            'sqlite:///%s' % os.path.join(self.dir, 'j.sqlite'))
        self.addCleanup(self.journal.close)

    def retried(self, extra, *statuses, url=None):
        self.load('[hook]\nevents = esi_leap.lease.fulfill.end\n'
                  'action = webhook\nurl = %s\nretry_base_delay = 30\n%s\n'
                  % (url or self.server.url, extra))
        self.server.statuses.extend(statuses)
        pipe = pipeline.Pipeline(ruleloader.load(self.conf), self.journal, 1)
        pipe.start()
        self.addCleanup(pipe.stop, 5)
        pipe.accept([event.Event('esi_leap.lease.fulfill.end',
                                 fake_esi_leap.lease_data(), id='m1')])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = self.journal.rows()
            if rows[0]['state'] != journal.RUNNING:
                row = rows[0]
                wait = row['next_attempt_at'] and (
                    row['next_attempt_at'] - row['started_at'])
                return wait and wait.total_seconds(), row
            time.sleep(0.02)
        self.fail('the job was never retried: %s' % self.journal.rows())

    def test_retry_after_seconds_replace_the_backoff(self):
        wait, row = self.retried('', (503, {'Retry-After': '2'}))
        self.assertEqual((journal.RETRY, 1), (row['state'], row['attempts']))
        self.assertIn('Retry-After 2s', row['detail'])
        # The request itself takes milliseconds; the backoff would be 30 s.
        self.assertGreaterEqual(wait, 2)
        self.assertLess(wait, 10)

    def test_retry_after_capped_by_retry_max_delay(self):
        wait, _ = self.retried('retry_max_delay = 3',
                               (429, {'Retry-After': '3600'}))
        self.assertGreaterEqual(wait, 3)
        self.assertLess(wait, 10)

    def test_the_job_line_and_detail_hide_url_secrets(self):
        _, row = self.retried('', url=httpserver.secret_url())
        self.assertEqual(journal.RETRY, row['state'])
        self.assertIn('ConnectionError', row['detail'])
        self.assertIn('ConnectionError', self.logger.output)
        for secret in httpserver.URL_SECRETS:
            self.assertNotIn(secret, row['detail'])
            self.assertNotIn(secret, row['output'] or '')
            self.assertNotIn(secret, self.logger.output)

    def test_410_is_dead_after_one_attempt(self):
        _, row = self.retried('', 410)
        self.assertEqual((journal.DEAD, 1), (row['state'], row['attempts']))
        self.assertEqual('410 Gone: the receiver asked us to stop',
                         row['detail'])
        self.assertEqual(1, len(self.server.requests))


class WebhookTLSTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.server = self.useFixture(httpserver.HTTPServer(tls_dir=self.dir))

    def rule(self, extra):
        self.load('[hook]\nevents = esi_leap.lease.fulfill.end\n'
                  'action = webhook\nurl = %s\n%s\n'
                  % (self.server.url, extra))
        return ruleloader.load(self.conf).by_name['hook']

    def call(self, rule):
        evt = event.Event('esi_leap.lease.fulfill.end',
                          fake_esi_leap.lease_data(), id='m')
        return rule.action.run(evt, [], 1)

    def test_unknown_ca_is_refused_and_ca_file_is_honoured(self):
        result = self.call(self.rule(''))
        self.assertEqual(action_base.RETRY, result.status)
        self.assertIn('SSLError', result.detail)
        result = self.call(self.rule('ca_file = %s' % self.server.cert_file))
        self.assertTrue(result.ok, result)
        self.assertTrue(self.call(self.rule('verify = false')).ok)

    def test_relative_ca_file_is_relative_to_its_config_file(self):
        # As under systemd: the working directory is not the file's.
        sub = os.path.join(self.dir, 'conf.d')
        os.mkdir(sub)
        shutil.copy(self.server.cert_file, os.path.join(sub, 'ca.pem'))
        path = os.path.join(sub, 'hook.conf')
        with open(path, 'w') as f:
            f.write('[hook]\nevents = esi_leap.lease.fulfill.end\n'
                    'action = webhook\nurl = %s\nca_file = ca.pem\n'
                    % self.server.url)
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir('/')
        bootstrap.parse_args(['--config-file', path], self.conf,
                             default_config_files=[])
        rule = ruleloader.load(self.conf).by_name['hook']
        self.assertTrue(self.call(rule).ok)
