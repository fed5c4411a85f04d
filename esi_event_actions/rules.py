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
"""Rules: which events, under which filters, run which action.

A rule is a configuration section that sets ``events``.  Everything about it
is checked when it is loaded, so a bad rule stops the service at start with
the file, section and key at fault, instead of failing when a lease event
finally arrives.
"""

import collections
import copy
import fnmatch

from oslo_config import cfg
from stevedore import driver
from stevedore import extension

from esi_event_actions.conf import locations
from esi_event_actions.conf import rule as rule_conf
from esi_event_actions.conf import types as rate_types
from esi_event_actions import event as event_mod
from esi_event_actions import exception
from esi_event_actions import filters
from esi_event_actions import retries

ACTION_NAMESPACE = 'esi_event_actions.actions'

# Keys that only make sense in a rule: a section with one of them but no
# "events" is a rule the operator forgot to finish, not some other section.
_RULE_HINTS = {'action', 'script', 'script_params', 'filter_params',
               'playbook', 'url'}


#: A rule's once_per: the dot path, and the seconds a value is remembered
#: (0: for ever).
OncePer = collections.namedtuple('OncePer', 'path window')


class PluginLoadError(Exception):
    """An action plugin is installed but cannot be loaded."""


def action_class(name):
    """The action plugin class registered under ``name``.

    :raises PluginLoadError: it is installed but fails to load (its
        module's import fails, say).
    """
    failures = []

    def failed(_manager, _entrypoint, exc):
        failures.append(exc)
    try:
        return driver.DriverManager(
            ACTION_NAMESPACE, name, invoke_on_load=False,
            on_load_failure_callback=failed).driver
    except Exception:
        if failures:
            raise PluginLoadError('%s: %s' % (type(failures[0]).__name__,
                                              failures[0]))
        raise


def action_names():
    return sorted(extension.ExtensionManager(ACTION_NAMESPACE).names())


def _mutable(opts):
    """Copies of ``opts`` that a SIGHUP may change."""
    copies = []
    for opt in opts:
        opt = copy.copy(opt)
        opt.mutable = True
        copies.append(opt)
    return copies


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


class Rule:
    """One rule section, loaded and validated."""

    def __init__(self, conf, name, sections):
        self.name = name
        self._conf = conf
        self._sections = sections
        self._keys = sections[name]
        conf.register_group(cfg.OptGroup(name))
        conf.register_opts(_mutable(rule_conf.opts), group=name)
        self.options = conf[name]
        self.events = self._get('events') or []
        self.filter = None
        self.action = None
        self.action_name = None
        self.retry = None
        self.fallback = False
        self.max_concurrency = None
        self.rate_limit = None
        self.once_per = None

    @property
    def conf(self):
        """The ConfigOpts the rule was loaded from."""
        return self._conf

    def location(self, key):
        """The file that set ``key`` in this section, or None."""
        return self._keys.get(key) or (
            next(iter(self._keys.values()), None))

    def error(self, key, reason):
        return exception.ConfigError(reason, section=self.name, key=key,
                                     filename=self.location(key))

    def _get(self, key):
        return locations.read(self._conf, self._sections, self.name, key)

    def load(self):
        """Validate every option; raise ConfigErrors listing what is wrong."""
        errors = []
        for step in (self._load_events, self._load_filter,
                     self._load_retry, self._load_policies,
                     self._load_action):
            try:
                step()
            except exception.ConfigError as exc:
                errors.append(exc)
            except exception.ConfigErrors as exc:
                errors.extend(exc.errors)
        if self.action is not None:
            errors.extend(self._unknown_keys())
        if errors:
            raise exception.ConfigErrors(errors)
        return self

    def _load_events(self):
        if not self.events:
            raise self.error('events', 'a rule needs at least one event '
                             'type, such as esi_leap.lease.fulfill.end')
        known = event_mod.EVENT_TYPES
        for pattern in self.events:
            if not fnmatch.filter(known, pattern):
                raise self.error('events', '%r matches no esi-leap event '
                                 'type (%s)' % (pattern, ', '.join(known)))

    def _load_filter(self):
        try:
            self.filter = filters.Filter(self._get('filter_params'))
        except ValueError as exc:
            raise self.error('filter_params', str(exc))

    def _load_action(self):
        name = self._get('action')
        if not name:
            if 'script' not in self._keys:
                raise self.error('action', 'set action, or script for the '
                                 'script action')
            name = 'script'
        try:
            cls = action_class(name)
        except PluginLoadError as exc:
            raise self.error('action', 'action %r is installed but cannot '
                             'be loaded: %s' % (name, exc))
        except Exception:
            raise self.error('action', 'unknown action %r; installed: %s'
                             % (name, ', '.join(action_names())))
        self._conf.register_opts(_mutable(cls.opts), group=self.name)
        self.action_name = name
        # Every option's type is checked, not only those validate() reads,
        # and validate() runs even if one is bad, to report all at once.
        bad, values = [], {}
        for opt in rule_conf.opts + cls.opts:
            try:
                values[opt.dest] = self._get(opt.dest)
            except exception.ConfigError as exc:
                # The rule's own options were checked by the steps before.
                if opt in cls.opts:
                    bad.append(exc)
        # From here on the rule reads the values it was loaded with, never
        # what a later reload put in the configuration.
        self.options = Options(values)
        action = cls(self)
        try:
            action.validate()
        except exception.ConfigError as exc:
            bad.append(exc)
        except (KeyError, AttributeError):
            if not bad:
                raise
            # validate() read a value found bad above: already reported.
        if bad:
            raise exception.ConfigErrors(bad)
        self.action = action

    def _unknown_keys(self):
        known = {opt.dest for opt in rule_conf.opts + self.action.opts}
        return [self.error(key, 'unknown option for a %s rule'
                           % self.action_name)
                for key in sorted(set(self._keys) - known)]

    def _load_retry(self):
        worker = self._conf.worker

        def pick(key, default):
            value = self._get(key)
            return default if value is None else value
        self.retry = retries.RetryPolicy(
            max_attempts=pick('max_attempts', worker.max_attempts),
            base_delay=pick('retry_base_delay', worker.retry_base_delay),
            max_delay=pick('retry_max_delay', worker.retry_max_delay))

    def _load_policies(self):
        self.fallback = bool(self._get('fallback'))
        self.max_concurrency = self._get('max_concurrency')
        rate = self._get('rate_limit')
        self.rate_limit = rate_types.parse_rate(rate) if rate else None
        path = self._get('once_per')
        window = self._get('once_per_window')
        if path is not None and not path.strip():
            raise self.error('once_per', 'a dot path, such as uuid, is '
                             'required')
        if window and path is None:
            raise self.error('once_per_window', 'only used with once_per')
        self.once_per = OncePer(path.strip(), window) if path else None

    def policies(self):
        """The rule's policies as text, for check-config and test-rule."""
        shown = []
        if self.fallback:
            shown.append('fallback')
        if self.max_concurrency:
            shown.append('max_concurrency=%d' % self.max_concurrency)
        if self.rate_limit:
            shown.append('rate_limit=%s' % self._get('rate_limit'))
        if self.once_per:
            shown.append('once_per=%s' % self.once_per.path + (
                ' once_per_window=%gs' % self.once_per.window
                if self.once_per.window else ''))
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


def rule_sections(conf, sections):
    """Names of the sections that are rules, in file order."""
    names = []
    for name, keys in sections.items():
        if name == 'DEFAULT' or _is_other_group(conf, name):
            continue
        if 'events' in keys or _RULE_HINTS & set(keys):
            names.append(name)
    return names


def _is_other_group(conf, name):
    # A rule loaded earlier (before a reload) is registered too, and is
    # recognised by its "events" option.
    try:
        attr = conf[name]
    except cfg.NoSuchOptError:
        return False
    return not isinstance(attr, cfg.ConfigOpts.GroupAttr) or (
        'events' not in attr)


def _misplaced_rules(conf, sections):
    """Errors for the service's own option groups written as rules."""
    return [exception.ConfigError(
        '[%s] is an option group of the service, not a rule: give the '
        'rule a section name of its own' % name, section=name,
        key='events', filename=keys['events'])
        for name, keys in sections.items()
        if name != 'DEFAULT' and 'events' in keys and
        _is_other_group(conf, name)]


def load(conf, sections=None):
    """Load every rule of ``conf``; raise ConfigErrors on any problem."""
    if sections is None:
        sections = locations.scan(conf)
    errors, rules = _misplaced_rules(conf, sections), []
    for name in rule_sections(conf, sections):
        try:
            rules.append(Rule(conf, name, sections).load())
        except exception.ConfigErrors as exc:
            errors.extend(exc.errors)
        except exception.ConfigError as exc:
            errors.append(exc)
    if errors:
        raise exception.ConfigErrors(errors)
    return RuleSet(rules)
