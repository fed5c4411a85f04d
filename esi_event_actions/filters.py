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
"""Rule filters: what an event's values must be for a rule to act.

``filter_params`` maps dot paths in the event data to filter values:

* a string: a regular expression that must match the whole value's text;
* a number or a boolean: its JSON text, literally;
* null: the value is missing or null;
* a list: any one of its items, each a filter value;
* an operator object, all of whose operators must hold: comparisons
  (``>=``, ``>``, ``<``, ``<=``, ``==``, ``!=``) of numbers or times,
  ``exists``, ``in``, ``not`` and ``regex`` with ``ignore_case``.

``filter_params`` may also be a list of such objects, of which one must
match.

A path under ``context.`` reads the lease's context (see
:mod:`esi_event_actions.journal.contexts`), which exists only once a job
starts: when an event is journalled such checks are left for later (they
hold), and when the job starts its rule's filter is checked again, whole,
with the context as it stands then (see :meth:`Filter.reads_context`).

Every value is checked when the rule is loaded; at run time a value that
cannot be compared does not match, and raises nothing.
"""

import datetime
import decimal
import json
import operator
import re

from esi_event_actions import event as event_mod

_COMPARISONS = {'>=': operator.ge, '>': operator.gt, '<': operator.lt,
                '<=': operator.le, '==': operator.eq, '!=': operator.ne}
_TEXT_EQUALITY = ('==', '!=')
OPERATORS = tuple(_COMPARISONS) + ('exists', 'in', 'not', 'regex',
                                   'ignore_case')
# A plain decimal: no "nan", "inf" or "1_0", which Python would accept.
_NUMBER = re.compile(r'\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*\Z')


def number(value):
    """``value`` as a Decimal if it is a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = repr(value)
    if not isinstance(value, str) or not _NUMBER.match(value):
        return None
    try:
        result = decimal.Decimal(value.strip())
    except decimal.InvalidOperation:
        # An exponent past what decimal represents ("1e999999999999...").
        return None
    return result if result.is_finite() else None


def moment(value):
    """``value`` as an aware UTC datetime if it is an ISO 8601 date/time.

    A naive time is UTC, and a date alone is midnight UTC.
    """
    if not isinstance(value, str):
        return None
    try:
        result = datetime.datetime.fromisoformat(value.strip())
        if result.tzinfo is None:
            return result.replace(tzinfo=datetime.timezone.utc)
        # Out of range in UTC ("0001-01-01T00:00:00+01:00"): OverflowError.
        return result.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):
        return None


def _present(value):
    return value is not event_mod.MISSING and value is not None


def _shown(value):
    if value is event_mod.MISSING:
        return 'missing'
    if value is None:
        return 'null'
    return repr(event_mod.as_text(value)[:80])


class _Pattern:
    """An anchored regular expression on the value's text."""

    def __init__(self, path, pattern, ignore_case=False):
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        try:
            self._regex = re.compile(pattern, flags)
        except re.error as exc:
            raise ValueError('%s: invalid regular expression %r: %s'
                             % (path, pattern, exc))

    def __call__(self, value):
        return _present(value) and self._regex.fullmatch(
            event_mod.as_text(value)) is not None


class _Comparison:
    """``value <op> operand``, on numbers, times or (== and !=) text."""

    def __init__(self, path, name, operand):
        self._compare = _COMPARISONS[name]
        self._convert = None
        if isinstance(operand, str) and name in _TEXT_EQUALITY:
            self._operand = operand
        elif number(operand) is not None:
            self._operand, self._convert = number(operand), number
        elif moment(operand) is not None:
            self._operand, self._convert = moment(operand), moment
        else:
            raise ValueError('%s: "%s" needs a number or an ISO 8601 time, '
                             'not %s' % (path, name, json.dumps(operand)))

    def __call__(self, value):
        if not _present(value):
            return False
        if self._convert is None:
            return self._compare(event_mod.as_text(value), self._operand)
        converted = self._convert(value)
        return converted is not None and self._compare(converted,
                                                       self._operand)


class _In:
    """The value's text is the text of one of the items."""

    def __init__(self, path, items):
        if not isinstance(items, list) or not items or any(
                isinstance(i, (dict, list)) or i is None for i in items):
            raise ValueError('%s: "in" needs a list of strings, numbers or '
                             'booleans' % path)
        self._texts = {event_mod.as_text(item) for item in items}

    def __call__(self, value):
        return _present(value) and event_mod.as_text(value) in self._texts


class _Exists:

    def __init__(self, path, wanted):
        if not isinstance(wanted, bool):
            raise ValueError('%s: "exists" needs true or false' % path)
        self._wanted = wanted

    def __call__(self, value):
        return _present(value) == self._wanted


class _Not:

    def __init__(self, path, inner):
        self._inner = compile_value(path, inner)

    def __call__(self, value):
        return self._inner(value) is not None


def _operators(path, spec):
    """(name, check) for each operator of an operator object."""
    unknown = sorted(set(spec) - set(OPERATORS))
    if unknown:
        raise ValueError('%s: unknown operator %s (known: %s)'
                         % (path, ', '.join(map(json.dumps, unknown)),
                            ', '.join(OPERATORS)))
    if not spec:
        raise ValueError('%s: an operator object needs an operator' % path)
    if 'ignore_case' in spec and 'regex' not in spec:
        raise ValueError('%s: "ignore_case" goes only beside "regex"' % path)
    checks = []
    for name, operand in spec.items():
        if name in _COMPARISONS:
            checks.append((name, _Comparison(path, name, operand)))
        elif name == 'regex':
            ignore_case = spec.get('ignore_case', False)
            if not isinstance(operand, str) or not isinstance(ignore_case,
                                                              bool):
                raise ValueError('%s: "regex" needs a string, and '
                                 '"ignore_case" true or false' % path)
            checks.append((name, _Pattern(path, operand, ignore_case)))
        elif name != 'ignore_case':
            checks.append((name, {'in': _In, 'exists': _Exists,
                                  'not': _Not}[name](path, operand)))
    return checks


def compile_value(path, spec):
    """A check for one filter value: ``check(value)`` is None if it holds.

    Otherwise it is what failed: the filter value, or the operator of an
    operator object, as JSON.

    :raises ValueError: naming ``path``, if ``spec`` is not a filter value.
    """
    if spec is None:
        return lambda value: None if not _present(value) else 'null'
    if isinstance(spec, list):
        if not spec:
            raise ValueError('%s: an empty list can never match' % path)
        checks = [compile_value(path, item) for item in spec]
        shown = json.dumps(spec)
        return lambda value: None if any(
            check(value) is None for check in checks) else shown
    if isinstance(spec, dict):
        checks = _operators(path, spec)

        def check_all(value):
            for name, check in checks:
                if not check(value):
                    return json.dumps({name: spec[name]})
            return None
        return check_all
    shown = json.dumps(spec)
    pattern = _Pattern(path, spec if isinstance(spec, str)
                       else re.escape(json.dumps(spec)))
    return lambda value: None if pattern(value) else shown


class Filter:
    """The compiled ``filter_params`` of one rule.

    An object maps dot paths to filter values, all of which must hold; a
    list of objects holds when one of them does.
    """

    def __init__(self, spec):
        spec = {} if spec is None else spec
        groups = spec if isinstance(spec, list) else [spec]
        if isinstance(spec, list) and not spec:
            raise ValueError('an empty list of filters can never match')
        for index, group in enumerate(groups):
            if not isinstance(group, dict):
                raise ValueError('item %d of the list: expected a JSON '
                                 'object ({...}), got %s'
                                 % (index + 1, type(group).__name__))
        self.spec = spec
        self._groups = [[(path, compile_value(path, value))
                         for path, value in group.items()]
                        for group in groups]

    @property
    def paths(self):
        """Every dot path the filter reads, sorted."""
        return sorted({path for group in self._groups for path, _ in group})

    @property
    def reads_context(self):
        """Whether a job must check the filter again when it starts."""
        return any(_in_context(path) for path in self.paths)

    def mismatch(self, event):
        """None when ``event`` passes, else why it does not."""
        reasons = []
        for checks in self._groups:
            why = self._group_mismatch(checks, event)
            if why is None:
                return None
            reasons.append(why)
        if len(reasons) == 1:
            return reasons[0]
        return 'no filter of the list matches: %s' % '; '.join(
            '[%d] %s' % (n, why) for n, why in enumerate(reasons, 1))

    @staticmethod
    def _group_mismatch(checks, event):
        for path, check in checks:
            if event.context is None and _in_context(path):
                continue
            value = event.lookup(path)
            try:
                failed = check(value)
            except Exception as exc:
                # An event's value must never stop its source: it does not
                # match, and says why.
                failed = 'a check that failed (%s: %s)' % (
                    type(exc).__name__, exc)
            if failed is not None:
                return '%s is %s, wanted %s' % (path, _shown(value), failed)
        return None


def _in_context(path):
    return path.startswith(event_mod.CONTEXT + '.')
