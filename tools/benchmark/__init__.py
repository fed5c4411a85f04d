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
"""Benchmark esi-event-actions against what its parts alone can do.

On one machine, against a private RabbitMQ on a free loopback port (or the
broker given by --transport-url), this:

1. builds N esi_leap.lease.fulfill.end notifications byte for byte as
   esi-leap's Notifier sends them (messagingv2 envelope, publisher
   esi-leap-manager.<host>, request context fields), their nodes spread
   over --nodes uuids, and publishes them once to esi-leap's exchange.
   Every drain run consumes its own queue, bound to the topic before the
   publication, so that all runs read exactly the same messages;
2. drains them, each scenario --repeats times, the scenarios alternating
   within each repeat, keeping the median:

   (0) no broker and no journal: a pool of [worker] workers threads
       spawns the script of (3) once per notification as the script
       action does (argv, environment, the event as JSON on stdin;
       subprocess.Popen with three pipes, start_new_session and
       close_fds, then communicate()): the most spawning gives here;
   (1) a bare oslo.messaging notification listener whose endpoint does
       nothing;
   (2) the esi-event-actions command with one rule and the log action,
       its SQLite journal at the service's sqlite_synchronous (and, for
       information, again at NORMAL);
   (3) the same with the script action running a two-line shell script
       that appends its arguments to a file;
   (6) (2) with a private PostgreSQL (fsync on) as the journal, a new
       database for each run: one instance, and two instances in one
       listener pool, which consume the same queue;

   (0) and (1) run in child processes of this script;
3. measures (4) the latency from esi-leap's Notifier call to the start of
   the action, at a steady --rate for --duration seconds, and (5) the
   memory and idle CPU of the service: the PSS of its launcher plus
   worker, sampled every 0.5 s during every service run and during a
   backlog run, --backlog-messages notifications behind a script that
   sleeps 0.2 s, stopped after --backlog-seconds; and the CPU both use
   over --idle seconds once the first service drain is done (without
   one, after the latency run);
4. measures (7) that idle CPU again with --timers timed jobs waiting in
   the journal, due days from now: a service with a timed rule on a
   journal filled through the journal's own API before it starts, on
   SQLite and on PostgreSQL.

Drain rate: N divided by the time from the first message taken from the
queue (the bare listener's first endpoint call; the service's first
journal insert, created_at; the first spawn) to the last one acted on
(the bare listener's Nth call; the service's last finished_at, once every
job is done, over the jobs of both instances with two; the end of the
last script).

CPU per notification: the user and system time over that same span of
the service's launcher and worker (of both instances), of the bare
listener, or of the spawning process, divided by N; the scripts' (the
reaped children's) and PostgreSQL's are counted apart.

Per-node order: each job of a node started after the previous one, in
event order, finished (in the journal), and the script was called for
every lease once, in node order (in the file it appends to).

Latency: from the moment before Notifier.info() is called to the first
command of the action script (bash, timestamped by $EPOCHREALTIME, no
fork), as well as to the journal insert (created_at) and to the claim by
a worker (started_at).

The service runs with its defaults except where an option below says
otherwise; its log goes to a file.  Everything runs on loopback, every
wait is bounded, and everything started is stopped at the end.

    python tools/benchmark [--json] [-n 10000] [--repeats 3] ...

or ``python -m benchmark`` in tools/.  Its modules: :mod:`.cli` the
options and the servers, :mod:`.scenarios` the runs, :mod:`.service` the
service under test and its journal, :mod:`.children` the references (0)
and (1), :mod:`.live` (4) and (5), :mod:`.timed` (7), :mod:`.bus` the
notifications and queues, :mod:`.procfs` what the kernel says of
processes, :mod:`.report` the table.
"""

import datetime
import sys
import time

# The service's commands pick oslo.service's threading backend before
# anything imports oslo.messaging; the benchmark and its children must too.
from esi_event_actions import cmd  # noqa: F401


class BenchError(Exception):
    """A run could not be measured."""


def log(args, text, *values):
    """A progress message on standard error, unless --quiet."""
    if not args.quiet:
        sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'),
                                        text % values))
        sys.stderr.flush()


def epoch(value):
    """A naive UTC time of a journal as seconds since the epoch."""
    return value.replace(tzinfo=datetime.timezone.utc).timestamp()
