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
"""What the esi-event-actions-manage commands share.

The configuration checked before a command acts on it, the journal they
read, and the argparse types of their numbers.
"""

import argparse

from esi_event_actions import bootstrap
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions import safetext

# jobs.id is an INTEGER column: 32 bits on PostgreSQL, so no larger id can
# exist, and SQLite cannot even compare with one above 64 bits.
MAX_ID = 2 ** 31 - 1


def checked(conf, journal_too=False):
    """The RuleSet, or None once the configuration's errors are printed."""
    try:
        ruleset = bootstrap.check(conf)
        if journal_too:
            journal.check_config(conf)
    except exception.ConfigErrors as exc:
        print('Configuration has %d error(s):' % len(exc.errors))
        for error in exc.errors:
            print('  %s' % error)
        return None
    return ruleset


def open_journal(conf):
    """The journal the configuration names."""
    return journal.Journal(conf.journal.connection,
                           conf.journal.sqlite_synchronous)


def number(convert, what, low, high):
    """An argparse type: ``convert(text)``, from ``low`` to ``high``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        # NaN compares false with everything: refused with the rest.
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                '%r is not %s (%d to %d)' % (text, what, low, high))
        return value
    return parse


def count_of(what):
    """An argparse type: a whole number from 1 to MAX_ID."""
    return number(int, what, 1, MAX_ID)


#: The argparse type of a job id.
job_id = count_of('a job id')


def add_format(parser, choices=('table', 'json')):
    """Add ``-f/--format``: one of ``choices``, the first by default."""
    parser.add_argument('-f', '--format', choices=choices,
                        default=choices[0])


def _cell(value):
    if isinstance(value, float):
        return '%.3f' % value
    # Escaped before it is cut, so that the cut cannot split an escape
    # back into a control character.
    return '' if value is None else safetext.printable(value)[:60]


def print_rows(fmt, columns, rows):
    """Rows (dicts) as JSON, whole, or as a table of ``columns``."""
    if fmt == 'json':
        print(safetext.dumps(rows, indent=2, default=str))
    else:
        print_table(columns, rows)


def print_table(columns, rows):
    """Rows (dicts) as a plain table of ``columns``, escaped and cut."""
    table = [columns] + [tuple(_cell(r[c]) for c in columns) for r in rows]
    widths = [max(len(line[i]) for line in table)
              for i in range(len(columns))]
    for line in table:
        print('  '.join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
