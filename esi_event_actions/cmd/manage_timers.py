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
"""esi-event-actions-manage timers: the timed jobs waiting for their time."""

from esi_event_actions.cmd import manage_common as common

_COLUMNS = ('id', 'due', 'rule', 'lease', 'node', 'event_type', 'event_id')


def do_timers_list(conf):
    """Print the scheduled jobs, soonest first."""
    args = conf.command
    rows = common.open_journal(conf).timers(rule=args.rule,
                                            limit=args.limit)
    common.print_rows(args.format, _COLUMNS, rows)
    return 0


def do_timers_cancel(conf):
    """Cancel scheduled jobs by id."""
    ids = conf.command.ids
    done = common.open_journal(conf).cancel(ids, 'cancelled by an operator')
    for job_id in ids:
        print('Job %d %s' % (job_id, 'cancelled' if job_id in done
                             else 'is not scheduled: left as it is'))
    return 0 if len(done) == len(set(ids)) else 1


def add_timers_parsers(subparsers):
    """The ``timers`` command and its subcommands."""
    parser = subparsers.add_parser(
        'timers', help='The timed jobs waiting for their time.')
    commands = parser.add_subparsers(dest='timers_command')
    commands.required = True
    listing = commands.add_parser('list', help='List scheduled jobs.')
    listing.add_argument('--rule')
    listing.add_argument('--limit', type=common.count_of('a number of jobs'))
    common.add_format(listing)
    listing.set_defaults(func=do_timers_list)
    cancel = commands.add_parser('cancel', help='Cancel scheduled jobs.')
    cancel.add_argument('ids', type=common.job_id, nargs='+', metavar='ID')
    cancel.set_defaults(func=do_timers_cancel)
