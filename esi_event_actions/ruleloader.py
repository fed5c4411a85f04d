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
from esi_event_actions import policies
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
        self._events = self._get('events') or []

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
        """The :class:`rules.Rule`, every option valid.

        :raises ConfigErrors: listing everything wrong with the section.
        """
        fields, errors = {}, []
        for step in (self._load_events, self._load_filter,
                     self._load_retry, self._load_policies,
                     self._load_action):
            try:
                fields.update(step())
            except exception.ConfigError as exc:
                errors.append(exc)
            except exception.ConfigErrors as exc:
                errors.extend(exc.errors)
        if 'action' in fields:
            errors.extend(self._unknown_keys(fields['action'].opts,
                                             fields['action_name']))
        if errors:
            raise exception.ConfigErrors(errors)
        return rules.Rule(name=self.name, locate=self.location, **fields)

    def _load_events(self):
        if not self._events:
            raise self.error('events', 'a rule needs at least one event '
                             'type, such as esi_leap.lease.fulfill.end')
        known = event_mod.EVENT_TYPES
        for pattern in self._events:
            if not fnmatch.filter(known, pattern):
                raise self.error('events', '%r matches no esi-leap event '
                                 'type (%s)' % (pattern, ', '.join(known)))
        return {'events': self._events}

    def _load_filter(self):
        try:
            return {'filter': filters.Filter(self._get('filter_params'))}
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
        options = rules.Options(values)
        action = cls(self._context(name, options))
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
        return {'action': action, 'action_name': name, 'options': options}

    def _context(self, action_name, options):
        conf = self._conf
        return action_base.ActionContext(
            name=self.name, action_name=action_name, options=options,
            state_path=conf.state_path,
            output_limit=conf.worker.output_limit, locate=self.location,
            conf=conf)

    def _unknown_keys(self, action_opts, action_name):
        known = {opt.dest for opt in rule_conf.opts + action_opts}
        return [self.error(key, 'unknown option for a %s rule' % action_name)
                for key in sorted(set(self._keys) - known)]

    def _load_retry(self):
        worker = self._conf.worker

        def pick(key, default):
            value = self._get(key)
            return default if value is None else value
        return {'retry': retries.RetryPolicy(
            max_attempts=pick('max_attempts', worker.max_attempts),
            base_delay=pick('retry_base_delay', worker.retry_base_delay),
            max_delay=pick('retry_max_delay', worker.retry_max_delay))}

    def _load_policies(self):
        return policies.read(self._get, self.error)


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
