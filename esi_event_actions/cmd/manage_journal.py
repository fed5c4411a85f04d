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
"""esi-event-actions-manage journal and status: the jobs, as stored."""

import datetime
import json

from esi_event_actions.cmd import manage_common as common
from esi_event_actions import journal
from esi_event_actions import safetext

# A century: further back, the cutoff date soon falls off the calendar.
MAX_DAYS = 36500

_days = common.number(float, 'a number of days', 0, MAX_DAYS)

_COLUMNS = ('id', 'state', 'rule', 'event_type', 'node', 'attempts',
            'exit_status', 'duration', 'created_at', 'detail')

_REJECTED_COLUMNS = ('id', 'rejected_at', 'event_type', 'event_id', 'rules',
                     'reason')


def do_journal_list(conf):
    """Print journal jobs as a table or JSON."""
    args = conf.command
    rows = common.open_journal(conf).rows(
        limit=args.limit, state=args.state, rule=args.rule, node=args.node,
        event_type=args.event_type)
    if args.format == 'json':
        for row in rows:
            row.pop('event')
    common.print_rows(args.format, _COLUMNS, rows)
    return 0


def do_journal_show(conf):
    """Print one job, its event and its output."""
    row = common.open_journal(conf).get(conf.command.id)
    if row is None:
        print('No job %d' % conf.command.id)
        return 1
    row['event'] = json.loads(row['event'])
    # JSON escapes every control character (ensure_ascii): safe to print.
    print(safetext.dumps(row, indent=2, default=str))
    return 0


def _event_or_text(text):
    """A rejected event as JSON, or its text if it was cut."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def do_journal_rejected(conf):
    """Print the events the journal could not store, and why."""
    args = conf.command
    rows = common.open_journal(conf).rejected(limit=args.limit)
    if args.format == 'json':
        for row in rows:
            row['event'] = _event_or_text(row['event'])
    common.print_rows(args.format, _REJECTED_COLUMNS, rows)
    return 0


def do_journal_retry(conf):
    """Make dead jobs pending again, with all their attempts.

    A rule's once_per holds here as on every other path: a job whose
    value another job has acted on since is skipped, naming that job.
    """
    args = conf.command
    if bool(args.ids) == bool(args.all_dead):
        print('Give job ids or --all-dead')
        return 2
    ruleset = common.checked(conf)
    if ruleset is None:
        return 1
    retried, skipped = common.open_journal(conf).retry_jobs(
        args.ids, all_dead=args.all_dead, once=ruleset.once)
    print('%d job(s) will run again' % len(retried))
    for job_id, holder in skipped:
        print('Job %d skipped: once_per, job %d acted on its value'
              % (job_id, holder))
    return 0 if retried or skipped or args.all_dead else 1


def do_journal_purge(conf):
    """Delete finished jobs older than a number of days."""
    args = conf.command
    cutoff = journal.utcnow() - datetime.timedelta(days=args.older_than)
    states = args.state or list(journal.FINAL_STATES)
    count = common.open_journal(conf).purge(cutoff, states)
    print('Deleted %d %s job(s) created before %sZ'
          % (count, '/'.join(states), cutoff.isoformat(timespec='seconds')))
    return 0


def do_status(conf):
    """Counts by state, the oldest unfinished job, the newest job."""
    status = common.open_journal(conf).status()
    now = journal.utcnow()
    oldest, newest = status['oldest_unfinished'], status['newest_job']
    status['oldest_unfinished_age'] = (
        (now - oldest).total_seconds() if oldest else None)
    status['newest_job_age'] = (
        (now - newest).total_seconds() if newest else None)
    if conf.command.format == 'json':
        print(safetext.dumps(status, indent=2, default=str,
                             sort_keys=True))
        return 0
    for state, count in status['jobs'].items():
        print('%-8s %d' % (safetext.printable(state), count))
    print('oldest unfinished job: %s' % _age(
        status['oldest_unfinished_age']))
    print('newest job: %s' % _age(status['newest_job_age']))
    return 0


def _age(seconds):
    return 'none' if seconds is None else '%.0f s ago' % seconds


def add_journal_parsers(subparsers):
    """The ``journal`` command and its subcommands."""
    parser = subparsers.add_parser('journal', help='Inspect the journal.')
    journal_cmds = parser.add_subparsers(dest='journal_command')
    journal_cmds.required = True
    listing = journal_cmds.add_parser('list', help='List jobs.')
    listing.add_argument('--state', choices=journal.STATES)
    listing.add_argument('--rule')
    listing.add_argument('--node')
    listing.add_argument('--event-type')
    listing.add_argument('--limit', type=common.count_of('a number of jobs'))
    common.add_format(listing)
    listing.set_defaults(func=do_journal_list)
    show = journal_cmds.add_parser('show', help='Show one job.')
    show.add_argument('id', type=common.job_id)
    show.set_defaults(func=do_journal_show)
    rejected = journal_cmds.add_parser(
        'rejected', help='List the events the journal could not store.')
    rejected.add_argument('--limit',
                          type=common.count_of('a number of events'))
    common.add_format(rejected)
    rejected.set_defaults(func=do_journal_rejected)
    retry = journal_cmds.add_parser(
        'retry', help='Run dead jobs again, with all their attempts.')
    retry.add_argument('ids', type=common.job_id, nargs='*', metavar='ID')
    retry.add_argument('--all-dead', action='store_true')
    retry.set_defaults(func=do_journal_retry)
    purge = journal_cmds.add_parser(
        'purge', help='Delete done and dead jobs older than some days.')
    purge.add_argument('--older-than', type=_days, required=True,
                       metavar='DAYS')
    purge.add_argument('--state', action='append',
                       choices=journal.FINAL_STATES)
    purge.set_defaults(func=do_journal_purge)


def add_status_parser(subparsers):
    """The ``status`` command."""
    parser = subparsers.add_parser(
        'status', help='Jobs by state, the oldest unfinished and the '
        'newest job.')
    common.add_format(parser)
    parser.set_defaults(func=do_status)
