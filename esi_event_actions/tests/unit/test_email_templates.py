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
"""The email action's templates: the shipped ones, the rule's, and hostile
lease values, which arrive inert."""

import email
import email.policy

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from esi_event_actions.actions import base as action_base
from esi_event_actions.actions.email import message
from esi_event_actions.actions.email import templates
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import mail

# What a lessee may put in a lease's name or purpose, all at once.
HOSTILE = ('x\r\nBcc: attacker@evil.example\r\n\r\nInjected body\n'
           '{{ 7*7 }}{% for i in range(3) %}LOOP{% endfor %}'
           '{{ lease.__class__.__mro__ }}<script>alert(1)</script>'
           '\x00\x1b[31m\ud800\u2028end')
MEGABYTE = 'M' * (1 << 20)


class DefaultTemplatesTest(mail.MailTestCase):

    def test_lease_ended(self):
        rule = self.rule(events='esi_leap.lease.delete.end')
        self.assertTrue(self.call(rule, name='ci', node_name='n7').ok)
        msg = self.only_message()
        self.assertEqual('Your lease ci of node n7 has ended',
                         msg.message['Subject'])
        self.assertIn('has ended: the node is no longer yours', msg.text())

    def test_lease_ending_in_two_days(self):
        # What a timed rule sends two days before the end.
        rule = self.rule(at='end_time - 48h')
        self.assertTrue(self.call(rule, name='ci', node_name='n7',
                                  end_time=mail.in_hours(48)).ok)
        msg = self.only_message()
        self.assertEqual('Your lease ci of node n7 ends in 2 days',
                         msg.message['Subject'])
        self.assertIn('ends in 2 days, at', msg.text())

    def test_every_detail_an_esi_lessee_needs(self):
        rule = self.rule(template='lease-started')
        evt = self.event(name='ci', node_name='n7', purpose='testing')
        self.assertTrue(self.call(rule, evt=evt).ok)
        msg = self.only_message()
        for part in (msg.text(), msg.html()):
            for key in ('name', 'uuid', 'node_name', 'node_uuid',
                        'project_id', 'purpose', 'start_time', 'end_time'):
                self.assertIn(str(evt.data[key]), part, key)

    def test_duration_in_words(self):
        for seconds, words in ((48 * 3600 - 1, '2 days'),
                               (30 * 3600, '1 day and 6 hours'),
                               (5 * 3600 + 60, '5 hours and 1 minute'),
                               (3600, '1 hour'), (40 * 60, '40 minutes'),
                               (10, 'less than a minute')):
            self.assertEqual(words, templates.duration(seconds))


class OwnTemplatesTest(mail.MailTestCase):

    def test_inline_templates_and_the_variables(self):
        rule = self.rule(
            events='esi_leap.lease.fulfill.*',
            subject_template='[{{ rule }}] {{ event.type }} #{{ lease.id }}',
            body_template='{{ lease.name }} {{ event.id }} {{ event.time }}'
                          '\n  context={{ context }} ends_in={{ ends_in }}'
                          ' fulfill={{ lease.fulfill_time }}.')
        self.assertTrue(self.call(rule, name='ci').ok)
        msg = self.only_message()
        self.assertEqual('[mail] esi_leap.lease.fulfill.end #42',
                         msg.message['Subject'])
        self.assertEqual('ci msg-1 2026-11-26T10:00:00.000001Z\n'
                         'context={} ends_in= fulfill=.\n', msg.text())
        # A text body of the rule's own: no shipped HTML beside it.
        self.assertIsNone(msg.html())

    def test_the_lease_context_is_a_variable(self):
        rule = self.rule(body_template='vlan {{ context.vlan }}')
        evt = self.event()
        # Set as the service sets it when a job starts.
        object.__setattr__(evt, 'context', {'vlan': 1234})
        self.assertTrue(self.call(rule, evt=evt).ok)
        self.assertEqual('vlan 1234\n', self.only_message().text())

    def test_template_files(self):
        self.write('body.txt', 'Text for {{ lease.name }}\n')
        self.write('body.html', '<b>{{ lease.name }}</b>\n')
        rule = self.rule(body_template_file='body.txt',
                         html_template_file='body.html')
        self.assertTrue(self.call(rule, name='a&b').ok)
        msg = self.only_message()
        self.assertEqual('Text for a&b\n', msg.text())
        self.assertEqual('<b>a&amp;b</b>\n', msg.html())

    def test_bodies_are_cut_to_body_limit(self):
        rule = self.rule(body_template='{% for i in range(100000) %}'
                         '0123456789{% endfor %}', body_limit=1000)
        self.assertTrue(self.call(rule).ok)
        self.assertEqual(1000, len(self.only_message().text().rstrip()))

    def test_a_template_failing_at_run_time_is_permanent(self):
        rule = self.rule(body_template='{{ lease.name.__class__ }}'
                         '{{ "".__class__.__mro__[1].__subclasses__() }}')
        result = self.call(rule)
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('SecurityError', result.detail)
        self.assertEqual([], self.smtp.received)


class HostileLeaseTest(mail.MailTestCase):
    """A lessee's values in the subject and the bodies arrive inert."""

    def test_hostile_name_and_purpose(self):
        rule = self.rule(recipient_path='properties.contact')
        result = self.call(rule, name=HOSTILE + MEGABYTE,
                           purpose=MEGABYTE + HOSTILE,
                           properties={'contact': 'x@example.org\r\nBcc: '
                                       'attacker@evil.example'})
        self.assertTrue(result.ok, result)
        got = self.only_message()
        # No header, no recipient added.
        self.assertEqual([mail.LESSEE], got.rcpt_tos)
        self.assertEqual(mail.HEADERS, set(got.message.keys()))
        self.assertEqual(mail.LESSEE, got.message['To'])
        self.assertEqual([], got.message.defects)
        subject = got.message['Subject']
        self.assertNotIn('\n', subject)
        self.assertLessEqual(len(subject), 200)
        self.assertIn('x\\r\\nBcc: attacker@evil.example\\r\\n', subject)
        text, html = got.text(), got.html()
        # Shown, never run.
        self.assertIn('{{ 7*7 }}{% for i in range(3) %}LOOP{% endfor %}'
                      '{{ lease.__class__.__mro__ }}', text)
        self.assertNotIn('LOOPLOOP', text)
        self.assertIn('<script>alert(1)</script>', text)
        self.assertIn('\\x00\\x1b[31m\\ud800\\u2028end', text)
        self.assertNotIn('<script>', html)
        self.assertIn('&lt;script&gt;alert(1)&lt;/script&gt;', html)
        # The megabyte cut to value_limit (1000) wherever it is shown.
        self.assertNotIn('M' * 1001, text)
        self.assertLess(len(got.data), 20000)
        self.assertIn('properties.contact refused', self.logger.output)

    def test_hostile_recipient_values_are_refused(self):
        rule = self.rule(recipients=None, recipient_path='properties.to')
        for value in ('x@example.org\r\nBcc: attacker@evil.example',
                      'x@example.org, attacker@evil.example',
                      '"x y"@example.org', 'x@[127.0.0.1]', {'a': 1},
                      'x\x00@example.org', 'x@exa\ud800mple.org',
                      '%s@example.org' % MEGABYTE):
            result = self.call(rule, properties={'to': value})
            self.assertEqual(action_base.FAILURE, result.status, value)
            self.assertIn('no recipient: properties.to refused',
                          result.detail)
            self.assertLess(len(result.detail), 400)
        self.assertEqual([], self.smtp.received)
        result = self.call(rule, properties={'to': ['a@example.org',
                                                    'b@example.org']})
        self.assertTrue(result.ok, result)
        self.assertEqual(['a@example.org', 'b@example.org'],
                         self.only_message().rcpt_tos)


class HostilePropertyTest(mail.MailTestCase):
    """Whatever text a lessee writes, the message keeps its shape."""

    def setUp(self):
        super().setUp()
        self.action = self.rule().action

    @settings(max_examples=150, deadline=None)
    @given(st.text(st.characters(exclude_categories=())) |
           st.lists(st.sampled_from(['\r', '\n', '\r\n', 'Bcc: a@evil.x',
                                     '{{ 7*7 }}', '{%', '%}', '<', '>',
                                     '&', '\x00', '\ud800', '=?utf-8?q?',
                                     ':', ' ', '\t', 'é'])).map(''.join))
    def test_any_name_or_purpose(self, text):
        evt = fake_esi_leap.lease_event(name=text, purpose=text,
                                        node_name=text)
        msg = self.action.compose(evt, [mail.LESSEE])
        data = msg.as_bytes()
        self.assertTrue(data.isascii())
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(mail.HEADERS, set(parsed.keys()))
        self.assertEqual(mail.LESSEE, parsed['To'])
        self.assertEqual([], parsed.defects)
        self.assertNotIn('\n', parsed['Subject'])
        self.assertLessEqual(len(parsed['Subject']), 200)

    def test_the_policy_refuses_a_line_break_in_a_header(self):
        # Belt and braces: the subject is made one line first.
        self.assertRaises(ValueError, message.build,
                          ('', mail.SENDER), [mail.LESSEE],
                          'x\r\nBcc: attacker@evil.example', 'body')
        self.assertEqual('x Bcc: a', message.one_line(
            'x\r\nBcc:\u2028a', 100))
