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
"""The benchmark's options, and the servers it runs against."""

import argparse
import json
import sys

from esi_event_actions.tests.functional.harness import broker
from esi_event_actions.tests.functional.harness import postgres

import benchmark
from benchmark import children
from benchmark import report
from benchmark import scenarios

# The functional tests' server trades durability for speed; a production
# journal does not: every commit waits for its WAL to reach the disk.
DURABLE_SETTINGS = ('fsync=on', 'synchronous_commit=on',
                    'full_page_writes=on', 'max_connections=200')


def _run_options(parser):
    parser.add_argument('--transport-url',
                        help='Use this RabbitMQ instead of starting a '
                             'private one on a free loopback port.')
    parser.add_argument('-n', '--messages', type=int, default=10000,
                        help='Notifications drained by each run.')
    parser.add_argument('--nodes', type=int, default=500,
                        help='Distinct node uuids among them.')
    parser.add_argument('--repeats', type=int, default=3,
                        help='Runs of each drain scenario; the median is '
                             'reported.')
    parser.add_argument('--rate', type=float, default=50.0,
                        help='Notifications per second of the latency run.')
    parser.add_argument('--duration', type=float, default=30.0,
                        help='Seconds of the latency run.')
    parser.add_argument('--idle', type=float, default=60.0,
                        help='Seconds of idle CPU measurement (0: skip).')
    parser.add_argument('--timers', type=int, default=100000,
                        help='Timed jobs scheduled, days ahead, while (7) '
                             'measures idle CPU (for --idle seconds).')
    parser.add_argument('--backlog-messages', type=int, default=20000,
                        help='Notifications of the backlog run.')
    parser.add_argument('--backlog-seconds', type=float, default=60.0,
                        help='How long the backlog run works on them.')
    names = scenarios.SCENARIOS
    parser.add_argument('--scenarios', default=','.join(names),
                        type=lambda s: s.split(','),
                        help='Which of %s to run.' % ', '.join(names))
    parser.add_argument('--drain-timeout', type=float, default=120.0,
                        help='Longest wait for one drain run; a run cut '
                             'short reports the rate of what it did, '
                             'marked as partial.')


def _service_options(parser):
    group = parser.add_argument_group(
        'service settings', 'Unset: the service\'s defaults.')
    group.add_argument('--workers', type=int,
                       help='[worker] workers; also the threads of (0).')
    group.add_argument('--batch-size', type=int,
                       help='[listener] batch_size.')
    group.add_argument('--batch-timeout', type=float,
                       help='[listener] batch_timeout.')
    group.add_argument('--prefetch', type=int,
                       help='[oslo_messaging_rabbit] '
                            'rabbit_qos_prefetch_count.')
    group.add_argument('--sqlite-synchronous', choices=('FULL', 'NORMAL'),
                       help='[journal] sqlite_synchronous, but for '
                            'log-normal (NORMAL).')
    group.add_argument('--log-action-level', default='info',
                       choices=('debug', 'info', 'warning'),
                       help='log_level of the log action of (2) and (6); '
                            'the service logs at INFO unless '
                            '--service-debug.')
    group.add_argument('--service-debug', action='store_true',
                       help='Run the service with debug = true.')
    group.add_argument('--extra-config',
                       help='A file appended to every generated service '
                            'configuration.')


def _other_options(parser):
    parser.add_argument('--bare-prefetch', default='default',
                        help='Prefetch of the bare listener ("default": '
                             'oslo.messaging\'s, unlimited).')
    parser.add_argument('--attach',
                        help='A shell command started beside each service '
                             'instance, e.g. a profiler; {pid} is its '
                             'worker process, {parent} its launcher, '
                             '{label} the run and instance.')
    parser.add_argument('--keep', action='store_true',
                        help='Keep the working directory (configurations, '
                             'journals, logs).')
    parser.add_argument('--json', action='store_true',
                        help='Print the results as JSON instead of a table.')
    parser.add_argument('--table-from', metavar='JSON_FILE',
                        help='Print the table of the results saved by an '
                             'earlier --json run, and exit.')
    parser.add_argument('-q', '--quiet', action='store_true',
                        help='No progress messages on standard error.')


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='benchmark', description=benchmark.__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for add in (_run_options, _service_options, _other_options):
        add(parser)
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(scenarios.SCENARIOS)
    if unknown:
        parser.error('unknown scenario(s): %s' % ', '.join(sorted(unknown)))
    if min(args.messages, args.repeats, args.nodes, args.backlog_messages,
           args.timers) < 1 or args.backlog_seconds <= 0:
        parser.error('--messages, --repeats, --nodes, --backlog-messages, '
                     '--timers and --backlog-seconds must be positive')
    return args


def start_servers(args, servers):
    """A private RabbitMQ unless given one, PostgreSQL if a run needs it.

    Adds each to ``servers`` as it starts; returns the PostgreSQL or None.
    """
    if not args.transport_url:
        benchmark.log(args, 'Starting a private RabbitMQ')
        servers.append(broker.PrivateBroker().start())
        args.transport_url = servers[-1].transport_url
    if not set(scenarios.NEEDS_POSTGRES) & set(args.scenarios):
        return None
    benchmark.log(args, 'Starting a private PostgreSQL, fsync on')
    server = postgres.PrivatePostgres(settings=DURABLE_SETTINGS)
    servers.append(server)
    server.start()
    if server.psql('SHOW fsync').strip() != 'on':
        raise benchmark.BenchError('the private PostgreSQL runs without '
                                   'fsync')
    return server


def measure(args):
    """Run the benchmark; its results, or None if it failed."""
    servers = []
    try:
        return scenarios.run(args, start_servers(args, servers))
    except (benchmark.BenchError, broker.BrokerError,
            postgres.PostgresError) as exc:
        sys.stderr.write('benchmark failed: %s\n' % exc)
        return None
    finally:
        for server in reversed(servers):
            server.stop()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in children.COMMANDS:
        return children.COMMANDS[argv[0]](argv[1:])
    args = parse_args(argv)
    if args.table_from:
        with open(args.table_from) as f:
            print(report.table(json.load(f)))
        return 0
    results = measure(args)
    if results is None:
        return 1
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(report.table(results))
    return 0
