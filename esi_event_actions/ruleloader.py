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
"""Loading rules: every option of every rule section, checked at once.

A rule is a configuration section that sets ``events``.  Everything about
it is checked when it is loaded, so a bad rule stops the service at start
with the file, section and key at fault, instead of failing when a lease
event finally arrives.  The result is a :class:`rules.RuleSet`.
"""

import copy
import fnmatch

from oslo_config import cfg
from stevedore import driver
from stevedore import extension

from esi_event_actions.actions import base as action_base
from esi_event_actions.conf import locations
from esi_event_actions.conf import rule as rule_conf
from esi_event_actions import event as event_mod
from esi_event_actions import exception
from esi_event_actions import filters
from esi_event_actions import optiontypes as rate_types
from esi_event_actions import retries
from esi_event_actions import rules

ACTION_NAMESPACE = 'esi_event_actions.actions'

# Keys that only make sense in a rule: a section with one of them but no
# "events" is a rule the operator forgot to finish, not some other section.
_RULE_HINTS = {'action', 'script', 'script_params', 'filter_params',
               'playbook', 'url'}


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


class Loader:
    """Loads one rule section into a :class:`rules.Rule`."""

    def __init__(self, conf, name, sections):
        self.name = name
        self._conf = conf
        self._sections = sections
        self._keys = sections[name]
        conf.register_group(cfg.OptGroup(name))
        conf.register_opts(_mutable(rule_conf.opts), group=name)
        self.rule = rules.Rule(name, self.location)
        self.rule.events = self._get('events') or []

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
        if self.rule.action is not None:
            errors.extend(self._unknown_keys())
        if errors:
            raise exception.ConfigErrors(errors)
        return self.rule

    def _load_events(self):
        if not self.rule.events:
            raise self.error('events', 'a rule needs at least one event '
                             'type, such as esi_leap.lease.fulfill.end')
        known = event_mod.EVENT_TYPES
        for pattern in self.rule.events:
            if not fnmatch.filter(known, pattern):
                raise self.error('events', '%r matches no esi-leap event '
                                 'type (%s)' % (pattern, ', '.join(known)))

    def _load_filter(self):
        try:
            self.rule.filter = filters.Filter(self._get('filter_params'))
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
        self.rule.action_name = name
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
        self.rule.options = rules.Options(values)
        action = cls(self._context())
        missing = [self.error(key, 'the %s action needs %s' % (name, key))
                   for key in cls.required if values.get(key) in (None, '')]
        bad.extend(missing)
        try:
            if not missing:
                action.validate()
        except exception.ConfigError as exc:
            bad.append(exc)
        except (KeyError, AttributeError):
            if not bad:
                raise
            # validate() read a value found bad above: already reported.
        if bad:
            raise exception.ConfigErrors(bad)
        self.rule.action = action

    def _context(self):
        conf = self._conf
        return action_base.ActionContext(
            name=self.name, action_name=self.rule.action_name,
            options=self.rule.options, state_path=conf.state_path,
            output_limit=conf.worker.output_limit, locate=self.location,
            conf=conf)

    def _unknown_keys(self):
        known = {opt.dest for opt in rule_conf.opts + self.rule.action.opts}
        return [self.error(key, 'unknown option for a %s rule'
                           % self.rule.action_name)
                for key in sorted(set(self._keys) - known)]

    def _load_retry(self):
        worker = self._conf.worker

        def pick(key, default):
            value = self._get(key)
            return default if value is None else value
        self.rule.retry = retries.RetryPolicy(
            max_attempts=pick('max_attempts', worker.max_attempts),
            base_delay=pick('retry_base_delay', worker.retry_base_delay),
            max_delay=pick('retry_max_delay', worker.retry_max_delay))

    def _load_policies(self):
        self.rule.fallback = bool(self._get('fallback'))
        self.rule.max_concurrency = self._get('max_concurrency')
        rate = self._get('rate_limit')
        self.rule.rate_limit = rate_types.parse_rate(rate) if rate else None
        self.rule.rate_text = rate
        path = self._get('once_per')
        window = self._get('once_per_window')
        if path is not None and not path.strip():
            raise self.error('once_per', 'a dot path, such as uuid, is '
                             'required')
        if window and path is None:
            raise self.error('once_per_window', 'only used with once_per')
        if path:
            self.rule.once_per = rules.OncePer(path.strip(), window)


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
    errors, loaded = _misplaced_rules(conf, sections), []
    for name in rule_sections(conf, sections):
        try:
            loaded.append(Loader(conf, name, sections).load())
        except exception.ConfigErrors as exc:
            errors.extend(exc.errors)
        except exception.ConfigError as exc:
            errors.append(exc)
    if errors:
        raise exception.ConfigErrors(errors)
    return rules.RuleSet(loaded)
