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
"""The pipeline every event source feeds: rules, journal, workers."""

from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions import esi_leap_client
from esi_event_actions import event as event_mod
from esi_event_actions import history
from esi_event_actions import journal as journal_mod
from esi_event_actions import metrics as metrics_mod
from esi_event_actions import policies
from esi_event_actions import recheck
from esi_event_actions import retries
from esi_event_actions import safetext
from esi_event_actions import workers

LOG = logging.getLogger(__name__)

#: What check-config and the service's log say of timed rules when the
#: service cannot read a lease again at fire time.
NO_RECHECK = ('Timed rules run at the time computed when their event was '
              'journalled: [esi_leap] says nothing of how to reach '
              'esi-leap\'s API, so a lease is not read again when its job '
              'falls due (an extended lease keeps its first time)')


def build(conf, ruleset, metrics=metrics_mod.NO_METRICS, client=None):
    """The pipeline that ``conf`` describes, on its journal, not started.

    The one place the service and ``esi-event-actions-poller --once``
    assemble it.  ``client`` reads leases from esi-leap's API (the
    poller's); without one, one is made if ``[esi_leap]`` says how to
    reach it and a rule is timed, to read the lease again when a timed job
    falls due (see :mod:`.recheck`).
    """
    journal = journal_mod.Journal(conf.journal.connection,
                                  conf.journal.sqlite_synchronous)
    journal.context_limit = conf.journal.context_max_bytes
    journal.context_retention = (
        conf.journal.context_retention_days * 86400 or None)
    if client is None and ruleset.timers:
        if esi_leap_client.configured(conf):
            client = history.HistoryClient(esi_leap_client.adapter(conf))
        else:
            LOG.info(NO_RECHECK)
    checker = recheck.Recheck(client) if client is not None else None
    return Pipeline(ruleset, journal, metrics=metrics, recheck=checker,
                    **workers.pool_options(conf))


class Pipeline:
    """Match events to rules, journal their jobs and run them.

    Sources call :meth:`accept` and may acknowledge their input once it
    returns: the jobs are committed by then.  Any exception means nothing
    can be assumed stored and the input must be offered again.
    """

    def __init__(self, ruleset, journal, size=8,
                 metrics=metrics_mod.NO_METRICS, recheck=None, **pool_args):
        self.ruleset = ruleset
        self.journal = journal
        self.metrics = metrics
        self._recheck = recheck
        limited = any(rule.max_concurrency or rule.rate_limit
                      for rule in ruleset.rules)
        self.pool = workers.WorkerPool(
            journal, self.run_job, size, policy=self.retry_policy,
            metrics=metrics, admission=self._admission if limited else None,
            **pool_args)

    def start(self):
        """Start the workers; resume what a crash interrupted."""
        recovered = self.journal.recover()
        if recovered:
            LOG.info('%d job(s) were running when the service stopped; '
                     'they run again', recovered)
        self.pool.start()

    def stop(self, timeout=None):
        """Stop the workers; every end so far is committed on return."""
        return self.pool.stop(timeout)

    def wait_idle(self, timeout=None):
        """Block until no job can run now; whether it came to that."""
        return self.pool.wait_idle(timeout)

    def close(self):
        """Close the journal, once stopped."""
        self.journal.close()

    def accept(self, events, checkpoint=None):
        """Journal one job per matching rule of each event; run them.

        The new jobs go to the workers in memory, claimed by the very
        transaction that journals them.  An event the journal refuses for
        a reason no retry can change (see :func:`journal.permanent`) is
        kept aside as rejected, and the others are stored without it.

        :param checkpoint: a :class:`journal.Checkpoint` of the source
            (its name, last id and the ids it handled), stored in the
            same transaction as the jobs.
        """
        matches = [(event, self._match(event)) for event in events]
        entries = [match for match in matches if match[1]]
        cancel = self._cancels(events)
        jobs = []
        if entries:
            jobs = self._store(entries, checkpoint, cancel)
        elif checkpoint is not None or cancel:
            # Nothing to run, but the source has moved on.
            self.journal.add([], checkpoint=checkpoint, cancel=cancel,
                             cancelled=self._cancelled)
        self._count(matches)
        return jobs

    def _cancels(self, events):
        """What ``events`` cancel: (lease, timed rules, why) each."""
        cancel = []
        for event in events:
            rules = event.lease and self.ruleset.cancels(event)
            if rules:
                cancel.append((event.lease, rules, 'cancelled by %s %s' % (
                    event.event_type, event.id)))
        return cancel

    def _store(self, entries, checkpoint=None, cancel=()):
        try:
            return self._add(entries, checkpoint, cancel)
        except Exception as exc:
            if not journal_mod.permanent(exc):
                raise
            error = exc
        # Halves until the refused event is alone: a batch of n events
        # with one bad one costs about 2 log2(n) transactions, once.
        if len(entries) == 1:
            self._reject(*entries[0], error)
            jobs = []
        else:
            half = len(entries) // 2
            jobs = self._store(entries[:half]) + self._store(entries[half:])
        if checkpoint is not None or cancel:
            self.journal.add([], checkpoint=checkpoint, cancel=cancel,
                             cancelled=self._cancelled)
        return jobs

    def _add(self, entries, checkpoint, cancel):
        with self.pool.handoff(want=sum(len(r) for _, r in entries)) \
                as claim:
            jobs = self.journal.add(entries, checkpoint=checkpoint,
                                    once=self.ruleset.once, claim=claim,
                                    counts=self.ruleset.counts,
                                    timers=self.ruleset.timers,
                                    cancel=cancel, cancelled=self._cancelled)
            self.pool.take(jobs)
        # Counted once committed, and only the new jobs: a redelivered
        # event schedules nothing again.
        for job in jobs:
            if job.state == journal_mod.SKIPPED:
                _log_end(job, 'skipped (%s)' % safetext.printable(
                    job.detail))
            elif job.state == journal_mod.SCHEDULED:
                self.metrics.scheduled(job.rule)
        return jobs

    def _cancelled(self, jobs):
        for job in jobs:
            _log_end(job, safetext.printable(job.detail))
            self.metrics.cancelled(job.rule)

    def _reject(self, event, rules, error):
        self.journal.reject(event, rules, error)
        LOG.warning('Rejected %(type)s %(event)s for rule(s) %(rules)s: the '
                    'journal cannot store it (%(why)s); it is kept among '
                    'the rejected events',
                    dict(event.log_fields(), rules=','.join(rules),
                         why=safetext.printable(journal_mod.reason(error))))
        self.metrics.rejected(event)

    def _match(self, event):
        verdicts = self.ruleset.evaluate(event)
        rules = [rule.name for rule, why in verdicts if why is None]
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug('Received %(type)s %(event)s node %(node)s lease '
                      '%(lease)s: %(rules)s',
                      dict(event.log_fields(), rules=(
                          'rule(s) ' + ','.join(rules)) if rules
                          else 'no rule matches'))
            for rule, why in verdicts:
                if why and rule.wants(event.event_type):
                    LOG.debug('Rule %s skips %s: %s', rule.name, event.id,
                              why)
        return rules

    def _count(self, matches):
        # Counted once stored: a batch handed back to the broker comes
        # again and would count twice.
        for event, rules in matches:
            self.metrics.received(event)
            for rule in rules:
                self.metrics.matched(rule)

    def _admission(self, owner, lease):
        return policies.Admission(self.ruleset.by_name.get, self.journal,
                                  owner, lease)

    def retry_policy(self, job):
        rule = self.ruleset.by_name.get(job.rule)
        return rule.retry if rule else retries.RetryPolicy()

    def run_job(self, job, attempt):
        rule = self.ruleset.by_name.get(job.rule)
        if rule is None:
            return base.Result(base.FAILURE, 'rule %s is no longer '
                               'configured' % job.rule)
        event = job.event
        if rule.timer and self._recheck:
            event = self._recheck(job, rule.timer)
            if not isinstance(event, event_mod.Event):
                return event
        if rule.filter.reads_context:
            # Now that the job has its lease's context.
            why = rule.filter.mismatch(event)
            if why:
                return workers.Verdict(journal_mod.SKIPPED, 'filter: %s'
                                       % why)
        return rule.action.run(event, rule.params(event), attempt)


def _log_end(job, how):
    # What a policy or an event decided, once per job, where the operator
    # reads the jobs' ends: a skip or a cancel is the end of its job.
    LOG.info('Job %(job)d rule %(rule)s event %(type)s %(event)s node '
             '%(node)s lease %(lease)s: %(how)s',
             dict(job.event.log_fields(), job=job.id, rule=job.rule,
                  how=how))
