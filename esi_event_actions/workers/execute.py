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
"""One attempt at a job: run its action, and say how it ended."""

import dataclasses
import datetime
import time

from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions.journal import contexts
from esi_event_actions.journal import model
from esi_event_actions import metrics as metrics_mod
from esi_event_actions import retries
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

#: Characters kept of a result's one-line detail.
DETAIL_LIMIT = 1024
# Ends that are no trouble: logged at INFO.
_QUIET = (model.DONE, model.SKIPPED, model.SCHEDULED)
# What the journal's exit_status column holds (a 32-bit integer).
_INT_MIN, _INT_MAX = -2 ** 31, 2 ** 31 - 1


@dataclasses.dataclass
class Verdict:
    """How a job ends without its action running, as a runner decided.

    A timed job whose lease has ended is SKIPPED; one whose time moved is
    SCHEDULED again for ``next_attempt_at``.  Neither counts as an attempt.
    """

    state: str
    detail: str
    next_attempt_at: datetime.datetime = None


class Executor:
    """Runs one attempt at a job and makes its :class:`model.End`.

    Never raises: whatever an action raises or returns, and whatever a
    retry policy computes, the attempt ends in a state the journal can
    record, so that the worker thread lives on.

    :param runner: callable ``(job, attempt) -> Result`` (or a
        :class:`Verdict`).
    :param policy: callable ``(job) -> RetryPolicy``.
    """

    def __init__(self, runner, policy=None, output_limit=4096,
                 metrics=metrics_mod.NO_METRICS, context_of=None,
                 context_limit=contexts.MAX_BYTES):
        self.runner = runner
        self._policy = policy or (lambda job: retries.RetryPolicy())
        self._output_limit = output_limit
        self._metrics = metrics
        self._context_of = context_of or (lambda job: {})
        self._context_limit = context_limit

    def __call__(self, job):
        started_at = model.utcnow()
        started = time.monotonic()
        result = self._run(job)
        duration = time.monotonic() - started
        if isinstance(result, Verdict):
            return self._settled(job, result, started_at, duration)
        try:
            result = self._bounded(result)
            self._check_context(job, result)
            state, next_at = retries.outcome(self._policy(job), job.attempts,
                                             result)
        except Exception as exc:
            LOG.exception('Cannot read the result of job %d', job.id)
            result = base.Result(base.FAILURE, 'unusable result: %s: %s'
                                 % (type(exc).__name__, exc))
            state, next_at = model.DEAD, None
        _log(job, state, result, duration, next_at)
        self._metrics.finished(job.rule, state, duration)
        return model.End(
            job, state, result, duration, started_at,
            started_at + datetime.timedelta(seconds=duration), next_at)

    def _run(self, job):
        """The action's result, on the event with its lease's context."""
        try:
            context = self._context_of(job)
        except Exception as exc:
            # Not without it: a delete action must see what its fulfil
            # made.  The journal is out; a retry will find it.
            return base.Result(base.RETRY, 'cannot read the context of '
                               'lease %s: %s' % (job.event.lease, exc))
        job.event = job.event.with_context(context)
        try:
            return self.runner(job, job.attempts)
        except Exception as exc:
            LOG.exception('Action of rule %s crashed on job %d',
                          job.rule, job.id)
            return base.Result(base.FAILURE, 'action crashed: %s' % exc)

    def _check_context(self, job, result):
        """Refuse a context write that could never be stored."""
        if not result.context:
            result.context = None
            return
        try:
            contexts.encode(contexts.merge(job.event.context, result.context),
                            self._context_limit)
        except contexts.ContextError as exc:
            result.status, result.context = base.FAILURE, None
            result.detail = ('context of lease %s not written: %s (%s)'
                             % (job.event.lease, exc, result.detail))[
                                 :DETAIL_LIMIT]

    def _settled(self, job, verdict, started_at, duration):
        result = model.Bare(str(verdict.detail)[:DETAIL_LIMIT])
        _log(job, verdict.state, result, duration, verdict.next_attempt_at)
        if verdict.state in model.FINAL_STATES:
            self._metrics.finished(job.rule, verdict.state, duration)
        return model.End(
            job, verdict.state, result, duration, started_at,
            started_at + datetime.timedelta(seconds=duration),
            verdict.next_attempt_at, tried=False)

    def _bounded(self, result):
        """``result`` with its detail and output within their limits."""
        if not isinstance(result, base.Result):
            raise TypeError('an action returned %s, not a Result'
                            % type(result).__name__)
        result.detail = str(result.detail or '')[:DETAIL_LIMIT]
        result.output = str(result.output or '')[:self._output_limit]
        if result.exit_status is not None:
            result.exit_status = int(result.exit_status)
            if not _INT_MIN <= result.exit_status <= _INT_MAX:
                result.exit_status = None
        return result


def _log(job, state, result, duration, next_at):
    log = LOG.info if state in _QUIET else LOG.warning
    retry = (' next attempt at %sZ' % next_at.isoformat(
        timespec='seconds')) if next_at and state == model.RETRY else ''
    log('Job %(job)d rule %(rule)s event %(type)s %(event)s node '
        '%(node)s lease %(lease)s attempt %(attempt)d: %(state)s in '
        '%(duration).3fs (%(detail)s)%(retry)s',
        dict(job.event.log_fields(), job=job.id, rule=job.rule,
             attempt=job.attempts, state=state, duration=duration,
             detail=safetext.printable(result.detail), retry=retry))
