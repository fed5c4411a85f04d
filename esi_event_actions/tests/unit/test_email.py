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
"""The email action against a real SMTP server: delivery and its faults."""

import socket
import threading

from esi_event_actions.actions import base as action_base
from esi_event_actions.actions.email import smtp
from esi_event_actions.tests.common import mail


class StartTLSTest(mail.MailTestCase):
    """STARTTLS and AUTH, the default and the usual submission setup."""

    def test_message_headers_recipients_and_body(self):
        rule = self.rule(bcc='archive@example.com',
                         reply_to='support@example.com')
        result = self.call(rule, name='ci-lease', node_name='r640-07')
        self.assertEqual(action_base.SUCCESS, result.status, result)
        self.assertEqual(250, result.exit_status)
        self.assertIn('OK queued as 42', result.output)
        got = self.only_message()
        self.assertTrue(got.tls)
        self.assertEqual([('PLAIN', mail.USER)], self.smtp.logins)
        self.assertEqual(mail.SENDER, got.mail_from)
        self.assertEqual([mail.LESSEE, 'archive@example.com'], got.rcpt_tos)
        msg = got.message
        self.assertEqual(mail.HEADERS | {'Reply-To'}, set(msg.keys()))
        self.assertEqual('ESI Notifications <esi@example.com>', msg['From'])
        self.assertEqual(mail.LESSEE, msg['To'])
        self.assertNotIn('archive', str(msg))
        self.assertEqual('auto-generated', msg['Auto-Submitted'])
        self.assertEqual('Your lease ci-lease of node r640-07 has started',
                         msg['Subject'])
        text = got.text()
        self.assertIn('Lease:   ci-lease (', text)
        self.assertIn('Node:    r640-07 (', text)
        self.assertIn('Ends:    2026-11-27T10:00:00Z', text)
        self.assertIn('<td>ci-lease (', got.html())

    def test_every_attempt_sends_the_same_message_id(self):
        rule = self.rule()
        for attempt in (1, 2):
            self.assertTrue(self.call(rule, attempt=attempt).ok)
        first, second = self.smtp.received
        self.assertEqual(first.message['Message-ID'],
                         second.message['Message-ID'])
        self.assertRegex(first.message['Message-ID'],
                         r'^<[0-9a-f]{32}@example\.com>$')
        # Another event, or another rule: another message.
        self.assertTrue(self.call(rule, evt=self.event(event_id='msg-2')).ok)
        other = self.rule(name='other')
        self.assertTrue(self.call(other).ok)
        ids = {r.message['Message-ID'] for r in self.smtp.received}
        self.assertEqual(3, len(ids))

    def test_message_id_domain(self):
        rule = self.rule(message_id_domain='mail.example.org')
        self.assertTrue(self.call(rule).ok)
        self.assertTrue(self.only_message().message['Message-ID'].endswith(
            '@mail.example.org>'))

    def test_wrong_password_is_permanent(self):
        result = self.call(self.rule(smtp_password='wrong'))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertEqual(535, result.exit_status)
        self.assertIn('authentication failed', result.detail)
        self.assertEqual([], self.smtp.received)

    def test_untrusted_certificate_is_permanent(self):
        result = self.call(self.rule(ca_file=None))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('TLS certificate', result.detail)

    def test_verify_false_takes_any_certificate(self):
        self.assertTrue(self.call(self.rule(ca_file=None,
                                            verify='false')).ok)

    def test_4xx_is_retried_5xx_is_not(self):
        rule = self.rule()
        self.smtp.replies.extend(['451 4.3.0 try again later',
                                  '554 5.7.1 rejected as spam'])
        retry, failure = self.call(rule), self.call(rule)
        self.assertEqual((action_base.RETRY, 451),
                         (retry.status, retry.exit_status))
        self.assertIn('451 4.3.0 try again later', retry.detail)
        self.assertEqual((action_base.FAILURE, 554),
                         (failure.status, failure.exit_status))
        self.assertTrue(self.call(rule).ok)

    def test_refused_recipients(self):
        rule = self.rule()
        self.smtp.refuse[mail.LESSEE] = '450 4.2.1 mailbox busy'
        self.assertEqual(action_base.RETRY, self.call(rule).status)
        self.smtp.refuse[mail.LESSEE] = '550 5.1.1 no such user'
        result = self.call(rule)
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('550 5.1.1 no such user', result.detail)

    def test_some_recipients_refused_is_sent(self):
        # A retry would mail again those who have it.
        rule = self.rule(bcc='archive@example.com')
        self.smtp.refuse['archive@example.com'] = '550 5.1.1 no such user'
        result = self.call(rule)
        self.assertTrue(result.ok, result)
        self.assertIn('sent to 1 recipient:', result.detail)
        self.assertIn('1 refused (550)', result.detail)
        self.assertEqual([mail.LESSEE], self.only_message().rcpt_tos)

    def test_the_password_is_never_shown(self):
        rule = self.rule()
        outputs = [rule.action.describe(), str(rule.action.preview(
            self.event(), [])), str(self.call(rule))]
        rule = self.rule(smtp_password='wrong-' + mail.PASSWORD)
        outputs.append(str(self.call(rule)))
        for text in outputs + [self.logger.output]:
            self.assertNotIn(mail.PASSWORD, text)


class ImplicitTLSTest(mail.MailTestCase):

    security = smtp.TLS

    def test_tls_from_the_first_byte(self):
        self.assertTrue(self.call(self.rule()).ok)
        got = self.only_message()
        self.assertTrue(got.tls)
        self.assertEqual([('PLAIN', mail.USER)], self.smtp.logins)

    def test_starttls_to_an_implicit_tls_port_fails(self):
        result = self.call(self.rule(smtp_security=smtp.STARTTLS,
                                     timeout=2))
        self.assertNotEqual(action_base.SUCCESS, result.status)
        self.assertEqual([], self.smtp.received)


class PlainTest(mail.MailTestCase):
    """A relay without TLS: only when the rule says none."""

    security = smtp.PLAIN
    users = None

    def test_plain_when_configured(self):
        self.assertTrue(self.call(self.rule()).ok)
        self.assertFalse(self.only_message().tls)

    def test_starttls_required_but_not_offered(self):
        result = self.call(self.rule(smtp_security=smtp.STARTTLS))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('STARTTLS', result.detail)
        self.assertEqual([], self.smtp.received)


class UnreachableTest(mail.MailTestCase):

    security = smtp.PLAIN
    users = None

    def test_connection_refused_is_retried(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()
        result = self.call(self.rule(smtp_port=port))
        self.assertEqual(action_base.RETRY, result.status)
        self.assertIn('ConnectionRefusedError', result.detail)

    def test_one_deadline_for_the_whole_delivery(self):
        # A server that greets a line at a time, for ever: no single read
        # waits long, the delivery as a whole does.
        server = socket.socket()
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        stop = threading.Event()
        self.addCleanup(stop.set)
        self.addCleanup(server.close)

        def trickle():
            conn, _ = server.accept()
            with conn:
                while not stop.wait(0.1):
                    try:
                        conn.sendall(b'220-still greeting\r\n')
                    except OSError:
                        return
        threading.Thread(target=trickle, daemon=True).start()
        rule = self.rule(smtp_port=server.getsockname()[1], timeout=1,
                         connect_timeout=5)
        result = self.call(rule)
        self.assertEqual(action_base.RETRY, result.status)
        self.assertEqual('no answer within 1s', result.detail)
