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
"""Ending claimed jobs by hand, as the workers' recorder does."""

import datetime

from esi_event_actions import journal


def finish(store, job_id, owner, state, result, duration,
           next_attempt_at=None):
    """Record how one attempt ended; False if ``owner`` lost the job."""
    now = journal.utcnow()
    end = journal.End(journal.Job(id=job_id, rule=None, event=None), state,
                      result, duration,
                      now - datetime.timedelta(seconds=duration), now,
                      next_attempt_at)
    return not store.record(owner, [end])


def release(store, owner, job_ids):
    """Hand claimed jobs that never started back to the journal."""
    store.record(owner, releases=job_ids)
