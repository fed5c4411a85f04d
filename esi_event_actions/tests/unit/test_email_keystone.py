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
"""The email action finds the lessee in Keystone, over real HTTP, through
keystoneauth: the project's email attribute, or its users'."""

from esi_event_actions.actions import base as action_base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import mail

PROJECT = fake_esi_leap.LESSEE
APP_SECRET = 'app-cred-Secret-9'


class KeystoneTest(mail.MailTestCase):

    security = 'none'
    users = None

    def setUp(self):
        super().setUp()
        self.keystone = self.useFixture(fake_esi_leap.API())

    def keystone_rule(self, source, **overrides):
        extra = ('[email_keystone]\n'
                 'auth_type = v3applicationcredential\n'
                 'auth_url = %s/identity/v3\n'
                 'application_credential_id = esi-mailer\n'
                 'application_credential_secret = %s\n'
                 % (self.keystone.url, APP_SECRET))
        overrides.setdefault('recipients', None)
        return self.rule(extra, keystone_recipients=source, **overrides)

    def identity_requests(self):
        return [path for path, _ in self.keystone.requests
                if path.startswith('/identity/')]

    def test_the_project_email_attribute(self):
        self.keystone.add_project(PROJECT, email='lab-pi@example.edu')
        rule = self.keystone_rule('project')
        result = self.call(rule)
        self.assertTrue(result.ok, result)
        self.assertEqual(['lab-pi@example.edu'],
                         self.only_message().rcpt_tos)
        self.assertEqual(['/identity/v3/projects/%s' % PROJECT],
                         self.identity_requests())
        self.assertEqual(fake_esi_leap.TOKEN, self.keystone.tokens[-1])
        auth = self.keystone.auth_requests[0]['auth']['identity']
        self.assertEqual(APP_SECRET,
                         auth['application_credential']['secret'])
        self.assertNotIn(APP_SECRET, self.logger.output)

    def test_the_users_with_a_role(self):
        self.keystone.add_project(PROJECT)
        self.keystone.add_user('u1', 'alice@example.edu')
        self.keystone.add_user('u2', 'bob@example.edu')
        self.keystone.add_user('u3', None)
        self.keystone.add_user('u4', 'carol@example.edu')
        for user, role in (('u1', 'member'), ('u1', 'reader'),
                           ('u2', 'reader'), ('u3', 'member')):
            self.keystone.assign(user, PROJECT, role)
        self.keystone.assign('u4', 'another-project')
        rule = self.keystone_rule('users', recipients=mail.LESSEE)
        self.assertTrue(self.call(rule).ok)
        got = self.only_message()
        self.assertEqual([mail.LESSEE, 'alice@example.edu',
                          'bob@example.edu'], got.rcpt_tos)
        self.assertEqual('%s, alice@example.edu, bob@example.edu'
                         % mail.LESSEE, got.message['To'])
        query = dict(self.keystone.requests[0][1])
        self.assertEqual({'scope.project.id': PROJECT,
                          'include_names': 'true', 'effective': 'true'},
                         query)

    def test_only_some_roles(self):
        self.keystone.add_user('u1', 'alice@example.edu')
        self.keystone.add_user('u2', 'bob@example.edu')
        self.keystone.assign('u1', PROJECT, 'member')
        self.keystone.assign('u2', PROJECT, 'admin')
        rule = self.keystone_rule('users', keystone_roles='admin,manager')
        self.assertTrue(self.call(rule).ok)
        self.assertEqual(['bob@example.edu'], self.only_message().rcpt_tos)

    def test_no_address_fails_or_skips(self):
        self.keystone.add_project(PROJECT)
        result = self.call(self.keystone_rule('project'))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertEqual('no recipient: keystone has no project email for '
                         'project %s' % PROJECT, result.detail)
        result = self.call(self.keystone_rule('project',
                                              no_recipient='skip'))
        self.assertEqual(action_base.SUCCESS, result.status)
        self.assertIn('not sent, no recipient', result.detail)
        # A project Keystone does not know is one without an address.
        result = self.call(self.keystone_rule('project'),
                           project_id='gone')
        self.assertIn('no project email for project gone', result.detail)
        self.assertEqual([], self.smtp.received)

    def test_keystone_faults(self):
        rule = self.keystone_rule('project')
        self.keystone.add_project(PROJECT, email='lab-pi@example.edu')
        # A token first: the faults are for the lookups.
        self.assertTrue(self.call(rule).ok)
        for fault, status in ((503, action_base.RETRY),
                              (429, action_base.RETRY),
                              (403, action_base.FAILURE),
                              ('garbage', action_base.RETRY)):
            self.keystone.faults.append(fault)
            result = self.call(rule)
            self.assertEqual(status, result.status, (fault, result))
        self.assertEqual(1, len(self.smtp.received))

    def test_keystone_down_is_retried(self):
        rule = self.keystone_rule('project')
        self.keystone.httpd.shutdown()
        self.keystone.httpd.server_close()
        result = self.call(rule)
        self.assertEqual(action_base.RETRY, result.status, result)

    def test_hostile_values_from_keystone_are_refused(self):
        self.keystone.add_project(PROJECT, email='pi@example.edu\r\nBcc: '
                                  'attacker@evil.example')
        result = self.call(self.keystone_rule('project'))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('refused: not a plain local part', result.detail)
        # A lease's project id stays one path segment.
        self.keystone.add_project('../users/u1', email='x@example.edu')
        self.call(self.keystone_rule('project'), project_id='../users/u1')
        self.assertEqual('/identity/v3/projects/..%2Fusers%2Fu1',
                         self.identity_requests()[-1])

    def test_too_many_users(self):
        for number in range(4):
            user = 'u%d' % number
            self.keystone.add_user(user, '%s@example.edu' % user)
            self.keystone.assign(user, PROJECT)
        result = self.call(self.keystone_rule('users', max_recipients=3))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertEqual('4 users have a role on the project, more than '
                         'max_recipients (3)', result.detail)
        self.assertEqual(['/identity/v3/role_assignments'],
                         self.identity_requests())
