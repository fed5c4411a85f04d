#!/usr/bin/env python3
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
   one, after the latency run).

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

    python tools/benchmark.py [--json] [-n 10000] [--repeats 3] ...
"""

import argparse
import collections
import datetime
import json
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from unittest import mock
import uuid
import warnings

import kombu
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_service import backend
import sqlalchemy as sa

# Importing oslo.messaging makes oslo.service pick a concurrency backend:
# choose threading first, as the service's commands do, here and in the
# children, and hide the deprecation warning of eventlet, which libraries
# import even unused.
if backend.get_backend_type() is None:
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    backend.init_backend(backend.BackendType.THREADING)
import oslo_messaging

from esi_event_actions.conf import worker as worker_conf
from esi_event_actions import notification
from esi_event_actions.tests import esi_leap
from esi_event_actions.tests.functional import broker as broker_mod
from esi_event_actions.tests.functional import postgres as postgres_mod
from esi_event_actions.tests.functional import raw

EVENT_TYPE = 'esi_leap.lease.fulfill.end'
HOST = 'esi-leap-host'
PUBLISHER_ID = 'esi-leap-manager.%s' % HOST
RULE = 'bench'
MB = 1024 * 1024
HZ = os.sysconf('SC_CLK_TCK')
PSS_INTERVAL = 0.5

# The action of scenarios (0) and (3): two lines, as the benchmark's brief
# says.
APPEND_SCRIPT = '#!/bin/sh\necho "$@" >> %s\n'
# The action of scenario (4): its first command timestamps the start.
# $EPOCHREALTIME is a bash builtin variable: no fork.
STAMP_SCRIPT = '#!/bin/bash\necho "$EPOCHREALTIME $*" >> %s\n'
# The action of the backlog run: slow, so that the journal fills up.
SLEEP_SCRIPT = '#!/bin/sh\nsleep 0.2\n'

# The drain scenarios, in their order within each repeat.
DRAINS = ('spawn', 'bare', 'log', 'log-normal', 'script', 'postgres',
          'postgres-2')
SCENARIOS = DRAINS + ('latency', 'backlog')
# Run in child processes of this script, the others by the service.
CHILDREN = ('spawn', 'bare')
# Service instances sharing one PostgreSQL journal.
POSTGRES = {'postgres': 1, 'postgres-2': 2}
# What each drain rate is divided by: the ratio column.
REFERENCE = {'log': 'bare', 'log-normal': 'bare', 'script': 'spawn',
             'postgres': 'log', 'postgres-2': 'log'}
TITLES = {
    'spawn': '(0) spawn limit',
    'bare': '(1) bare oslo listener',
    'log': '(2) service, log action',
    'log-normal': '(2) log, sync NORMAL',
    'script': '(3) service, script',
    'postgres': '(6) PostgreSQL, 1 inst.',
    'postgres-2': '(6) PostgreSQL, 2 inst.',
    'latency': '(4) latency, script',
    'backlog': '(5) backlog, sleep 0.2',
}
SHORT = {'spawn': '(0)', 'bare': '(1)', 'log': '(2)',
         'log-normal': '(2) NORMAL', 'script': '(3)', 'postgres': '(6) x1',
         'postgres-2': '(6) x2'}

# The functional tests' server trades durability for speed; a production
# journal does not: every commit waits for its WAL to reach the disk.
DURABLE_SETTINGS = ('fsync=on', 'synchronous_commit=on',
                    'full_page_writes=on', 'max_connections=200')


def _command(name, module):
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(script):
        return [script]
    return [sys.executable, '-m', module]


SERVICE = _command('esi-event-actions', 'esi_event_actions.cmd.listener')


class BenchError(Exception):
    pass


# Small helpers.

def log(args, text, *values):
    if not args.quiet:
        sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'),
                                        text % values))
        sys.stderr.flush()


def percentile(values, pct):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def epoch(value):
    """A naive UTC time of a journal as seconds since the epoch.

    SQLite gives it as ISO text, PostgreSQL as a datetime.
    """
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value.replace(tzinfo=datetime.timezone.utc).timestamp()


def proc_status(pid, key):
    """A kB field of /proc/<pid>/status, in bytes, or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def proc_pss(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def proc_stat(pid):
    """The numeric fields of /proc/<pid>/stat after the command name.

    [11] utime, [12] stime, [13] cutime, [14] cstime, in clock ticks.
    """
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return [0] * 20
    fields = stat[stat.rindex(b')') + 2:].split()
    return [0, 0] + [int(f) for f in fields[2:]]


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    fields = proc_stat(pid)
    return fields[11] + fields[12]


def children(pid):
    found = []
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                found.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return found


def wait_until(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def rusage_cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def write_script(directory, name, text):
    path = os.path.join(directory, name + '.sh')
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def worker_count(args):
    """[worker] workers: the benchmark's --workers, or the service's."""
    if args.workers:
        return args.workers
    return next(opt.default for opt in worker_conf.opts
                if opt.name == 'workers')


# The notifications.

def request_context():
    """The request context esi-leap's manager sends, as a dict."""
    return oslo_context.RequestContext(
        project_id=esi_leap.OWNER, user_id=str(uuid.uuid4())).to_dict()


def node_uuids(count):
    return [str(uuid.UUID(int=0xbe7c << 96 | index)) for index in
            range(count)]


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def build_bodies(count, nodes):
    """N messagingv2 bodies, as esi-leap's Notifier would publish them.

    Message i is about node i mod len(nodes); its lease is named
    bench-<i> and its timestamp grows with i, so that the order of the
    jobs of one node is the order of i.
    """
    ctxt = request_context()
    base = utcnow()
    bodies = []
    for index in range(count):
        data = esi_leap.lease_data(node_uuid=nodes[index % len(nodes)],
                                   name='bench-%07d' % index)
        bodies.append(raw.envelope(
            EVENT_TYPE, esi_leap.payload(data), publisher_id=PUBLISHER_ID,
            timestamp=str(base + datetime.timedelta(microseconds=index)),
            context=ctxt))
    return bodies


class Broker:
    """The queues of one benchmark on a RabbitMQ."""

    def __init__(self, url):
        self.url = url
        self.exchange = kombu.Exchange(raw.EXCHANGE, type='topic',
                                       durable=False, auto_delete=False)
        self.queues = []

    def bind(self, names, topic):
        """Declare queues as an oslo listener pool would, bound to topic."""
        key = raw.routing_key(topic)
        with raw._connection(self.url) as conn:
            channel = conn.channel()
            for name in names:
                kombu.Queue(name, exchange=self.exchange, routing_key=key,
                            durable=False, auto_delete=False,
                            channel=channel).declare()
                self.queues.append(name)
            channel.close()

    def depth(self, name):
        with raw._connection(self.url) as conn:
            channel = conn.channel()
            _, count, _ = channel.queue_declare(name, passive=True)
            channel.close()
        return count

    def delete(self, names):
        with raw._connection(self.url) as conn:
            channel = conn.channel()
            for name in names:
                try:
                    channel.queue_delete(name)
                except Exception:
                    channel = conn.channel()

    def fill(self, names, topic, bodies):
        """Publish bodies once to each of the queues names."""
        self.bind(names, topic)
        started = time.monotonic()
        raw.publish(self.url, topic, bodies)
        elapsed = time.monotonic() - started
        # raw.publish declared the topic's own queue: nobody reads it.
        self.delete([raw.routing_key(topic)])
        for name in names:
            depth = self.depth(name)
            if depth != len(bodies):
                raise BenchError('queue %s holds %d messages, not %d'
                                 % (name, depth, len(bodies)))
        return len(bodies) / elapsed

    def cleanup(self):
        self.delete(self.queues)
        self.queues = []


# (0) and (1): child processes of this script.

def run_child(args, what, argv):
    """Run ``benchmark.py ARGV``; the JSON object it prints last."""
    cmd = [sys.executable, os.path.abspath(__file__)] + [str(a) for a in argv]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              timeout=args.drain_timeout + 60)
    except subprocess.TimeoutExpired:
        raise BenchError('%s did not finish' % what)
    try:
        return json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise BenchError('%s failed:\n%s'
                         % (what, proc.stderr.decode()[-2000:]))


def spawn_jobs(script, count, nodes):
    """(argv, environment additions, stdin) of the script action, N times.

    As the service gives them for the notifications of build_bodies():
    the Event the listener makes of each message, the argv of a rule with
    script_params = node_uuid,name.
    """
    uuids = node_uuids(nodes)
    base = utcnow()
    jobs = collections.deque()
    for index in range(count):
        node, name = uuids[index % nodes], 'bench-%07d' % index
        data = esi_leap.lease_data(node_uuid=node, name=name)
        event = notification.to_event({
            'event_type': EVENT_TYPE, 'publisher_id': PUBLISHER_ID,
            'payload': esi_leap.payload(data),
            'metadata': {'message_id': str(uuid.uuid4()), 'timestamp': str(
                base + datetime.timedelta(microseconds=index))}}, 'info')
        env = {'ESI_EVENT_TYPE': event.event_type, 'ESI_EVENT_ID': event.id,
               'ESI_RULE': RULE, 'ESI_ATTEMPT': '1'}
        jobs.append(([script, node, name], env, event.to_json().encode()))
    return jobs


def spawn(argv, extra_env, stdin):
    """Run a script as the script action originally did; its status."""
    env = dict(os.environ)
    env.update(extra_env)
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env, close_fds=True,
        start_new_session=True)
    proc.communicate(stdin)
    return proc.returncode


def spawn_child(argv):
    """``benchmark.py _spawn SCRIPT COUNT NODES WORKERS TIMEOUT``: (0)."""
    script, count, nodes, workers, timeout = argv
    jobs = spawn_jobs(script, int(count), int(nodes))
    failed = []
    go = threading.Event()
    deadline = time.monotonic() + float(timeout)

    def work():
        go.wait()
        while time.monotonic() < deadline:
            try:
                job = jobs.popleft()
            except IndexError:
                return
            if spawn(*job) != 0:
                failed.append(job[0])

    threads = [threading.Thread(target=work) for _ in range(int(workers))]
    for thread in threads:
        thread.start()
    cpu = (rusage_cpu(resource.RUSAGE_SELF),
           rusage_cpu(resource.RUSAGE_CHILDREN))
    started = time.monotonic()
    go.set()
    for thread in threads:
        thread.join()
    result = {'done': int(count) - len(jobs), 'failed': len(failed),
              'seconds': time.monotonic() - started,
              'cpu_seconds': rusage_cpu(resource.RUSAGE_SELF) - cpu[0],
              'script_cpu_seconds': rusage_cpu(resource.RUSAGE_CHILDREN) -
              cpu[1],
              'peak_rss': resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss * 1024}
    sys.stdout.write(json.dumps(result) + '\n')
    return 0


def run_spawn(args, workdir, run):
    name = 'spawn-%d' % run
    calls = os.path.join(workdir, name + '.calls')
    script = write_script(workdir, name, APPEND_SCRIPT % calls)
    workers = worker_count(args)
    seen = run_child(args, 'the spawn pool (0)', [
        '_spawn', script, args.messages, args.nodes, workers,
        args.drain_timeout])
    if seen['failed'] or not seen['done']:
        raise BenchError('(0) ran %d scripts, %d of them failed'
                         % (seen['done'], seen['failed']))
    return dict(seen, rate=seen['done'] / seen['seconds'], workers=workers,
                complete=seen['done'] == args.messages)


def bare_child(argv):
    """``benchmark.py _bare URL TOPIC POOL COUNT TIMEOUT PREFETCH``: (1)."""
    url, topic, pool, count, timeout, prefetch = argv
    count, timeout = int(count), float(timeout)
    conf = cfg.ConfigOpts()
    conf([], project='esi-event-actions-bench', default_config_files=[])
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    if prefetch != 'default':
        conf.set_override('rabbit_qos_prefetch_count', int(prefetch),
                          group='oslo_messaging_rabbit')
    lock = threading.Lock()
    done = threading.Event()
    seen = {'count': 0, 'first': None, 'last': None}
    cpu = {}

    class Endpoint:
        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            now = time.time()
            with lock:
                seen['count'] += 1
                if seen['first'] is None:
                    seen['first'] = now
                    cpu['first'] = time.process_time()
                if seen['count'] == count:
                    seen['last'] = now
                    cpu['last'] = time.process_time()
                    done.set()

    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=topic,
                                          exchange=raw.EXCHANGE)],
        [Endpoint()], executor='threading', pool=pool)
    listener.start()
    done.wait(timeout)
    with lock:
        result = dict(seen, peak_rss=resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss * 1024,
            cpu_seconds=cpu.get('last', 0) - cpu.get('first', 0))
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()
    listener.stop()
    listener.wait()
    transport.cleanup()
    return 0 if done.is_set() else 1


def run_bare(args, pool, topic):
    seen = run_child(args, 'the bare listener', [
        '_bare', args.transport_url, topic, pool, args.messages,
        args.drain_timeout, args.bare_prefetch])
    if seen['count'] != args.messages:
        raise BenchError('the bare listener received %d of %d messages'
                         % (seen['count'], args.messages))
    elapsed = seen['last'] - seen['first']
    return {'rate': args.messages / elapsed, 'seconds': elapsed,
            'done': args.messages, 'complete': True,
            'cpu_seconds': seen['cpu_seconds'],
            'peak_rss': seen['peak_rss']}


# The journals, as the benchmark reads them.

class Journal:
    """Read-only look at the jobs of a service's journal."""

    def query(self, sql):
        raise NotImplementedError

    def finished(self):
        rows = self.query("SELECT count(*) FROM jobs WHERE state IN "
                          "('done', 'dead')")
        return rows[0][0] if rows else 0

    def counts(self):
        rows = self.query('SELECT state, count(*) FROM jobs GROUP BY state')
        return dict(rows or [])

    def jobs(self):
        rows = self.query(
            'SELECT id, node, event_time, created_at, started_at, '
            'finished_at, attempts, state, event FROM jobs ORDER BY id')
        keys = ('id', 'node', 'event_time', 'created_at', 'started_at',
                'finished_at', 'attempts', 'state', 'event')
        return [dict(zip(keys, row)) for row in rows or []]

    def server_cpu(self):
        """CPU seconds of a journal server so far: 0 without one."""
        return 0.0

    def close(self):
        pass


class SQLiteJournal(Journal):

    def __init__(self, path, synchronous=None):
        self.path = path
        self.synchronous = synchronous

    def config(self):
        lines = ['connection = sqlite:///%s' % self.path]
        if self.synchronous:
            lines.append('sqlite_synchronous = %s' % self.synchronous)
        return lines

    def query(self, sql):
        if not os.path.exists(self.path):
            return None
        try:
            conn = sqlite3.connect('file:%s?mode=ro' % self.path, uri=True,
                                   timeout=5)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()
        except sqlite3.OperationalError:
            return None


class PostgresJournal(Journal):
    """A database of its own on a PostgreSQL server, dropped at close."""

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.url = server.create_database(name)
        self.engine = sa.create_engine(
            self.url, connect_args={'connect_timeout': 10})

    def config(self):
        return ['connection = %s' % self.url]

    def query(self, sql):
        # Before the service creates the table, and on any error: None.
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.text(sql)).fetchall()
        except sa.exc.SQLAlchemyError:
            return None

    def server_cpu(self):
        """The server's processes, the live ones and those it reaped."""
        pid = self.server.postmaster.pid
        fields = proc_stat(pid)
        ticks = sum(fields[11:15]) + sum(cpu_ticks(child)
                                         for child in children(pid))
        return ticks / HZ

    def close(self):
        self.engine.dispose()
        self.server.drop_database(self.name)


class DurablePostgres(postgres_mod.PrivatePostgres):
    """The functional tests' private server, with fsync on."""

    def _spawn_server(self):
        with mock.patch.object(postgres_mod, 'SERVER_SETTINGS',
                               DURABLE_SETTINGS):
            super()._spawn_server()

    def start(self):
        super().start()
        if self.psql('SHOW fsync').strip() != 'on':
            self.stop()
            raise BenchError('the private PostgreSQL runs without fsync')
        return self


def ordering_kept(jobs):
    """Whether each node's jobs ran one at a time in event order."""
    by_node = {}
    for job in jobs:
        by_node.setdefault(job['node'], []).append(job)
    for node_jobs in by_node.values():
        node_jobs.sort(key=lambda j: (j['event_time'], j['id']))
        for before, after in zip(node_jobs, node_jobs[1:]):
            if epoch(after['started_at']) < epoch(before['finished_at']):
                return False
    return True


def calls_in_order(path, count):
    """Check an append script's file: every lease once, in node order.

    :param count: how many calls there must be; None: any number.
    """
    last, total, names = {}, 0, set()
    with open(path) as f:
        for line in f:
            node, name = line.split()
            index = int(name.split('-')[1])
            if index <= last.get(node, -1):
                return False
            last[node] = index
            names.add(name)
            total += 1
    if count is None:
        return total == len(names)
    return total == count and len(names) == count


# (2) to (6): the service.

def service_config(args, state_dir, topic, rule, journal, pool):
    """The text of a service configuration."""
    lines = ['[DEFAULT]',
             'transport_url = %s' % args.transport_url,
             'state_path = %s' % state_dir,
             'debug = %s' % ('true' if args.service_debug else 'false'),
             '[listener]',
             'topics = %s' % topic]
    if pool:
        lines.append('pool = %s' % pool)
    for opt in ('batch_size', 'batch_timeout'):
        if getattr(args, opt) is not None:
            lines.append('%s = %s' % (opt, getattr(args, opt)))
    lines += ['[journal]'] + journal.config() + ['[worker]']
    if args.workers:
        lines.append('workers = %d' % args.workers)
    if args.prefetch is not None:
        lines += ['[oslo_messaging_rabbit]',
                  'rabbit_qos_prefetch_count = %d' % args.prefetch]
    lines += ['[%s]' % RULE, 'events = %s' % EVENT_TYPE] + rule
    text = '\n'.join(lines) + '\n'
    if args.extra_config:
        with open(args.extra_config) as f:
            text += f.read()
    return text


def log_rule(args):
    return ['action = log', 'params = node_uuid,name',
            'log_level = %s' % args.log_action_level]


def script_rule(script):
    return ['script = %s' % script, 'script_params = node_uuid,name']


class Instance:
    """One esi-event-actions process with a generated configuration."""

    def __init__(self, args, state_dir, config_text):
        self.args = args
        os.makedirs(state_dir)
        self.log_file = os.path.join(state_dir, 'service.log')
        self.config = os.path.join(state_dir, 'service.conf')
        with open(self.config, 'w') as f:
            f.write(config_text)
        self.proc = None
        self.attached = None

    def start(self, label):
        self._log = open(self.log_file, 'ab')
        self.proc = subprocess.Popen(
            SERVICE + ['--config-file', self.config], stdout=self._log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        if self.args.attach:
            worker = self.worker(timeout=30)
            command = self.args.attach.format(
                pid=worker, parent=self.proc.pid, label=label)
            self.attached = subprocess.Popen(command, shell=True,
                                             start_new_session=True)

    def worker(self, timeout=0):
        """The pid of the launcher's worker process."""
        found = wait_until(lambda: children(self.proc.pid), timeout,
                           interval=0.05)
        if not found:
            raise BenchError('the service started no worker process:\n%s'
                             % self.tail())
        return found[0]

    def pids(self):
        return [self.proc.pid, self.worker()]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines=30):
        try:
            with open(self.log_file, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

    def pss(self):
        """PSS of the launcher plus its worker, or None (not both up)."""
        if not self.running():
            return None
        pids = [self.proc.pid] + children(self.proc.pid)[:1]
        values = [proc_pss(pid) for pid in pids]
        return sum(values) if len(pids) == 2 and None not in values else None

    def memory(self):
        parent, worker = self.pids()
        peak = {'parent': proc_status(parent, 'VmHWM'),
                'worker': proc_status(worker, 'VmHWM')}
        peak['total'] = peak['parent'] + peak['worker']
        return peak

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        if self.attached is not None:
            try:
                self.attached.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.attached.pid, signal.SIGKILL)
                self.attached.wait()


class Service:
    """The instances of one run: one journal, one listener pool."""

    def __init__(self, args, run_dir, topic, rule, journal, pool=None,
                 instances=1):
        self.name = os.path.basename(run_dir)
        self.journal = journal
        self.instances = []
        for index in range(instances):
            state_dir = os.path.join(run_dir, 'instance-%d' % index)
            self.instances.append(Instance(args, state_dir, service_config(
                args, state_dir, topic, rule, journal, pool)))

    def start(self):
        for index, instance in enumerate(self.instances):
            instance.start('%s-%d' % (self.name, index))

    def running(self):
        return all(i.running() for i in self.instances)

    def tail(self):
        return '\n'.join(i.tail() for i in self.instances)

    def wait_started(self, timeout):
        """Wait for the first job in the journal."""
        started = wait_until(
            lambda: not self.running() or self.journal.query(
                'SELECT 1 FROM jobs LIMIT 1'), timeout, interval=0.02)
        if not self.running() or not started:
            raise BenchError('the service did not start consuming:\n%s'
                             % self.tail())

    def wait_finished(self, count, timeout):
        """Wait for ``count`` finished jobs; False at the time limit."""
        done = wait_until(
            lambda: not self.running() or self.journal.finished() >= count,
            timeout)
        if not self.running():
            raise BenchError('the service exited %s:\n%s' % (
                [i.proc.returncode for i in self.instances], self.tail()))
        return bool(done)

    def cpu(self):
        """CPU seconds so far: (service processes, scripts, journal)."""
        own = kids = 0
        for pid in self.pids():
            fields = proc_stat(pid)
            own += fields[11] + fields[12]
            kids += fields[13] + fields[14]
        return own / HZ, kids / HZ, self.journal.server_cpu()

    def pids(self):
        return [pid for i in self.instances for pid in i.pids()]

    def pss(self):
        return [i.pss() for i in self.instances]

    def memory(self):
        """Peak RSS (VmHWM): the largest of any instance."""
        peaks = [i.memory() for i in self.instances]
        return {key: max(p[key] for p in peaks) for key in peaks[0]}

    def idle_cpu(self, seconds):
        """Percent of one core used by all processes over ``seconds``."""
        pids = self.pids()
        before = sum(cpu_ticks(pid) for pid in pids)
        start = time.monotonic()
        time.sleep(seconds)
        used = (sum(cpu_ticks(pid) for pid in pids) - before) / HZ
        return 100.0 * used / (time.monotonic() - start)

    def stop(self):
        for instance in self.instances:
            instance.stop()


class PssSampler:
    """The largest PSS of an instance's launcher plus worker.

    Sampled every PSS_INTERVAL seconds in a thread, while in the block.
    """

    def __init__(self, service):
        self.service = service
        self.peak = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        while True:
            for value in self.service.pss():
                if value is not None and (self.peak is None
                                          or value > self.peak):
                    self.peak = value
            if self._stop.wait(PSS_INTERVAL):
                return


def drain_result(args, journal, complete):
    jobs = journal.jobs()
    done = [j for j in jobs if j['state'] == 'done']
    if complete and len(done) != args.messages:
        raise BenchError('%d of %d jobs done: %s'
                         % (len(done), args.messages, journal.counts()))
    if not done:
        raise BenchError('no job done after %ss: %s'
                         % (args.drain_timeout, journal.counts()))
    first = min(epoch(j['created_at']) for j in jobs)
    last = max(epoch(j['finished_at']) for j in done)
    return {'rate': len(done) / (last - first), 'seconds': last - first,
            'done': len(done), 'complete': complete,
            'ordered': ordering_kept(done),
            'retried': sum(1 for j in jobs if j['attempts'] > 1)}


def cpu_used(before, after):
    return dict(zip(('cpu_seconds', 'script_cpu_seconds',
                     'journal_cpu_seconds'),
                    (b - a for a, b in zip(before, after))))


def drain(args, svc, idle):
    """Start the service, wait until it has acted on every message."""
    with PssSampler(svc) as pss:
        svc.start()
        # The drain's CPU use counts from its first journal insert: the
        # start-up before it is not the drain's.
        svc.wait_started(60)
        cpu_before = svc.cpu()
        complete = svc.wait_finished(args.messages, args.drain_timeout)
        cpu_after = svc.cpu()
    result = drain_result(args, svc.journal, complete)
    result.update(cpu_used(cpu_before, cpu_after), pss_max=pss.peak,
                  memory=svc.memory())
    # Idle only once the backlog is done: a run cut short still works.
    if idle and complete:
        result['idle_cpu'] = svc.idle_cpu(args.idle)
    return result


def open_journal(args, scenario, run_dir, postgres):
    if scenario in POSTGRES:
        name = 'bench_' + os.path.basename(run_dir).replace('-', '_')
        return PostgresJournal(postgres, name)
    synchronous = ('NORMAL' if scenario == 'log-normal'
                   else args.sqlite_synchronous)
    return SQLiteJournal(os.path.join(run_dir, 'journal.sqlite'),
                         synchronous)


def run_service(args, workdir, scenario, run, topic, pool, postgres, idle):
    run_dir = os.path.join(workdir, '%s-%d' % (scenario, run))
    os.makedirs(run_dir)
    calls = None
    if scenario == 'script':
        calls = os.path.join(run_dir, 'script.calls')
        rule = script_rule(write_script(run_dir, 'script',
                                        APPEND_SCRIPT % calls))
    else:
        rule = log_rule(args)
    journal = open_journal(args, scenario, run_dir, postgres)
    try:
        svc = Service(args, run_dir, topic, rule, journal, pool=pool,
                      instances=POSTGRES.get(scenario, 1))
        try:
            result = drain(args, svc, idle)
        finally:
            svc.stop()
    finally:
        journal.close()
    if calls:
        result['ordered'] = result['ordered'] and calls_in_order(
            calls, args.messages if result['complete'] else None)
    return result


def run_drain(args, workdir, scenario, run, topic, pool, postgres, idle):
    if scenario == 'spawn':
        return run_spawn(args, workdir, run)
    if scenario == 'bare':
        return run_bare(args, pool, topic)
    return run_service(args, workdir, scenario, run, topic, pool, postgres,
                       idle)


def live_service(args, workdir, name, topic, text, pool=None):
    """A service on its own SQLite journal running the script text."""
    run_dir = os.path.join(workdir, name)
    os.makedirs(run_dir)
    script = write_script(run_dir, name, text)
    journal = SQLiteJournal(os.path.join(run_dir, 'journal.sqlite'),
                            args.sqlite_synchronous)
    return Service(args, run_dir, topic, script_rule(script), journal,
                   pool=pool)


def publish_steadily(args, notifier, nodes):
    """(4)'s notifications at --rate; {name: time.time() of the call}."""
    total = int(args.rate * args.duration)
    log(args, '(4) publishing %d notifications at %s/s', total, args.rate)
    sent = {}
    start = time.monotonic()
    late = 0
    for index in range(total):
        due = start + index / args.rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.005:
            late += 1
        name = 'lat-%07d' % index
        data = esi_leap.lease_data(node_uuid=nodes[index % len(nodes)],
                                   name=name)
        sent[name] = time.time()
        notifier.emit(EVENT_TYPE, data)
    achieved = total / (time.monotonic() - start)
    return sent, {'messages': total, 'rate': achieved, 'late_sends': late}


def run_latency(args, workdir, idle):
    """(4): the service under a steady flow from esi-leap's Notifier."""
    topic = 'bench_%s_live' % uuid.uuid4().hex[:8]
    calls = os.path.join(workdir, 'latency.calls')
    svc = live_service(args, workdir, 'latency', topic, STAMP_SCRIPT % calls)
    conf = cfg.ConfigOpts()
    conf([], project='esi-event-actions-bench', default_config_files=[])
    transport = oslo_messaging.get_notification_transport(
        conf, url=args.transport_url)
    notifier = esi_leap.EsiLeap(transport, topic=topic, host=HOST)
    nodes = node_uuids(args.nodes)
    warmup = 10
    try:
        with PssSampler(svc) as pss:
            svc.start()
            # The Notifier declares the queue the service consumes: the
            # warm-up waits for nothing but for the service to act on it.
            for index in range(warmup):
                notifier.emit(EVENT_TYPE, esi_leap.lease_data(
                    node_uuid=nodes[index % len(nodes)],
                    name='warm-%07d' % index))
            if not svc.wait_finished(warmup, 60):
                raise BenchError('the warm-up notifications were not acted '
                                 'on')
            sent, result = publish_steadily(args, notifier, nodes)
            svc.wait_finished(warmup + len(sent), 60)
        result.update(memory=svc.memory(), pss_max=pss.peak)
        if idle:
            result['idle_cpu'] = svc.idle_cpu(args.idle)
    finally:
        svc.stop()
        transport.cleanup()
        try:
            Broker(args.transport_url).delete(
                [raw.routing_key(topic, p) for p in ('info', 'error')])
        except Exception:
            pass
    result.update(latencies(sent, calls, svc.journal))
    return result


def latencies(sent, calls, journal):
    """From each Notifier call to the script, the insert and the claim."""
    started = {}
    with open(calls) as f:
        for line in f:
            stamp, _node, name = line.split()
            started[name] = float(stamp)
    journalled, claimed = {}, {}
    for job in journal.jobs():
        name = json.loads(job['event'])['data']['name']
        journalled[name] = epoch(job['created_at'])
        claimed[name] = epoch(job['started_at'])
    missing = sum(1 for n in sent if n not in started)
    if missing == len(sent):
        raise BenchError('no notification of the latency run was acted on')

    def summary(times):
        # A notification never acted on counts as infinitely late.
        values = [1000.0 * (times[n] - sent[n]) if n in times
                  else float('inf') for n in sent]
        return {'p50': percentile(values, 50), 'p95': percentile(values, 95),
                'p99': percentile(values, 99), 'max': max(values)}

    return {'not_acted_on': missing, 'action_start_ms': summary(started),
            'journalled_ms': summary(journalled),
            'claimed_ms': summary(claimed)}


def run_backlog(args, workdir, queues):
    """(5): a large backlog behind a slow script, for a bounded time."""
    topic = 'bench_%s_backlog' % uuid.uuid4().hex[:8]
    pool = topic + '.backlog'
    log(args, '(5) publishing a backlog of %d notifications',
        args.backlog_messages)
    queues.fill([pool], topic, build_bodies(args.backlog_messages,
                                            node_uuids(args.nodes)))
    svc = live_service(args, workdir, 'backlog', topic, SLEEP_SCRIPT,
                       pool=pool)
    try:
        with PssSampler(svc) as pss:
            svc.start()
            svc.wait_started(60)
            cpu_before, started = svc.cpu(), time.monotonic()
            svc.wait_finished(args.backlog_messages, args.backlog_seconds)
            cpu_after, elapsed = svc.cpu(), time.monotonic() - started
        counts = svc.journal.counts()
        result = dict(cpu_used(cpu_before, cpu_after), pss_max=pss.peak,
                      seconds=elapsed,
                      done=counts.get('done', 0),
                      journalled=sum(counts.values()),
                      messages=args.backlog_messages, memory=svc.memory())
    finally:
        svc.stop()
        queues.delete([pool])
    result['rate'] = result['done'] / result['seconds']
    return result


# The whole benchmark.

def median_of(runs):
    return statistics.median(r['rate'] for r in runs)


def source_version():
    """The git commit of the esi-event-actions being measured, if known."""
    import esi_event_actions
    top = os.path.dirname(os.path.dirname(esi_event_actions.__file__))
    try:
        out = subprocess.run(
            ['git', '-C', top, 'describe', '--always', '--dirty',
             '--exclude', '*'], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode().strip() or None


def publish_drains(args, queues, topic, scenarios):
    """The queues of every drain run, each with the N notifications."""
    pools = {(s, r): '%s.%s-%d' % (topic, s, r)
             for s in scenarios if s != 'spawn'
             for r in range(args.repeats)}
    if not pools:
        return pools, None
    log(args, 'Building %d notifications over %d nodes', args.messages,
        args.nodes)
    bodies = build_bodies(args.messages, node_uuids(args.nodes))
    log(args, 'Publishing them once to %d queues', len(pools))
    return pools, queues.fill(sorted(pools.values()), topic, bodies)


def run_drains(args, workdir, queues, postgres):
    """Every drain scenario, alternating, --repeats times; their runs."""
    scenarios = [s for s in DRAINS if s in args.scenarios]
    topic = 'bench_%s' % uuid.uuid4().hex[:8]
    pools, publish_rate = publish_drains(args, queues, topic, scenarios)
    runs = {s: [] for s in scenarios}
    # Idle CPU once, after the first service drain that completes.
    idle_due = bool(args.idle)
    for run in range(args.repeats):
        for scenario in scenarios:
            pool = pools.get((scenario, run))
            result = run_drain(args, workdir, scenario, run, topic, pool,
                               postgres, idle_due)
            idle_due = idle_due and 'idle_cpu' not in result
            runs[scenario].append(result)
            if pool:
                queues.delete([pool])
            log(args, '%s run %d: %.0f msg/s, %.2f ms CPU/msg',
                TITLES[scenario], run + 1, result['rate'],
                1000.0 * result['cpu_seconds'] / result['done'])
    return runs, publish_rate, idle_due


def benchmark(args, postgres):
    results = {'machine': {'cpus': os.cpu_count(),
                           'loadavg_start': os.getloadavg()},
               'source': source_version(),
               'settings': {k: v for k, v in vars(args).items()
                            if k not in ('transport_url', 'json', 'quiet',
                                         'attach', 'table_from')}}
    workdir = tempfile.mkdtemp(prefix='esi-bench-')
    queues = Broker(args.transport_url)
    began = time.monotonic()
    try:
        runs, results['publish_rate'], idle_due = run_drains(
            args, workdir, queues, postgres)
        results['drain'] = {s: summarize(s, runs) for s in runs}
        if 'latency' in args.scenarios:
            log(args, '(4) latency at %s msg/s for %ss', args.rate,
                args.duration)
            results['latency'] = run_latency(args, workdir, idle_due)
        if 'backlog' in args.scenarios:
            results['backlog'] = run_backlog(args, workdir, queues)
            log(args, '(5) backlog: %d jobs done in %.0f s',
                results['backlog']['done'], results['backlog']['seconds'])
    finally:
        queues.cleanup()
        if args.keep:
            log(args, 'Kept %s', workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results['machine']['loadavg_end'] = os.getloadavg()
    results['seconds'] = time.monotonic() - began
    return results


def per_message(runs, key):
    """The median over runs of a CPU time per message done, in ms."""
    return statistics.median(1000.0 * r[key] / r['done'] for r in runs)


def summarize(scenario, runs):
    mine = runs[scenario]
    entry = {'runs': mine, 'median_rate': median_of(mine),
             'partial': not all(r['complete'] for r in mine),
             'cpu_ms_per_message': per_message(mine, 'cpu_seconds')}
    reference = REFERENCE.get(scenario)
    if reference in runs:
        entry['reference'] = reference
        entry['ratio'] = entry['median_rate'] / median_of(runs[reference])
    for key in ('script_cpu', 'journal_cpu'):
        if mine[0].get(key + '_seconds'):
            entry[key + '_ms_per_message'] = per_message(
                mine, key + '_seconds')
    if scenario in CHILDREN:
        entry['peak_rss'] = max(r['peak_rss'] for r in mine)
        return entry
    entry['ordered'] = all(r['ordered'] for r in mine)
    entry['pss_max'] = max((r['pss_max'] for r in mine if r['pss_max']),
                           default=None)
    entry['peak_rss_total'] = max(r['memory']['total'] for r in mine)
    entry['idle_cpu'] = next((r['idle_cpu'] for r in mine
                              if 'idle_cpu' in r), None)
    return entry


def ratio_targets(drain, args):
    found = []
    entry = drain.get('log', {})
    if 'ratio' in entry:
        found.append(('(2)/(1) >= 1.0, synchronous %s'
                      % (args.sqlite_synchronous or 'default'),
                      '%.2f' % entry['ratio'], entry['ratio'] >= 1.0))
    entry = drain.get('script', {})
    if 'ratio' in entry:
        found.append(('(3)/(0) >= 0.6, per-node order kept',
                      '%.2f, order %s' % (entry['ratio'], kept(entry)),
                      entry['ratio'] >= 0.6 and entry['ordered']))
    entry = drain.get('postgres', {})
    if 'ratio' in entry:
        found.append(('(6) 1 instance / (2) >= 0.6', '%.2f' % entry['ratio'],
                      entry['ratio'] >= 0.6))
    entry = drain.get('postgres-2')
    if entry:
        found.append(('(6) 2 instances, per-node order kept',
                      'order %s' % kept(entry), entry['ordered']))
    return found


def memory_targets(results, idle_seconds):
    drain, lat = results.get('drain', {}), results.get('latency')
    backlog = results.get('backlog')
    found = []
    peaks = [e['pss_max'] for s, e in drain.items() if s not in CHILDREN]
    if lat:
        peaks.append(lat['pss_max'])
    peaks = [p for p in peaks if p]
    if peaks:
        found.append(('(5) PSS <= 150 MB, drains and (4)',
                      '%.0f MB' % (max(peaks) / MB), max(peaks) <= 150 * MB))
    if backlog and backlog['pss_max']:
        found.append(('(5) PSS <= 150 MB, %d backlog' % backlog['messages'],
                      '%.0f MB' % (backlog['pss_max'] / MB),
                      backlog['pss_max'] <= 150 * MB))
    idles = [e['idle_cpu'] for e in drain.values()
             if e.get('idle_cpu') is not None]
    if lat and lat.get('idle_cpu') is not None:
        idles.append(lat['idle_cpu'])
    if idles:
        found.append(('(5) idle CPU <= 0.2 %% of a core, %g s'
                      % idle_seconds, '%.2f %%' % max(idles),
                      max(idles) <= 0.2))
    return found


def targets(results):
    """(target, value, met) for every target that was measured."""
    args = argparse.Namespace(**results['settings'])
    found = ratio_targets(results.get('drain', {}), args)
    lat = results.get('latency')
    if lat:
        p99 = lat['action_start_ms']['p99']
        found.append(('(4) p99 <= 10 ms at %g msg/s' % args.rate,
                      '%.1f ms' % p99, p99 <= 10))
    return found + memory_targets(results, args.idle)


def kept(entry):
    return 'kept' if entry['ordered'] else 'BROKEN'


# 75 columns: the table fits an indented block of 79.
WIDTH = 75
ROW = '%-24s %6s %6s %5s %5s %5s %5s %5s %5s'


def mb(value):
    return '%.0f' % (value / MB) if value else '-'


def opt(fmt, value):
    return fmt % value if value is not None else '-'


def table_rows(results, args):
    """The lines of the table proper, scenario by scenario."""
    out = [ROW % ('', 'drain', 'CPU', 'ratio', 'p50', 'p95', 'p99', 'PSS',
                  'idle'),
           ROW % ('', 'msg/s', 'ms/msg', '', 'ms', 'ms', 'ms', 'MB',
                  'CPU%')]
    out.insert(0, '=' * len(out[0]))
    out.append(out[0])
    drain = results.get('drain', {})
    for scenario in (s for s in DRAINS if s in drain):
        entry = drain[scenario]
        out.append(ROW % (
            TITLES[scenario],
            '%.0f%s' % (entry['median_rate'], '*' if entry['partial']
                        else ''),
            '%.2f' % entry['cpu_ms_per_message'],
            opt('%.2f', entry.get('ratio')), '-', '-', '-',
            mb(entry.get('pss_max')), opt('%.2f', entry.get('idle_cpu'))))
    lat = results.get('latency')
    if lat:
        start = lat['action_start_ms']
        out.append(ROW % (
            '%s %g/s' % (TITLES['latency'], args.rate), '-', '-', '-',
            '%.1f' % start['p50'], '%.1f' % start['p95'],
            '%.1f' % start['p99'], mb(lat['pss_max']),
            opt('%.2f', lat.get('idle_cpu'))))
    backlog = results.get('backlog')
    if backlog:
        out.append(ROW % (
            TITLES['backlog'], '%.0f' % backlog['rate'],
            '%.2f' % (1000.0 * backlog['cpu_seconds'] / backlog['done'])
            if backlog['done'] else '-', '-', '-', '-', '-',
            mb(backlog['pss_max']), '-'))
    out.append(out[0])
    return out


def drain_notes(drain, args):
    out = []
    for scenario in (s for s in DRAINS if s in drain):
        entry = drain[scenario]
        out.append('%s runs %s msg/s' % (SHORT[scenario], ', '.join(
            '%.0f%s' % (r['rate'], '' if r['complete'] else '*')
            for r in entry['runs'])))
        details = ['CPU %.2f ms/msg' % entry['cpu_ms_per_message']]
        if 'script_cpu_ms_per_message' in entry:
            details[0] += ' +%.2f scripts' % entry[
                'script_cpu_ms_per_message']
        if 'journal_cpu_ms_per_message' in entry:
            details[0] += ' +%.2f PostgreSQL' % entry[
                'journal_cpu_ms_per_message']
        if scenario == 'spawn':
            details.append('%d threads' % entry['runs'][0]['workers'])
        if scenario in CHILDREN:
            details.append('peak RSS %s MB' % mb(entry['peak_rss']))
        else:
            details.append('per-node order %s' % kept(entry))
        out.append('    ' + ', '.join(details))
    if any(e['partial'] for e in drain.values()):
        out.append('* partial: not all done within %gs; rate of the jobs '
                   'done' % args.drain_timeout)
    return out


def other_notes(results):
    out = []
    lat, backlog = results.get('latency'), results.get('backlog')
    if lat:
        out.append('(4) from the Notifier call to, in ms (p50 / p95 / p99 '
                   '/ max):')
        for key, what in (('journalled_ms', 'journal insert'),
                          ('claimed_ms', 'claim by a worker'),
                          ('action_start_ms', 'script start')):
            v = lat[key]
            out.append('    %-18s %7.1f %7.1f %7.1f %7.1f'
                       % (what, v['p50'], v['p95'], v['p99'], v['max']))
        out.append('    %d sent at %.1f/s, %d late by > 5 ms, %d never '
                   'acted on' % (lat['messages'], lat['rate'],
                                 lat['late_sends'], lat['not_acted_on']))
    if backlog:
        out.append('(5) backlog: %d of %d journalled, %d done in %.0f s, '
                   'then stopped' % (backlog['journalled'],
                                     backlog['messages'], backlog['done'],
                                     backlog['seconds']))
    rss = [r['memory']['total'] for e in results.get('drain', {}).values()
           for r in e['runs'] if 'memory' in r]
    rss += [x['memory']['total'] for x in (lat, backlog) if x]
    if rss:
        out.append('RSS (VmHWM) of launcher plus worker, shared pages '
                   'twice: up to %s MB' % mb(max(rss)))
    return out


def table(results):
    """The results as text no wider than 75 columns."""
    args = argparse.Namespace(**results['settings'])
    out = table_rows(results, args)
    out += ['ratio: to (1) for (2), to (0) for (3), to (2) for (6).',
            'CPU: per message, of the spawning process (0), the listener '
            '(1), the',
            'service\'s launchers and workers (2) to (6).  PSS: the largest '
            'of one',
            'launcher plus its worker, sampled every %g s.' % PSS_INTERVAL]
    out += drain_notes(results.get('drain', {}), args)
    out += other_notes(results)
    lines = []
    for line in out:
        lines += (textwrap.wrap(line, WIDTH, subsequent_indent='    ')
                  if len(line) > WIDTH else [line])
    lines.append('')
    for name, value, met in targets(results):
        lines.append('%-38s %-24s %s' % (name, value,
                                         'met' if met else 'NOT MET'))
    machine = results['machine']
    lines.append('')
    lines.append('%d notifications, %d nodes, median of %d runs, %d CPUs, '
                 '%.0f s' % (args.messages, args.nodes, args.repeats,
                             machine['cpus'], results['seconds']))
    lines.append('load average %.2f at start, %.2f at end; commit %s'
                 % (machine['loadavg_start'][0], machine['loadavg_end'][0],
                    results.get('source') or 'unknown'))
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='benchmark.py', description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    parser.add_argument('--backlog-messages', type=int, default=20000,
                        help='Notifications of the backlog run.')
    parser.add_argument('--backlog-seconds', type=float, default=60.0,
                        help='How long the backlog run works on them.')
    parser.add_argument('--scenarios', default=','.join(SCENARIOS),
                        type=lambda s: s.split(','),
                        help='Which of %s to run.' % ', '.join(SCENARIOS))
    parser.add_argument('--drain-timeout', type=float, default=120.0,
                        help='Longest wait for one drain run; a run cut '
                             'short reports the rate of what it did, '
                             'marked as partial.')
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
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error('unknown scenario(s): %s' % ', '.join(sorted(unknown)))
    if min(args.messages, args.repeats, args.nodes,
           args.backlog_messages) < 1 or args.backlog_seconds <= 0:
        parser.error('--messages, --repeats, --nodes, --backlog-messages '
                     'and --backlog-seconds must be positive')
    return args


CHILD_COMMANDS = {'_bare': bare_child, '_spawn': spawn_child}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in CHILD_COMMANDS:
        return CHILD_COMMANDS[argv[0]](argv[1:])
    args = parse_args(argv)
    if args.table_from:
        with open(args.table_from) as f:
            print(table(json.load(f)))
        return 0
    servers = []
    try:
        if not args.transport_url:
            log(args, 'Starting a private RabbitMQ')
            servers.append(broker_mod.PrivateBroker().start())
            args.transport_url = servers[-1].transport_url
        postgres = None
        if set(POSTGRES) & set(args.scenarios):
            log(args, 'Starting a private PostgreSQL, fsync on')
            postgres = DurablePostgres()
            servers.append(postgres)
            postgres.start()
        results = benchmark(args, postgres)
    except (BenchError, broker_mod.BrokerError,
            postgres_mod.PostgresError) as exc:
        sys.stderr.write('benchmark failed: %s\n' % exc)
        return 1
    finally:
        for server in reversed(servers):
            server.stop()
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(table(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
