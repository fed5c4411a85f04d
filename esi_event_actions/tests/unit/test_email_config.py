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
"""An email rule is checked when it is loaded: each error names the file,
the section and the key."""

from esi_event_actions.actions.email import keystone
from esi_event_actions.conf import email_keystone
from esi_event_actions.conf import opts as conf_opts
from esi_event_actions import exception
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import mail


class LoadTest(mail.MailTestCase):

    security = 'none'
    users = None

    def errors(self, extra='', **overrides):
        path = self.load(self.rule_text(**overrides) + extra)
        exc = self.assertRaises(exception.ConfigErrors, ruleloader.load,
                                self.conf)
        for error in exc.errors:
            self.assertEqual((path, 'mail'), (error.filename, error.section))
        return {error.key: error.reason for error in exc.errors}

    def assert_error(self, key, reason, extra='', **overrides):
        errors = self.errors(extra, **overrides)
        self.assertEqual([key], list(errors), errors)
        self.assertIn(reason, errors[key])

    def test_bad_template_syntax(self):
        self.assert_error('subject_template', 'line 1: unexpected',
                          subject_template='{{ lease.name }')
        self.assert_error('body_template', 'line 2: ',
                          body_template='ok\n  {% for x in y %}')

    def test_bad_template_file(self):
        self.write('bad.html', '<p>{{ lease.name }</p>\n')
        self.assert_error('html_template_file', 'bad.html, line 1',
                          html_template_file='bad.html')
        self.assert_error('body_template_file', 'cannot read',
                          body_template_file='missing.txt')

    def test_bad_addresses(self):
        self.assert_error('mail_from', 'not a host name',
                          mail_from='esi@exa_mple.com')
        self.assert_error('recipients', 'address 2: not a local@domain',
                          recipients='a@example.com, nobody')
        self.assert_error('bcc', 'address 1', bcc='a b@example.com')
        self.assert_error('reply_to', 'address 1',
                          reply_to='<a@example.com>')

    def test_mail_from_is_required(self):
        self.assert_error('mail_from', 'the email action needs mail_from',
                          mail_from=None)

    def test_no_recipient_source(self):
        self.assert_error('recipients', 'set recipients, recipient_path '
                          'or keystone_recipients', recipients=None)

    def test_keystone_needs_its_group(self):
        self.assert_error('keystone_recipients', '[email_keystone] '
                          'auth_type', keystone_recipients='project')
        self.assert_error('keystone_roles', 'only used with '
                          'keystone_recipients = users',
                          keystone_roles='member')
        self.assert_error('keystone_recipients', 'auth_url',
                          keystone_recipients='users',
                          extra='[email_keystone]\nauth_type = password\n')

    def test_no_password_in_clear(self):
        self.assert_error('smtp_user', 'would send the password in clear',
                          smtp_user='u', smtp_password='p')
        self.assert_error('smtp_password', 'needs smtp_user',
                          smtp_security='tls', smtp_password='p')

    def test_which_message(self):
        self.assert_error('template', 'set template (lease-started, '
                          'lease-ending, lease-ended)',
                          events='esi_leap.lease.*')
        self.assert_error('body_template_file', 'not both',
                          body_template='x', body_template_file='x.txt')

    def test_ca_file_must_exist(self):
        self.assert_error('ca_file', 'no such file', ca_file='none.pem')

    def test_a_good_rule_describes_itself(self):
        self.load(self.rule_text(recipient_path='properties.contact'))
        rule = ruleloader.load(self.conf).by_name['mail']
        self.assertEqual('email via 127.0.0.1:%d (none) to lessee@example.com'
                         ' + lease properties.contact' % self.smtp.port,
                         rule.action.describe())

    def test_preview_sends_nothing(self):
        # What test-rule shows: Keystone is not asked, nor the server.
        self.load(self.rule_text(recipient_path='properties.contact',
                                 keystone_recipients='project') +
                  '[email_keystone]\nauth_type = password\n'
                  'auth_url = http://127.0.0.1:9/v3\nusername = u\n'
                  'password = p\nuser_domain_name = Default\n')
        rule = ruleloader.load(self.conf).by_name['mail']
        shown = rule.action.preview(self.event(
            name='ci', node_name='n7',
            properties={'contact': 'pi@example.edu'}), [])
        self.assertEqual([mail.LESSEE, 'pi@example.edu'], shown['to'])
        self.assertEqual('project', shown['keystone'])
        self.assertEqual('Your lease ci of node n7 has started',
                         shown['subject'])
        self.assertIn('Lease:   ci (', shown['text'])
        self.assertRegex(shown['message_id'], '^<[0-9a-f]{32}@example.com>$')
        self.assertEqual([], self.smtp.received)

    def test_the_group_name_is_one(self):
        # The action may not import conf/: each has the name.
        self.assertEqual(email_keystone.GROUP, keystone.GROUP)
        groups = [getattr(group, 'name', group)
                  for group, _ in conf_opts.list_opts()]
        self.assertIn(keystone.GROUP, groups)
        self.assertIn('example_email_rule', groups)
