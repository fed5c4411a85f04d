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
"""The worked example of the recipes, end to end, in seconds for days.

A real broker, the service, a real SMTP server with STARTTLS and AUTH:
the lease is fulfilled and its VLAN recorded in its context; the lessee is
warned by mail before the end; the lease is deleted, the delete action
reads the VLAN back from the context, and a mail says the lease ended.
"""

import datetime
import json
import os
import time

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import mail
from esi_event_actions.tests.common import smtpserver
from esi_event_actions.tests.functional.harness import base

VLAN_UP = '''#!/bin/sh
printf '{"vlan": 1234}' > "$ESI_CONTEXT_OUT"
'''
# Logs the VLAN it was given and the one on its standard input.
VLAN_DOWN = '''#!/bin/sh
printf '%%s %%s\\n' "$1" "$(python3 -c 'import json, sys
print(json.load(sys.stdin)["context"]["vlan"])')" >> %s
'''

MAIL = '''
    action = email
    smtp_host = 127.0.0.1
    smtp_port = %(port)d
    ca_file = %(ca)s
    smtp_user = %(user)s
    smtp_password = %(password)s
    mail_from = ESI <%(sender)s>
    recipients = %(lessee)s
    retry_base_delay = 0.2
'''

RULES = '''
    [vlan-up]
    events = esi_leap.lease.fulfill.end
    script = vlan-up.sh

    [warn]
    events = esi_leap.lease.fulfill.end
    at = end_time - 4s
    %(mail)s
    [vlan-down]
    events = esi_leap.lease.delete.end
    script = vlan-down.sh
    script_params = context.vlan
    filter_params = {"context.vlan": {"exists": true}}

    [ended]
    events = esi_leap.lease.delete.end
    subject_template = Your lease {{ lease.name }} has ended
    body_template = VLAN {{ context.vlan }} of node {{ lease.node_name }} is released.
    %(mail)s'''  # noqa: E501


class WorkedExampleTest(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.smtp = self.useFixture(smtpserver.SMTPServer(
            self.dir, 'starttls', {mail.USER: mail.PASSWORD}))
        self.downs = os.path.join(self.dir, 'downs')
        self.write('vlan-up.sh', VLAN_UP, 0o755)
        self.write('vlan-down.sh', VLAN_DOWN % self.downs, 0o755)
        options = MAIL % dict(port=self.smtp.port, ca=self.smtp.cert_file,
                              user=mail.USER, password=mail.PASSWORD,
                              sender=mail.SENDER, lessee=mail.LESSEE)
        svc = self.service(self.config(RULES % {'mail': options}))
        svc.wait_listening()

    def mails(self, count, what):
        return base.wait_for(lambda: len(self.smtp.received) >= count and
                             list(self.smtp.received), 60, what)

    def test_fulfilled_warned_deleted_undone_told(self):
        end = time.time() + 10
        lease = fake_esi_leap.lease_data(
            name='ci-lease', node_name='dell-r640-07',
            end_time=datetime.datetime.fromtimestamp(
                end, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))
        self.esi_leap.emit('esi_leap.lease.fulfill.end', lease)

        warning, = self.mails(1, 'the warning')
        # Not before its time: four seconds before the (whole-second) end.
        self.assertGreaterEqual(time.time(), int(end) - 4)
        self.assertEqual('Your lease ci-lease of node dell-r640-07 ends in '
                         'less than a minute', warning.message['Subject'])
        self.assertEqual([mail.LESSEE], warning.rcpt_tos)
        self.assertTrue(warning.tls and warning.authenticated)
        rows = {row['rule']: row for row in self.journal_rows()}
        self.assertEqual({'vlan': 1234}, json.loads(
            self.context_of(lease['uuid'])))
        self.assertEqual(journal.DONE, rows['vlan-up']['state'])

        self.esi_leap.emit('esi_leap.lease.delete.end', lease)
        _, ended = self.mails(2, 'the mail that the lease ended')
        self.assertEqual('Your lease ci-lease has ended',
                         ended.message['Subject'])
        self.assertIn('VLAN 1234 of node dell-r640-07 is released.',
                      ended.text())
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) == 4, 30, 'every job done')
        with open(self.downs) as f:
            self.assertEqual(['1234 1234'], f.read().splitlines())

    def context_of(self, lease):
        store = journal.Journal(self.journal_url)
        try:
            return json.dumps(store.context(lease))
        finally:
            store.close()
