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
"""esi-event-actions-manage check-config, test-rule and replay: the rules.

``test-rule`` shows what the rules would do with an event, ``replay``
puts events through them again as new jobs of the journal.
"""

import sys

from esi_event_actions.cmd import manage_common as common
from esi_event_actions import dryrun
from esi_event_actions import esi_leap_client
from esi_event_actions import event as event_mod
from esi_event_actions import journal
from esi_event_actions import pipeline
from esi_event_actions import safetext


def do_check_config(conf):
    """Load and validate everything; print each rule on one line."""
    ruleset = common.checked(conf, journal_too=True)
    if ruleset is None:
        return 1
    for rule in ruleset.rules:
        print(rule.summary())
    if ruleset.timers and not esi_leap_client.configured(conf):
        print('Note: %s.' % pipeline.NO_RECHECK)
    print('Configuration OK: %d rule(s)' % len(ruleset))
    return 0


def _print_lines(text):
    """Print ``text`` line by line, each with its controls escaped."""
    for line in text.split('\n'):
        print(safetext.printable(line))


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


def _execute(ruleset, event, results):
    """Run the actions of the rules that matched, outside the journal."""
    for result in results:
        if result['matched'] and not result.get('skipped'):
            rule = ruleset.by_name[result['rule']]
            outcome = rule.action.run(event, rule.params(event))
            result['result'] = '%s: %s' % (outcome.status, outcome.detail)


def do_test_rule(conf):
    """Show what every rule would do with a pasted notification."""
    ruleset = common.checked(conf)
    if ruleset is None:
        return 1
    events = _events(conf)
    if events is None:
        return 2
    reports = []
    acted = {}
    # One now for them all: a list of events reads as one moment.
    now = journal.utcnow()
    for event in events:
        results = dryrun.evaluate(ruleset, event, acted, now)
        if conf.command.execute:
            _execute(ruleset, event, results)
        reports.append((event, results))
    if conf.command.format == 'json':
        print(safetext.dumps([{'event': e.to_dict(), 'rules': r}
                              for e, r in reports], indent=2,
                             sort_keys=True))
    else:
        _print_lines('\n\n'.join(dryrun.format_text(e, r)
                                 for e, r in reports))
    return 0


def _journal_events(store, job_ids):
    """The events of jobs ``job_ids``, or None once a missing one is named."""
    events = []
    for job_id in job_ids:
        row = store.get(job_id)
        if row is None:
            print('No job %d' % job_id)
            return None
        events.append(event_mod.Event.from_json(row['event']))
    return events


def _matched(ruleset, events):
    """[(replayed event, names of its rules)], each printed."""
    entries = []
    for event in map(dryrun.replayed, events):
        rules = [rule.name for rule in ruleset.match(event)]
        print(safetext.printable('%s -> %s' % (
            event.id, ', '.join(rules) or 'no rule matches')))
        if rules:
            entries.append((event, rules))
    return entries


def do_replay(conf):
    """Send journal jobs' events, or a file's, through the rules again."""
    args = conf.command
    if bool(args.job) == bool(args.file):
        print('Give --job IDs or --file')
        return 2
    ruleset = common.checked(conf)
    if ruleset is None:
        return 1
    store = common.open_journal(conf)
    if args.job:
        events = _journal_events(store, args.job)
        if events is None:
            return 1
    else:
        events = _events(conf)
        if events is None:
            return 2
    # A replayed event is a new event: its rules' once_per and on_count
    # hold, unless the operator says the point is to act again.
    once = None if args.ignore_once_per else ruleset.once
    counts = None if args.ignore_on_count else ruleset.counts
    jobs = store.add(_matched(ruleset, events), once=once, counts=counts)
    ran = [job for job in jobs if job.state != journal.SKIPPED]
    print('%d new job(s): %s' % (len(ran), ' '.join(
        str(job.id) for job in ran)))
    for job in jobs:
        if job.state == journal.SKIPPED:
            print(safetext.printable('Job %d skipped: %s' % (
                job.id, store.get(job.id)['detail'])))
    return 0


def add_check_config_parser(subparsers):
    """The ``check-config`` command."""
    parser = subparsers.add_parser(
        'check-config', help='Validate the configuration and list rules.')
    parser.set_defaults(func=do_check_config)


def add_event_parsers(subparsers):
    """The ``test-rule`` and ``replay`` commands."""
    parser = subparsers.add_parser(
        'test-rule', help='Show what each rule would do with a notification '
        'read from a file or standard input.')
    parser.add_argument('file', nargs='?', default='-')
    parser.add_argument('--event-type',
                        help='Event type of a bare payload.')
    parser.add_argument('--execute', action='store_true',
                        help='Run the matching actions for real (outside '
                        'the journal).')
    common.add_format(parser, choices=('text', 'json'))
    parser.set_defaults(func=do_test_rule)

    parser = subparsers.add_parser(
        'replay', help='Put journal jobs\' events, or a file of '
        'notifications, through the rules again as new jobs.')
    parser.add_argument('--job', type=common.job_id, action='append',
                        metavar='ID')
    parser.add_argument('--file')
    parser.add_argument('--event-type',
                        help='Event type of bare payloads in --file.')
    parser.add_argument('--ignore-once-per', action='store_true',
                        help='Act even where a rule\'s once_per value was '
                        'acted on already.')
    parser.add_argument('--ignore-on-count', action='store_true',
                        help='Act even where a rule\'s on_count counts '
                        'the event before or after the Nth of its lease.')
    parser.set_defaults(func=do_replay)
