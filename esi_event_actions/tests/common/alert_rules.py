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
"""The shipped Prometheus alert rules, and the metric names they use.

The names are read out of each rule's PromQL expression with a small
tokenizer: enough for the rules we write, and loud (ValueError) about the
constructs it cannot follow, rather than silently missing a name.
"""

import os
import re

import yaml

from esi_event_actions.tests.common import base

DIRECTORY = os.path.join(base.REPO, 'etc', 'esi-event-actions', 'prometheus')
RULES = os.path.join(DIRECTORY, 'alerts.yaml')
TESTS = os.path.join(DIRECTORY, 'alerts_test.yaml')

# Words of PromQL that are neither functions (followed by a parenthesis)
# nor metric names.
KEYWORDS = frozenset((
    'and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on',
    'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2'))

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_COMMENT = re.compile(r'#[^\n]*')
# Label names: in matchers, and in the lists of by, without, on, ignoring,
# group_left and group_right.
_MATCHERS = re.compile(r'\{[^{}]*\}')
_LABEL_LIST = re.compile(r'\b(?:by|without|on|ignoring|group_left|'
                         r'group_right)\s*\([^()]*\)', re.IGNORECASE)
# Range and subquery durations: [15m], [1h:5m].
_RANGE = re.compile(r'\[[^\[\]]*\]')
# An identifier not glued to a number (1e3, 0x1f, 5m) or a dotted name.
_IDENTIFIER = re.compile(r'(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?')


def load(path=RULES):
    with open(path) as f:
        return yaml.safe_load(f)


def rules(path=RULES):
    """(group name, rule) of every rule of the file."""
    return [(group['name'], rule) for group in load(path)['groups']
            for rule in group['rules']]


def metric_names(expr):
    """The metric names a PromQL expression selects.

    :raises ValueError: the expression selects metrics by ``__name__``,
        whose names this cannot read.
    """
    if '__name__' in expr:
        raise ValueError('a __name__ matcher: %s' % expr)
    text = _COMMENT.sub(' ', _STRING.sub('""', expr))
    text = _RANGE.sub(' ', _MATCHERS.sub(' ', text))
    text = _LABEL_LIST.sub(' ', text)
    names = set()
    for name, call in _IDENTIFIER.findall(text):
        if not call and name.lower() not in KEYWORDS:
            names.add(name)
    return names


def used_names(path=RULES):
    """Every metric name of the rules' expressions."""
    names = set()
    for _, rule in rules(path):
        names |= metric_names(rule['expr'])
    return names


_SUFFIXES = {'counter': ('_total',),
             'histogram': ('_bucket', '_count', '_sum'),
             'summary': ('_count', '_sum')}


def exported_names(text):
    """The names a scrape of the Prometheus text format offers.

    Every sample's name, and the names of the families described by a
    ``# TYPE`` line, with or without samples yet: a counter ``x`` is
    selected as ``x_total``, a histogram by its ``_bucket``, ``_count``
    and ``_sum``.
    """
    names = set()
    for line in text.splitlines():
        if line.startswith('# TYPE '):
            _, _, name, kind = line.split(None, 3)
            kind = kind.strip()
            if kind == 'counter':
                base = name[:-len('_total')] if name.endswith(
                    '_total') else name
                names.add(base + '_total')
            elif kind in _SUFFIXES:
                names.update(name + suffix for suffix in _SUFFIXES[kind])
            else:
                names.add(name)
        elif line.strip() and not line.startswith('#'):
            names.add(re.match(r'[A-Za-z_:][\w:]*', line).group())
    return names
