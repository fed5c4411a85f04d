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
"""What the journal holds and hands out: jobs, their ends, claims."""

import dataclasses
import datetime

from esi_event_actions import event as event_mod

__all__ = ['PENDING', 'RUNNING', 'RETRY', 'DONE', 'DEAD', 'SKIPPED',
           'SCHEDULED', 'CANCELLED', 'STATES', 'FINAL_STATES', 'Checkpoint',
           'Job', 'End', 'Claim', 'utcnow']

PENDING = 'pending'
RUNNING = 'running'
RETRY = 'retry'
DONE = 'done'
DEAD = 'dead'
# Journalled for a rule's once_per, not run: the value was seen.
SKIPPED = 'skipped'
# A timed rule's job, waiting for its time (next_attempt_at): it holds
# back nothing, and becomes pending when its time comes.
SCHEDULED = 'scheduled'
# A timed job an event of its lease cancelled before its time.
CANCELLED = 'cancelled'
STATES = (SCHEDULED, PENDING, RUNNING, RETRY, DONE, DEAD, SKIPPED, CANCELLED)
FINAL_STATES = (DONE, DEAD, SKIPPED, CANCELLED)


@dataclasses.dataclass
class Checkpoint:
    """Where a polled source stands, stored with the jobs it created.

    ``last_id`` is the highest id handled; ``seen`` the ids handled by
    this pass; seen ids below ``forget_below`` are no longer needed.
    """

    name: str
    last_id: int
    seen: tuple = ()
    forget_below: int = None


@dataclasses.dataclass
class Job:
    """A job as the workers see it.

    ``state`` is RUNNING for a job claimed by whoever got it from the
    journal, PENDING for one that waits for a claim.
    """

    id: int
    rule: str
    event: event_mod.Event
    node: str = None
    state: str = PENDING
    #: The number of the attempt a claimed job makes: one more than the
    #: attempts whose end was recorded.  An attempt a crash cut short is
    #: not counted: the crash was not the action's failure.
    attempts: int = 0
    event_time: datetime.datetime = None
    #: Whether it holds one of its rule's max_concurrency slots.
    slot: bool = False
    #: Why a policy decided what it did (a SKIPPED job's detail).
    detail: str = None
    #: What the transaction that claimed it saw of its lease's context:
    #: whether there was one, as of the claimant's count of commits when
    #: it started (:attr:`Claim.seq`).  None: nothing seen, read it.
    has_context: bool = True
    context_seq: int = None

    @property
    def order(self):
        """The key jobs about one node run in."""
        return (self.event_time or datetime.datetime.min, self.id)


@dataclasses.dataclass
class End:
    """How one attempt at a job ended, for :meth:`Journal.record`."""

    job: Job
    state: str
    result: object
    duration: float
    started_at: datetime.datetime
    finished_at: datetime.datetime
    next_attempt_at: datetime.datetime = None
    #: Whether the action ran: an end that decided not to run it (a timed
    #: job skipped or scheduled again at fire time) is no attempt.
    tried: bool = True


@dataclasses.dataclass(frozen=True)
class Claim:
    """Who claims the jobs a transaction adds, and how many at most.

    The jobs are claimed for ``owner`` under a lease of ``lease`` seconds,
    except those whose node has other unfinished jobs (or, with
    ``dead_blocks``, dead ones): those wait for a claim behind them.
    """

    owner: str
    lease: float = 60.0
    dead_blocks: bool = False
    limit: int = None
    #: The claimant's count of group commits before the transaction: the
    #: claimed jobs note whether their lease has a context, as of then.
    seq: int = None


@dataclasses.dataclass
class Bare:
    """The result recorded for an end whose own could not be stored."""

    detail: str
    output: str = ''
    exit_status: int = None


def utcnow():
    """Now, in UTC, as the journal's naive DateTime columns hold it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
