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
"""The retry policy: exponential backoff with jitter."""

from esi_event_actions import retries
from esi_event_actions.tests.common import base


class RetryPolicyTest(base.TestCase):

    def test_exponential_capped_with_jitter(self):
        policy = retries.RetryPolicy(max_attempts=9, base_delay=2,
                                     max_delay=20)
        for attempt, low in ((1, 2), (2, 4), (3, 8), (4, 16)):
            delay = policy.delay(attempt)
            self.assertGreaterEqual(delay, low)
            self.assertLessEqual(delay, min(20, low + 2))
        self.assertLessEqual(policy.delay(30), 20)
