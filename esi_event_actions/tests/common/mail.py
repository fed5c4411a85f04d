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
"""A test case for the email action: a real SMTP server, a rule, events.

:class:`MailTestCase` starts :class:`smtpserver.SMTPServer` (STARTTLS
and AUTH unless a subclass says otherwise), writes an email rule that
reaches it, and makes events of :func:`fake_esi_leap.lease_data`.
"""

import datetime

from esi_event_actions import event
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import smtpserver

USER = 'esi-mailer'
PASSWORD = 'pw-Mail-Secret-7'
SENDER = 'esi@example.com'
LESSEE = 'lessee@example.com'

# What one message of the action has as headers, whatever the lease.
HEADERS = {'From', 'To', 'Subject', 'Date', 'Message-ID', 'Auto-Submitted',
           'MIME-Version', 'Content-Type'}


def in_hours(hours):
    """A lease time ``hours`` from now, as esi-leap writes it."""
    when = (datetime.datetime.now(datetime.timezone.utc) +
            datetime.timedelta(hours=hours))
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


class MailTestCase(base.TestCase):
    """Rules of the email action against a real SMTP server."""

    security = 'starttls'
    users = {USER: PASSWORD}

    def setUp(self):
        super().setUp()
        # A plain relay offers no STARTTLS at all.
        tls_dir = None if self.security == 'none' else self.dir
        self.smtp = self.useFixture(smtpserver.SMTPServer(
            tls_dir, self.security, self.users))

    def options(self, **overrides):
        """The rule's options: the server's, then ``overrides``.

        An override of None leaves the option out.
        """
        opts = {'events': fake_esi_leap.FULFILL_END, 'action': 'email',
                'smtp_host': '127.0.0.1', 'smtp_port': self.smtp.port,
                'smtp_security': self.security,
                'mail_from': 'ESI Notifications <%s>' % SENDER,
                'recipients': LESSEE}
        if self.smtp.cert_file:
            opts['ca_file'] = self.smtp.cert_file
        if self.users:
            opts.update(smtp_user=USER, smtp_password=PASSWORD)
        opts.update(overrides)
        return opts

    def rule_text(self, name='mail', **overrides):
        lines = ['[%s]' % name]
        for key, value in self.options(**overrides).items():
            if value is not None:
                lines.append('%s = %s' % (key, value))
        return '\n'.join(lines) + '\n'

    def rule(self, extra='', name='mail', **overrides):
        """The loaded rule; ``extra`` is more of the file (other groups)."""
        self.load(self.rule_text(name, **overrides) + extra)
        return ruleloader.load(self.conf).by_name[name]

    def event(self, event_type=fake_esi_leap.FULFILL_END, event_id='msg-1',
              **data):
        return event.Event(event_type, fake_esi_leap.lease_data(**data),
                           id=event_id,
                           publisher_id='esi-leap-manager.host1',
                           timestamp='2026-11-26 10:00:00.000001')

    def call(self, rule, attempt=1, evt=None, **data):
        evt = evt or self.event(**data)
        return rule.action.run(evt, rule.params(evt), attempt)

    def only_message(self):
        self.assertEqual(1, len(self.smtp.received))
        return self.smtp.received[0]
