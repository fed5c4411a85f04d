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
"""Rules at run time: which events, under which filters, run which action.

A rule is a configuration section that sets ``events``;
:mod:`esi_event_actions.ruleloader` loads and checks every rule, so that a
bad one stops the service at start with the file, section and key at
fault.  What it builds is here: a :class:`Rule` per section, and the
:class:`RuleSet` that decides which of them act on an event.  Its
policies are :mod:`esi_event_actions.policies`.
"""

import dataclasses
import fnmatch

from esi_event_actions import event as event_mod
from esi_event_actions import filters
from esi_event_actions import policies as policy_mod


class Options(dict):
    """A rule's option values, fixed when the rule was loaded.

    Read like an oslo.config group: ``options.script`` or
    ``options['script']``.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)


# eq=False: a rule equals only itself, and its list and dict fields could
# not be hashed.
@dataclasses.dataclass(frozen=True, eq=False)
class Rule:
    """One rule section, as loaded: what it acts on and how.

    Built whole by :class:`esi_event_actions.ruleloader.Loader`; a reload
    builds new rules.
    """

    name: str
    #: Patterns of the event types it acts on.
    events: list
    filter: filters.Filter
    #: The action plugin's instance.
    action: object
    action_name: str
    options: Options
    #: Its :class:`esi_event_actions.retries.RetryPolicy`.
    retry: object
    fallback: bool = False
    max_concurrency: int = None
    rate_limit: policy_mod.RateLimit = None
    once_per: policy_mod.OncePer = None
    on_count: policy_mod.OnCount = None
    timer: policy_mod.Timer = None
    #: callable ``(key) -> file`` that set ``key`` in the section, or None.
    locate: object = dataclasses.field(default=None, repr=False)

    def location(self, key):
        """The file that set ``key`` in this section, or None."""
        return self.locate(key) if self.locate else None

    def policies(self):
        """The rule's policies as text, for check-config and test-rule."""
        shown = ['fallback'] if self.fallback else []
        if self.max_concurrency:
            shown.append('max_concurrency=%d' % self.max_concurrency)
        shown.extend(policy.describe() for policy in (
            self.rate_limit, self.once_per, self.on_count, self.timer)
            if policy)
        return shown

    def wants(self, event_type):
        return any(fnmatch.fnmatchcase(event_type, p) for p in self.events)

    def params(self, event):
        return [event_mod.as_text(event.lookup(path))
                for path in self.action.param_paths()]

    def summary(self):
        parts = ['[%s]' % self.name, 'events=%s' % ','.join(self.events)]
        if self.filter.paths:
            parts.append('filter=%s' % ','.join(self.filter.paths))
        parts.extend(self.policies())
        parts.append('-> %s' % self.action.describe())
        return ' '.join(parts)


class RuleSet:
    """The rules in force, in section order."""

    def __init__(self, rules):
        self.rules = list(rules)
        self.by_name = {rule.name: rule for rule in self.rules}
        #: {rule name: OncePer} of the rules that act once per value.
        self.once = {rule.name: rule.once_per for rule in self.rules
                     if rule.once_per}
        #: {rule name: OnCount} of the rules that act on the Nth event of
        #: a lease.
        self.counts = {rule.name: rule.on_count for rule in self.rules
                       if rule.on_count}
        #: {rule name: Timer} of the rules whose jobs wait for a time.
        self.timers = {rule.name: rule.timer for rule in self.rules
                       if rule.timer}

    def cancels(self, event):
        """The timed rules whose waiting jobs ``event`` cancels."""
        return [name for name, timer in self.timers.items()
                if timer.cancelled_by(event.event_type)]

    def evaluate(self, event):
        """(rule, None if it acts on ``event``, else why not), for each.

        The one decision the pipeline, test-rule and replay share.  A
        fallback rule acts only when no other rule's events and filters
        accept the event.
        """
        verdicts = []
        for rule in self.rules:
            if not rule.wants(event.event_type):
                why = 'acts on %s, not %s' % (', '.join(rule.events),
                                              event.event_type)
            else:
                why = rule.filter.mismatch(event)
                why = why and 'filter: %s' % why
            verdicts.append((rule, why))
        taken = [rule.name for rule, why in verdicts
                 if why is None and not rule.fallback]
        if taken:
            verdicts = [(rule, 'fallback: rule(s) %s matched'
                         % ', '.join(taken) if rule.fallback and why is None
                         else why) for rule, why in verdicts]
        return verdicts

    def match(self, event):
        """The rules that act on ``event``."""
        return [rule for rule, why in self.evaluate(event) if why is None]

    def __len__(self):
        return len(self.rules)
