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
"""The email action as the service runs it: journalled jobs, their
retries and a timed rule, with seconds for days."""

import datetime

from esi_event_actions import journal
from esi_event_actions import listener
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import mail

DELETE_END = 'esi_leap.lease.delete.end'


def _iso(seconds):
    moment = journal.utcnow() + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec='seconds') + 'Z'


class MailPipelineTest(mail.MailTestCase):
    """Warned before the end, told of the end: the worked example."""

    def setUp(self):
        super().setUp()
        common = dict(retry_base_delay='0.1', max_attempts='3')
        rules = (self.rule_text('warn', at='end_time - 2s', **common) +
                 self.rule_text('ended', events=DELETE_END, **common))
        self.load('[journal]\nconnection = sqlite:///%s/journal.sqlite\n'
                  '[worker]\npoll_interval = 0.05\n%s' % (self.dir, rules))
        self.pipeline = self.start_pipeline()

    def deliver(self, event_type, lease):
        endpoint_class = (listener.DeleteEndpoint if event_type == DELETE_END
                          else listener.FulfillEndpoint)
        endpoint_class(self.pipeline, requeue_delay=0).info(
            [fake_esi_leap.endpoint_message(lease, event_type=event_type)])

    def wait_done(self, count, timeout=30):
        found = cases.wait_counts(self.pipeline.journal, lambda counts: (
            counts[journal.DONE] >= count), timeout, 0.05)
        self.assertIsNotNone(found, self.pipeline.journal.counts())

    def test_warning_retried_then_the_end(self):
        lease = fake_esi_leap.lease_data(name='ci', node_name='n7',
                                         end_time=_iso(3))
        # The first attempt at the warning is greylisted.
        self.smtp.replies.append('451 4.7.1 greylisted, try again')
        self.deliver(fake_esi_leap.FULFILL_END, lease)
        self.assertEqual([], self.smtp.offered)
        self.wait_done(1)
        first, second = self.smtp.offered
        self.assertEqual(first.message['Message-ID'],
                         second.message['Message-ID'])
        self.assertEqual([second], self.smtp.received)
        self.assertEqual('Your lease ci of node n7 ends in less than a '
                         'minute', second.message['Subject'])
        self.deliver(DELETE_END, lease)
        self.wait_done(2)
        ended = self.smtp.received[-1]
        self.assertEqual('Your lease ci of node n7 has ended',
                         ended.message['Subject'])
        self.assertNotEqual(first.message['Message-ID'],
                            ended.message['Message-ID'])
        rows = {row['rule']: row for row in self.pipeline.journal.rows()}
        self.assertEqual(2, rows['warn']['attempts'])
