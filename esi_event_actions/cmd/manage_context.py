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
"""esi-event-actions-manage context: the leases' contexts, for repairs.

A repair goes through the journal as an action's write does: merged over
the stored context (a key set to null goes), checked against ``[journal]
context_max_bytes``, in one transaction.  On PostgreSQL it waits for the
row, so it never loses a write an instance commits meanwhile.
"""

import json

from esi_event_actions.cmd import manage_common as common
from esi_event_actions.journal import contexts
from esi_event_actions import safetext

_COLUMNS = ('lease', 'size', 'updated_at')


class _Refused(ValueError):
    """A command line that names no valid update."""


def _journal(conf):
    store = common.open_journal(conf)
    # What the service holds a context to, so that a repair cannot store
    # one that every later job of the lease would fail on.
    store.context_limit = conf.journal.context_max_bytes
    return store


def _refuse_constant(name):
    raise ValueError('%s is not JSON' % name)


def _json(text, what):
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise _Refused('%s is not JSON (%s); a string is quoted: '
                       'KEY=\'"text"\'' % (what, exc))


def _updates(args):
    """{key: value} from ``KEY=JSON`` pairs, or from ``--json``."""
    if args.json is not None:
        if args.pairs:
            raise _Refused('give KEY=JSON pairs or --json, not both')
        updates = _json(args.json, '--json')
        if not isinstance(updates, dict):
            raise _Refused('--json is not a JSON object')
        return updates
    if not args.pairs:
        raise _Refused('give KEY=JSON pairs or --json')
    updates = {}
    for pair in args.pairs:
        key, sep, text = pair.partition('=')
        if not sep or not key:
            raise _Refused('%s is not KEY=JSON' % safetext.printable(pair))
        updates[key] = _json(text, 'the value of %s'
                             % safetext.printable(key))
    return updates


def _print_context(context):
    # JSON escapes every control character (ensure_ascii): safe to print.
    print(safetext.dumps(context, indent=2, sort_keys=True))


def _write(conf, updates):
    lease = conf.command.lease
    try:
        context = _journal(conf).set_context(lease, updates)
    except contexts.ContextError as exc:
        print('Context of lease %s not changed: %s'
              % (safetext.printable(lease), exc))
        return 1
    _print_context(context)
    return 0


def do_context_show(conf):
    """Print the context of a lease (``{}`` when it has none)."""
    _print_context(_journal(conf).context(conf.command.lease))
    return 0


def do_context_set(conf):
    """Lay keys over the context of a lease, and print it."""
    try:
        updates = _updates(conf.command)
    except _Refused as exc:
        print('Context not changed: %s' % exc)
        return 2
    return _write(conf, updates)


def do_context_unset(conf):
    """Remove keys from the context of a lease, and print it."""
    args = conf.command
    missing = set(args.keys) - set(_journal(conf).context(args.lease))
    for key in sorted(missing):
        print('Key %s is not set' % safetext.printable(key))
    return _write(conf, dict.fromkeys(args.keys))


def do_context_list(conf):
    """Print the leases that have a context, the last written first."""
    args = conf.command
    rows = _journal(conf).context_rows(limit=args.limit)
    common.print_rows(args.format, _COLUMNS, rows)
    return 0


def add_context_parsers(subparsers):
    """The ``context`` command and its subcommands."""
    parser = subparsers.add_parser(
        'context', help='Show and repair the leases\' contexts.')
    commands = parser.add_subparsers(dest='context_command')
    commands.required = True
    show = commands.add_parser('show', help='Show the context of a lease.')
    show.add_argument('lease', metavar='LEASE')
    show.set_defaults(func=do_context_show)
    change = commands.add_parser(
        'set', help='Set keys in the context of a lease (a null value '
        'removes one).')
    change.add_argument('lease', metavar='LEASE')
    change.add_argument('pairs', nargs='*', metavar='KEY=JSON')
    change.add_argument('--json', metavar='OBJECT',
                        help='The keys to set, as one JSON object.')
    change.set_defaults(func=do_context_set)
    unset = commands.add_parser(
        'unset', help='Remove keys from the context of a lease.')
    unset.add_argument('lease', metavar='LEASE')
    unset.add_argument('keys', nargs='+', metavar='KEY')
    unset.set_defaults(func=do_context_unset)
    listing = commands.add_parser(
        'list', help='List the leases that have a context.')
    listing.add_argument('--limit',
                         type=common.count_of('a number of leases'))
    common.add_format(listing)
    listing.set_defaults(func=do_context_list)
