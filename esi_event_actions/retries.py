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
"""How often, and how far apart, a failing job is tried again."""

import dataclasses
import datetime
import types

import tenacity

from esi_event_actions.actions import base
from esi_event_actions.journal import model


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a failing job is tried."""

    max_attempts: int = 5
    base_delay: float = 10.0
    max_delay: float = 600.0

    def delay(self, attempt, asked=None):
        """Seconds to wait after failed attempt number ``attempt``.

        Exponential from ``base_delay``, capped at ``max_delay``, plus up
        to ``base_delay`` of random jitter so that jobs failing together
        (a webhook that is down) do not all come back at once.  A wait
        the other end ``asked`` for replaces it, within ``max_delay``.
        """
        if asked is not None:
            return min(max(asked, 0.0), self.max_delay)
        wait = tenacity.wait_exponential_jitter(
            initial=self.base_delay, max=self.max_delay,
            jitter=self.base_delay)
        return wait(types.SimpleNamespace(attempt_number=attempt))


def outcome(policy, attempt, result):
    """The state attempt number ``attempt`` ends in, and the next's time.

    A success is done; a failure the action calls final, or one more than
    ``policy`` allows, is dead; any other waits for its retry.
    """
    if result.ok:
        return model.DONE, None
    if result.status == base.FAILURE or attempt >= policy.max_attempts:
        return model.DEAD, None
    return model.RETRY, model.utcnow() + datetime.timedelta(
        seconds=policy.delay(attempt, result.retry_after))
