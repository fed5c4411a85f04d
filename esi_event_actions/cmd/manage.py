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
"""esi-event-actions-manage: operator commands."""

import argparse
import datetime
import json
import sys

from alembic import util as alembic_util
from oslo_config import cfg
from oslo_log import log as logging
from sqlalchemy import exc as sa_exc

from esi_event_actions import bootstrap
from esi_event_actions import dryrun
from esi_event_actions import event as event_mod
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions import migration
from esi_event_actions import safetext


def _checked(conf, journal_too=False):
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


def do_check_config(conf):
    """Load and validate everything; print each rule on one line."""
    ruleset = _checked(conf, journal_too=True)
    if ruleset is None:
        return 1
    for rule in ruleset.rules:
        print(rule.summary())
    print('Configuration OK: %d rule(s)' % len(ruleset))
    return 0


# jobs.id is an INTEGER column: 32 bits on PostgreSQL, so no larger id can
# exist, and SQLite cannot even compare with one above 64 bits.
MAX_ID = 2 ** 31 - 1
# A century: further back, the cutoff date soon falls off the calendar.
MAX_DAYS = 36500


def _number(convert, what, low, high):
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


def _count_of(what):
    """An argparse type: a whole number from 1 to MAX_ID."""
    return _number(int, what, 1, MAX_ID)


_days = _number(float, 'a number of days', 0, MAX_DAYS)


_job_id = _count_of('a job id')


def _journal(conf):
    return journal.Journal(conf.journal.connection,
                           conf.journal.sqlite_synchronous)


_COLUMNS = ('id', 'state', 'rule', 'event_type', 'node', 'attempts',
            'exit_status', 'duration', 'created_at', 'detail')


def _cell(value):
    if isinstance(value, float):
        return '%.3f' % value
    # Escaped before it is cut, so that the cut cannot split an escape
    # back into a control character.
    return '' if value is None else safetext.printable(value)[:60]


def _print_lines(text):
    """Print ``text`` line by line, each with its controls escaped."""
    for line in text.split('\n'):
        print(safetext.printable(line))


def do_journal_list(conf):
    """Print journal jobs as a table or JSON."""
    args = conf.command
    rows = _journal(conf).rows(limit=args.limit, state=args.state,
                               rule=args.rule, node=args.node,
                               event_type=args.event_type)
    if args.format == 'json':
        for row in rows:
            row.pop('event')
        print(safetext.dumps(rows, indent=2, default=str))
        return 0
    _print_table(_COLUMNS, rows)
    return 0


def _print_table(columns, rows):
    table = [columns] + [tuple(_cell(r[c]) for c in columns) for r in rows]
    widths = [max(len(line[i]) for line in table)
              for i in range(len(columns))]
    for line in table:
        print('  '.join(v.ljust(w) for v, w in zip(line, widths)).rstrip())


def do_journal_show(conf):
    """Print one job, its event and its output."""
    row = _journal(conf).get(conf.command.id)
    if row is None:
        print('No job %d' % conf.command.id)
        return 1
    row['event'] = json.loads(row['event'])
    # JSON escapes every control character (ensure_ascii): safe to print.
    print(safetext.dumps(row, indent=2, default=str))
    return 0


_REJECTED_COLUMNS = ('id', 'rejected_at', 'event_type', 'event_id', 'rules',
                     'reason')


def _event_or_text(text):
    """A rejected event as JSON, or its text if it was cut."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def do_journal_rejected(conf):
    """Print the events the journal could not store, and why."""
    args = conf.command
    rows = _journal(conf).rejected(limit=args.limit)
    if args.format == 'json':
        for row in rows:
            row['event'] = _event_or_text(row['event'])
        print(safetext.dumps(rows, indent=2, default=str))
        return 0
    _print_table(_REJECTED_COLUMNS, rows)
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
    ruleset = _checked(conf)
    if ruleset is None:
        return 1
    retried, skipped = _journal(conf).retry_jobs(
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
    count = _journal(conf).purge(cutoff, states)
    print('Deleted %d %s job(s) created before %sZ'
          % (count, '/'.join(states), cutoff.isoformat(timespec='seconds')))
    return 0


def do_status(conf):
    """Counts by state, the oldest unfinished job, the newest job."""
    status = _journal(conf).status()
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


def _read_input(path):
    if path in (None, '-'):
        return sys.stdin.read()
    with open(path) as f:
        return f.read()


def _events(conf):
    try:
        return dryrun.read_events(_read_input(conf.command.file),
                                  conf.command.event_type)
    except (OSError, dryrun.InputError) as exc:
        print('Cannot read the notification: %s' % exc)
        return None


def do_test_rule(conf):
    """Show what every rule would do with a pasted notification."""
    ruleset = _checked(conf)
    if ruleset is None:
        return 1
    events = _events(conf)
    if events is None:
        return 2
    reports = []
    acted = {}
    for event in events:
        results = dryrun.evaluate(ruleset, event, acted)
        if conf.command.execute:
            for result in results:
                if result['matched'] and not result.get('skipped'):
                    rule = ruleset.by_name[result['rule']]
                    outcome = rule.action.run(event, rule.params(event))
                    result['result'] = '%s: %s' % (outcome.status,
                                                   outcome.detail)
        reports.append((event, results))
    if conf.command.format == 'json':
        print(safetext.dumps([{'event': e.to_dict(), 'rules': r}
                              for e, r in reports], indent=2,
                             sort_keys=True))
    else:
        _print_lines('\n\n'.join(dryrun.format_text(e, r)
                                 for e, r in reports))
    return 0


def do_replay(conf):
    """Send journal jobs' events, or a file's, through the rules again."""
    args = conf.command
    if bool(args.job) == bool(args.file):
        print('Give --job IDs or --file')
        return 2
    ruleset = _checked(conf)
    if ruleset is None:
        return 1
    store = _journal(conf)
    if args.job:
        events = []
        for job_id in args.job:
            row = store.get(job_id)
            if row is None:
                print('No job %d' % job_id)
                return 1
            events.append(event_mod.Event.from_json(row['event']))
    else:
        events = _events(conf)
        if events is None:
            return 2
    entries = []
    for event in map(dryrun.replayed, events):
        rules = [rule.name for rule in ruleset.match(event)]
        print(safetext.printable('%s -> %s' % (
            event.id, ', '.join(rules) or 'no rule matches')))
        if rules:
            entries.append((event, rules))
    # A replayed event is a new event: its rules' once_per holds, unless
    # the operator says the point is to act again.
    once = None if args.ignore_once_per else ruleset.once
    jobs = store.add(entries, once=once)
    ran = [job for job in jobs if job.state != journal.SKIPPED]
    print('%d new job(s): %s' % (len(ran), ' '.join(
        str(job.id) for job in ran)))
    for job in jobs:
        if job.state == journal.SKIPPED:
            print(safetext.printable('Job %d skipped: %s' % (
                job.id, store.get(job.id)['detail'])))
    return 0


def _schema_engine(conf):
    # A Journal that does not prepare its schema: these commands must
    # work on a journal that a preparing Journal() refuses, which is what
    # they are for.
    return journal.Journal(conf.journal.connection,
                           conf.journal.sqlite_synchronous,
                           prepare=False).engine


def _schema_command(func):
    def run(conf):
        try:
            return func(conf, _schema_engine(conf))
        except (migration.SchemaError, alembic_util.CommandError) as exc:
            print('Cannot do that: %s' % exc)
            return 1
        except sa_exc.DBAPIError as exc:
            # The database's own words; the statement is in the debug log.
            print('The database refused: %s' % str(exc.orig).strip())
            return 1
    run.__doc__ = func.__doc__
    return run


@_schema_command
def do_db_upgrade(conf, engine):
    """Upgrade the journal's schema (the only way, for PostgreSQL)."""
    before, after = migration.upgrade(engine, conf.command.revision)
    if before == after:
        print('Journal schema already at %s' % after)
    else:
        print('Journal schema upgraded from %s to %s'
              % (before or 'nothing', after))
    return 0


@_schema_command
def do_db_current(conf, engine):
    """The journal's revision and whether this release runs on it."""
    state = migration.describe(engine)
    print('%s (%s; this release: %s; runs from %s)' % (
        state['revision'] or 'none', state['state'], state['head'],
        state['runs_from'] or '-'))
    return 0


@_schema_command
def do_db_history(conf, engine):
    """Every revision this release knows, oldest first."""
    with engine.connect() as conn:
        current = migration.current(conn)
    head = migration.head()
    for revision, summary, expand in migration.history():
        marks = [m for m, on in (('current', revision == current),
                                 ('head', revision == head)) if on]
        print('%s%s %s%s' % (
            revision, ' (%s)' % ', '.join(marks) if marks else '',
            summary, '' if not expand else
            ' [expand-only: the previous release runs on it]'))
    return 0


@_schema_command
def do_db_stamp(conf, engine):
    """Record a revision without changing the schema (after a restore)."""
    print('Journal schema stamped %s'
          % migration.stamp(engine, conf.command.revision))
    return 0


def _add_db_parsers(subparsers):
    parser = subparsers.add_parser(
        'db', help='See and upgrade the journal\'s schema.')
    db_cmds = parser.add_subparsers(dest='db_command')
    db_cmds.required = True
    upgrade = db_cmds.add_parser(
        'upgrade', help='Upgrade the schema to a revision (default: the '
        'newest this release knows).')
    upgrade.add_argument('revision', nargs='?', default='head')
    upgrade.set_defaults(func=do_db_upgrade)
    db_cmds.add_parser(
        'current', help='Show the journal\'s revision.').set_defaults(
            func=do_db_current)
    db_cmds.add_parser(
        'history', help='List the revisions this release knows.'
    ).set_defaults(func=do_db_history)
    stamp = db_cmds.add_parser(
        'stamp', help='Record a revision as the journal\'s without '
        'changing its schema.')
    stamp.add_argument('revision')
    stamp.set_defaults(func=do_db_stamp)


def add_command_parsers(subparsers):
    parser = subparsers.add_parser(
        'check-config', help='Validate the configuration and list rules.')
    parser.set_defaults(func=do_check_config)

    parser = subparsers.add_parser('journal', help='Inspect the journal.')
    journal_cmds = parser.add_subparsers(dest='journal_command')
    journal_cmds.required = True
    listing = journal_cmds.add_parser('list', help='List jobs.')
    listing.add_argument('--state', choices=journal.STATES)
    listing.add_argument('--rule')
    listing.add_argument('--node')
    listing.add_argument('--event-type')
    listing.add_argument('--limit', type=_count_of('a number of jobs'))
    listing.add_argument('-f', '--format', choices=('table', 'json'),
                         default='table')
    listing.set_defaults(func=do_journal_list)
    show = journal_cmds.add_parser('show', help='Show one job.')
    show.add_argument('id', type=_job_id)
    show.set_defaults(func=do_journal_show)
    rejected = journal_cmds.add_parser(
        'rejected', help='List the events the journal could not store.')
    rejected.add_argument('--limit', type=_count_of('a number of events'))
    rejected.add_argument('-f', '--format', choices=('table', 'json'),
                          default='table')
    rejected.set_defaults(func=do_journal_rejected)
    retry = journal_cmds.add_parser(
        'retry', help='Run dead jobs again, with all their attempts.')
    retry.add_argument('ids', type=_job_id, nargs='*', metavar='ID')
    retry.add_argument('--all-dead', action='store_true')
    retry.set_defaults(func=do_journal_retry)
    purge = journal_cmds.add_parser(
        'purge', help='Delete done and dead jobs older than some days.')
    purge.add_argument('--older-than', type=_days, required=True,
                       metavar='DAYS')
    purge.add_argument('--state', action='append',
                       choices=journal.FINAL_STATES)
    purge.set_defaults(func=do_journal_purge)

    parser = subparsers.add_parser(
        'test-rule', help='Show what each rule would do with a notification '
        'read from a file or standard input.')
    parser.add_argument('file', nargs='?', default='-')
    parser.add_argument('--event-type',
                        help='Event type of a bare payload.')
    parser.add_argument('--execute', action='store_true',
                        help='Run the matching actions for real (outside '
                        'the journal).')
    parser.add_argument('-f', '--format', choices=('text', 'json'),
                        default='text')
    parser.set_defaults(func=do_test_rule)

    parser = subparsers.add_parser(
        'replay', help='Put journal jobs\' events, or a file of '
        'notifications, through the rules again as new jobs.')
    parser.add_argument('--job', type=_job_id, action='append',
                        metavar='ID')
    parser.add_argument('--file')
    parser.add_argument('--event-type',
                        help='Event type of bare payloads in --file.')
    parser.add_argument('--ignore-once-per', action='store_true',
                        help='Act even where a rule\'s once_per value was '
                        'acted on already.')
    parser.set_defaults(func=do_replay)

    _add_db_parsers(subparsers)

    parser = subparsers.add_parser(
        'status', help='Jobs by state, the oldest unfinished and the '
        'newest job.')
    parser.add_argument('-f', '--format', choices=('table', 'json'),
                        default='table')
    parser.set_defaults(func=do_status)


def main(argv=None, conf=None, setup_logging=True):
    conf = cfg.CONF if conf is None else conf
    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', title='Commands', handler=add_command_parsers))
    try:
        bootstrap.parse_args(sys.argv[1:] if argv is None else argv, conf,
                             default_config_files=None if argv is None else [])
        if setup_logging:
            logging.setup(conf, bootstrap.PROJECT)
    except cfg.Error as exc:
        sys.stderr.write('esi-event-actions-manage: %s\n' % exc)
        return 1
    return conf.command.func(conf)


if __name__ == '__main__':
    sys.exit(main())
