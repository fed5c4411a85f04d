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
"""Benchmark esi-event-actions against a bare oslo.messaging listener.

On one machine, against a private RabbitMQ on a free loopback port (or the
broker given by --transport-url), this:

1. builds N esi_leap.lease.fulfill.end notifications byte for byte as
   esi-leap's Notifier sends them (messagingv2 envelope, publisher
   esi-leap-manager.<host>, request context fields), their nodes spread
   over --nodes uuids, and publishes them once to esi-leap's exchange.
   Every drain run consumes its own queue, bound to the topic before the
   publication, so that all runs read exactly the same messages;
2. drains them with (1) a bare oslo.messaging notification listener whose
   endpoint does nothing, (2) the esi-event-actions command with one rule
   and the log action, (3) the same with the script action running a
   two-line shell script that appends its arguments to a file, each
   --repeats times, interleaved, keeping the median;
3. measures (4) the latency from esi-leap's Notifier call to the start of
   the action, at a steady --rate for --duration seconds, and (5) the
   peak RSS of the service's processes and their CPU use while idle.

Drain rate: N divided by the time from the first message taken from the
queue (the bare listener's first endpoint call; the service's first
journal insert, created_at) to the last one acted on (the bare listener's
Nth call; the service's last finished_at, once every job is done).

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
import threading
import time
import uuid

import kombu
from oslo_config import cfg
from oslo_context import context as oslo_context
import oslo_messaging

from esi_event_actions.tests import esi_leap
from esi_event_actions.tests.functional import broker as broker_mod
from esi_event_actions.tests.functional import raw

EVENT_TYPE = 'esi_leap.lease.fulfill.end'
HOST = 'esi-leap-host'
PUBLISHER_ID = 'esi-leap-manager.%s' % HOST
MB = 1024 * 1024

# The action of scenario (3): two lines, as the benchmark's brief says.
APPEND_SCRIPT = '#!/bin/sh\necho "$@" >> %s\n'
# The action of scenario (4): its first command timestamps the start.
# $EPOCHREALTIME is a bash builtin variable: no fork.
STAMP_SCRIPT = '#!/bin/bash\necho "$EPOCHREALTIME $*" >> %s\n'

SCENARIOS = ('bare', 'log', 'script')
TITLES = {
    'bare': '(1) bare oslo listener',
    'log': '(2) service, log action',
    'script': '(3) service, script',
    'latency': '(4) latency, script',
}


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


def epoch(text):
    """A naive UTC datetime from the journal as seconds since the epoch."""
    value = datetime.datetime.fromisoformat(text)
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


# The notifications.

def request_context():
    """The request context esi-leap's manager sends, as a dict."""
    return oslo_context.RequestContext(
        project_id=esi_leap.OWNER, user_id=str(uuid.uuid4())).to_dict()


def node_uuids(count):
    return [str(uuid.UUID(int=0xbe7c << 96 | index)) for index in
            range(count)]


def build_bodies(count, nodes):
    """N messagingv2 bodies, as esi-leap's Notifier would publish them.

    Message i is about node i mod len(nodes); its lease is named
    bench-<i> and its timestamp grows with i, so that the order of the
    jobs of one node is the order of i.
    """
    ctxt = request_context()
    base = datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None)
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

    def _channel(self, conn):
        return conn.channel()

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

    def cleanup(self):
        self.delete(self.queues)
        self.queues = []


# (1) The bare listener, run as a child process of this script.

def bare_child(argv):
    """``benchmark.py _bare URL TOPIC POOL COUNT TIMEOUT PREFETCH``."""
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
    cmd = [sys.executable, os.path.abspath(__file__), '_bare',
           args.transport_url, topic, pool, str(args.messages),
           str(args.drain_timeout), str(args.bare_prefetch)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              timeout=args.drain_timeout + 60)
    except subprocess.TimeoutExpired:
        raise BenchError('the bare listener did not finish')
    try:
        seen = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise BenchError('the bare listener failed:\n%s'
                         % proc.stderr.decode()[-2000:])
    if seen['count'] != args.messages:
        raise BenchError('the bare listener received %d of %d messages'
                         % (seen['count'], args.messages))
    elapsed = seen['last'] - seen['first']
    return {'rate': args.messages / elapsed, 'seconds': elapsed,
            'done': args.messages, 'complete': True,
            'cpu_seconds': seen['cpu_seconds'],
            'peak_rss': seen['peak_rss']}


# (2), (3), (4): the service.

class Journal:
    """Read-only look at a service's SQLite journal."""

    def __init__(self, path):
        self.path = path

    def query(self, sql, *params):
        if not os.path.exists(self.path):
            return None
        try:
            conn = sqlite3.connect('file:%s?mode=ro' % self.path, uri=True,
                                   timeout=5)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except sqlite3.OperationalError:
            return None

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


class Service:
    """One esi-event-actions process with a generated configuration."""

    def __init__(self, args, workdir, name, topic, rule, pool=None):
        self.args = args
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.journal = Journal(os.path.join(self.dir, 'journal.sqlite'))
        self.log_file = os.path.join(self.dir, 'service.log')
        self.config = os.path.join(self.dir, 'service.conf')
        lines = ['[DEFAULT]',
                 'transport_url = %s' % args.transport_url,
                 'state_path = %s' % self.dir,
                 'debug = %s' % ('true' if args.service_debug else 'false'),
                 '[listener]',
                 'topics = %s' % topic]
        if pool:
            lines.append('pool = %s' % pool)
        for opt in ('batch_size', 'batch_timeout'):
            if getattr(args, opt) is not None:
                lines.append('%s = %s' % (opt, getattr(args, opt)))
        lines += ['[journal]',
                  'connection = sqlite:///%s' % self.journal.path]
        if args.sqlite_synchronous:
            lines.append('sqlite_synchronous = %s' % args.sqlite_synchronous)
        lines.append('[worker]')
        if args.workers:
            lines.append('workers = %d' % args.workers)
        if args.prefetch is not None:
            lines += ['[oslo_messaging_rabbit]',
                      'rabbit_qos_prefetch_count = %d' % args.prefetch]
        lines += ['[bench]', 'events = %s' % EVENT_TYPE]
        lines += rule
        text = '\n'.join(lines) + '\n'
        if args.extra_config:
            with open(args.extra_config) as f:
                text += f.read()
        with open(self.config, 'w') as f:
            f.write(text)
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

    def running(self):
        return self.proc.poll() is None

    def tail(self, lines=30):
        try:
            with open(self.log_file, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

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
            raise BenchError('the service exited %s:\n%s'
                             % (self.proc.returncode, self.tail()))
        return bool(done)

    def cpu(self):
        """CPU seconds used so far: (service processes, reaped scripts)."""
        hz = os.sysconf('SC_CLK_TCK')
        own = kids = 0
        for pid in (self.proc.pid, self.worker()):
            fields = proc_stat(pid)
            own += fields[11] + fields[12]
            kids += fields[13] + fields[14]
        return own / hz, kids / hz

    def memory(self):
        parent, worker = self.proc.pid, self.worker()
        peak = {'parent': proc_status(parent, 'VmHWM'),
                'worker': proc_status(worker, 'VmHWM')}
        peak['total'] = peak['parent'] + peak['worker']
        pss = [proc_pss(pid) for pid in (parent, worker)]
        peak['pss_total'] = sum(pss) if None not in pss else None
        return peak

    def idle_cpu(self, seconds):
        """Percent of one core used by both processes over ``seconds``."""
        pids = (self.proc.pid, self.worker())
        hz = os.sysconf('SC_CLK_TCK')
        before = sum(cpu_ticks(pid) for pid in pids)
        start = time.monotonic()
        time.sleep(seconds)
        used = (sum(cpu_ticks(pid) for pid in pids) - before) / hz
        return 100.0 * used / (time.monotonic() - start)

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


def drain_result(args, svc, complete):
    jobs = svc.journal.jobs()
    done = [j for j in jobs if j['state'] == 'done']
    if complete and len(done) != args.messages:
        raise BenchError('%d of %d jobs done: %s'
                         % (len(done), args.messages, svc.journal.counts()))
    if not done:
        raise BenchError('no job done after %ss: %s'
                         % (args.drain_timeout, svc.journal.counts()))
    first = min(epoch(j['created_at']) for j in jobs)
    last = max(epoch(j['finished_at']) for j in done)
    return {'rate': len(done) / (last - first), 'seconds': last - first,
            'done': len(done), 'complete': complete,
            'ordered': ordering_kept(done),
            'retried': sum(1 for j in jobs if j['attempts'] > 1)}


def run_service(args, workdir, scenario, run, topic, pool, idle):
    name = '%s-%d' % (scenario, run)
    if scenario == 'log':
        rule = ['action = log', 'params = node_uuid,name',
                'log_level = %s' % args.log_action_level]
        calls = None
    else:
        calls = os.path.join(workdir, name + '.calls')
        script = os.path.join(workdir, name + '.sh')
        with open(script, 'w') as f:
            f.write(APPEND_SCRIPT % calls)
        os.chmod(script, 0o755)
        rule = ['script = %s' % script, 'script_params = node_uuid,name']
    svc = Service(args, workdir, name, topic, rule, pool=pool)
    try:
        svc.start(name)
        # The drain's CPU use counts from its first journal insert: the
        # start-up before it is not the drain's.
        svc.wait_started(60)
        cpu_before = svc.cpu()
        complete = svc.wait_finished(args.messages, args.drain_timeout)
        cpu_after = svc.cpu()
        result = drain_result(args, svc, complete)
        result['cpu_seconds'] = cpu_after[0] - cpu_before[0]
        result['script_cpu_seconds'] = cpu_after[1] - cpu_before[1]
        if calls:
            result['ordered'] = (result['ordered'] and calls_in_order(
                calls, args.messages if complete else None))
        # Idle only once the backlog is done: a run cut short still works.
        if idle and complete:
            result['idle_cpu'] = svc.idle_cpu(args.idle)
        result['memory'] = svc.memory()
    finally:
        svc.stop()
    return result


def run_latency(args, workdir):
    """(4): the service under a steady flow from esi-leap's Notifier."""
    topic = 'bench_%s_live' % uuid.uuid4().hex[:8]
    calls = os.path.join(workdir, 'latency.calls')
    script = os.path.join(workdir, 'latency.sh')
    with open(script, 'w') as f:
        f.write(STAMP_SCRIPT % calls)
    os.chmod(script, 0o755)
    svc = Service(args, workdir, 'latency', topic,
                  ['script = %s' % script, 'script_params = node_uuid,name'])
    conf = cfg.ConfigOpts()
    conf([], project='esi-event-actions-bench', default_config_files=[])
    transport = oslo_messaging.get_notification_transport(
        conf, url=args.transport_url)
    notifier = esi_leap.EsiLeap(transport, topic=topic, host=HOST)
    nodes = node_uuids(args.nodes)
    warmup, total = 10, int(args.rate * args.duration)
    sent = {}
    try:
        svc.start('latency')
        # The Notifier declares the queue the service consumes: the
        # warm-up waits for nothing but for the service to act on it.
        for index in range(warmup):
            notifier.emit(EVENT_TYPE, esi_leap.lease_data(
                node_uuid=nodes[index % len(nodes)],
                name='warm-%07d' % index))
        if not svc.wait_finished(warmup, 60):
            raise BenchError('the warm-up notifications were not acted on')
        log(args, '(4) publishing %d notifications at %s/s', total,
            args.rate)
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
        svc.wait_finished(warmup + total, 60)
        memory = svc.memory()
        idle = svc.idle_cpu(args.idle) if args.idle else None
    finally:
        svc.stop()
        transport.cleanup()
        try:
            Broker(args.transport_url).delete(
                [raw.routing_key(topic, p) for p in ('info', 'error')])
        except Exception:
            pass
    started = {}
    with open(calls) as f:
        for line in f:
            stamp, _node, name = line.split()
            started[name] = float(stamp)
    journalled, claimed = {}, {}
    for job in svc.journal.jobs():
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

    return {'messages': total, 'rate': achieved, 'late_sends': late,
            'not_acted_on': missing,
            'action_start_ms': summary(started),
            'journalled_ms': summary(journalled),
            'claimed_ms': summary(claimed),
            'memory': memory, 'idle_cpu': idle}


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


def benchmark(args):
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
        scenarios = [s for s in SCENARIOS if s in args.scenarios]
        topic = 'bench_%s' % uuid.uuid4().hex[:8]
        pools = {(s, r): '%s.%s-%d' % (topic, s, r)
                 for s in scenarios for r in range(args.repeats)}
        if scenarios:
            log(args, 'Building %d notifications over %d nodes',
                args.messages, args.nodes)
            bodies = build_bodies(args.messages, node_uuids(args.nodes))
            queues.bind(sorted(pools.values()), topic)
            log(args, 'Publishing them once to %d queues', len(pools))
            started = time.monotonic()
            raw.publish(args.transport_url, topic, bodies)
            results['publish_rate'] = args.messages / (
                time.monotonic() - started)
            # raw.publish declared the topic's own queue: nobody reads it.
            queues.delete([raw.routing_key(topic)])
            for pool in pools.values():
                depth = queues.depth(pool)
                if depth != args.messages:
                    raise BenchError('queue %s holds %d messages, not %d'
                                     % (pool, depth, args.messages))
            del bodies
        runs = {s: [] for s in scenarios}
        for run in range(args.repeats):
            for scenario in scenarios:
                pool = pools[scenario, run]
                if scenario == 'bare':
                    result = run_bare(args, pool, topic)
                else:
                    result = run_service(args, workdir, scenario, run, topic,
                                         pool, idle=args.idle and run == 0)
                runs[scenario].append(result)
                queues.delete([pool])
                log(args, '%s run %d: %.0f msg/s', TITLES[scenario],
                    run + 1, result['rate'])
        results['drain'] = {s: summarize(s, runs) for s in scenarios}
        if 'latency' in args.scenarios:
            log(args, '(4) latency at %s msg/s for %ss', args.rate,
                args.duration)
            results['latency'] = run_latency(args, workdir)
    finally:
        queues.cleanup()
        if args.keep:
            log(args, 'Kept %s', workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results['machine']['loadavg_end'] = os.getloadavg()
    results['seconds'] = time.monotonic() - began
    return results


def summarize(scenario, runs):
    mine = runs[scenario]
    entry = {'runs': mine, 'median_rate': median_of(mine),
             'partial': not all(r['complete'] for r in mine),
             'cpu_ms_per_message': statistics.median(
                 1000.0 * r['cpu_seconds'] / r['done'] for r in mine)}
    if 'bare' in runs:
        entry['vs_bare'] = entry['median_rate'] / median_of(runs['bare'])
    if scenario == 'bare':
        entry['peak_rss_total'] = max(r['peak_rss'] for r in mine)
        return entry
    entry['ordered'] = all(r['ordered'] for r in mine)
    entry['peak_rss_worker'] = max(r['memory']['worker'] for r in mine)
    entry['peak_rss_total'] = max(r['memory']['total'] for r in mine)
    entry['idle_cpu'] = mine[0].get('idle_cpu')
    if scenario == 'script':
        entry['script_cpu_ms_per_message'] = statistics.median(
            1000.0 * r['script_cpu_seconds'] / r['done'] for r in mine)
    return entry


def targets(results):
    """(target, value, met) for every target that was measured."""
    args = argparse.Namespace(**results['settings'])
    found = []
    drain = results.get('drain', {})
    if 'log' in drain and 'vs_bare' in drain['log']:
        ratio = drain['log']['vs_bare']
        found.append(('(2)/(1) >= 1.0', '%.2f' % ratio, ratio >= 1.0))
    if 'script' in drain:
        rate = drain['script']['median_rate']
        ordered = drain['script']['ordered']
        found.append(('(3) >= 900/s, per-node order kept',
                      '%.0f/s, order %s' % (rate, 'kept' if ordered
                                            else 'BROKEN'),
                      rate >= 900 and ordered))
    lat = results.get('latency')
    if lat:
        p99 = lat['action_start_ms']['p99']
        found.append(('(4) p99 <= 20 ms at %g msg/s' % args.rate,
                      '%.1f ms' % p99, p99 <= 20))
    for key, what in (('worker', 'worker'), ('total', 'launcher + worker')):
        peaks = [e['peak_rss_' + key] for s, e in drain.items()
                 if s != 'bare']
        if lat:
            peaks.append(lat['memory'][key])
        if peaks:
            found.append(('(5) RSS <= 150 MB, %s' % what,
                          '%.0f MB' % (max(peaks) / MB),
                          max(peaks) <= 150 * MB))
    idles = [e['idle_cpu'] for s, e in drain.items()
             if e.get('idle_cpu') is not None]
    if lat and lat.get('idle_cpu') is not None:
        idles.append(lat['idle_cpu'])
    if idles:
        found.append(('(5) idle CPU ~ 0 (< 1 % of a core)',
                      '%.2f %%' % max(idles), max(idles) < 1.0))
    return found


# 75 columns: the table fits an indented block of 79.
ROW = '%-24s %6s %5s %5s %5s %5s %6s %6s %5s'


def table(results):
    """The results as text no wider than 75 columns."""
    args = argparse.Namespace(**results['settings'])

    def mb(value):
        return '%.0f' % (value / MB) if value else '-'

    def opt(fmt, value):
        return fmt % value if value is not None else '-'

    out = [ROW % ('', 'drain', 'vs', 'p50', 'p95', 'p99', 'RSS', 'RSS',
                  'idle'),
           ROW % ('', 'msg/s', '(1)', 'ms', 'ms', 'ms', 'worker', 'total',
                  'CPU%')]
    out.insert(0, '=' * len(out[0]))
    out.append(out[0])
    drain = results.get('drain', {})
    for scenario in SCENARIOS:
        if scenario not in drain:
            continue
        entry = drain[scenario]
        out.append(ROW % (
            TITLES[scenario],
            '%.0f%s' % (entry['median_rate'], '*' if entry['partial']
                        else ''),
            opt('%.2f', entry.get('vs_bare')), '-', '-', '-',
            mb(entry.get('peak_rss_worker')), mb(entry['peak_rss_total']),
            opt('%.2f', entry.get('idle_cpu'))))
    lat = results.get('latency')
    if lat:
        start = lat['action_start_ms']
        out.append(ROW % (
            '%s %g/s' % (TITLES['latency'], args.rate), '-', '-',
            '%.1f' % start['p50'], '%.1f' % start['p95'],
            '%.1f' % start['p99'], mb(lat['memory']['worker']),
            mb(lat['memory']['total']), opt('%.2f', lat.get('idle_cpu'))))
    out.append(out[0])
    out.append('RSS: peak (VmHWM) in MB of the worker process, and of '
               'the launcher plus')
    pss = [r['memory'].get('pss_total') for e in drain.values()
           for r in e['runs'] if 'memory' in r]
    if lat:
        pss.append(lat['memory'].get('pss_total'))
    pss = [p for p in pss if p]
    out.append('its worker%s.' % (
        ' (their PSS, shared pages counted once: <= %.0f MB)'
        % (max(pss) / MB) if pss else ''))
    for scenario in SCENARIOS:
        if scenario not in drain:
            continue
        entry = drain[scenario]
        runs = ', '.join('%.0f%s' % (r['rate'], '' if r['complete'] else '*')
                         for r in entry['runs'])
        line = '%s runs %s msg/s; CPU %.2f ms/msg' % (
            TITLES[scenario][:3], runs, entry['cpu_ms_per_message'])
        if 'script_cpu_ms_per_message' in entry:
            line += ' +%.2f scripts' % entry['script_cpu_ms_per_message']
        out.append(line)
        if scenario != 'bare':
            out.append('    per-node order %s' % (
                'kept' if entry['ordered'] else 'BROKEN'))
    if any(e['partial'] for e in drain.values()):
        out.append('* partial: not all done within %gs; rate of the jobs '
                   'done' % args.drain_timeout)
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
    out.append('')
    for name, value, met in targets(results):
        out.append('%-38s %-24s %s' % (name, value,
                                       'met' if met else 'NOT MET'))
    machine = results['machine']
    out.append('')
    out.append('%d notifications, %d nodes, median of %d runs, %d CPUs, '
               '%.0f s' % (args.messages, args.nodes, args.repeats,
                           machine['cpus'], results['seconds']))
    out.append('load average %.2f at start, %.2f at end; commit %s'
               % (machine['loadavg_start'][0], machine['loadavg_end'][0],
                  results.get('source') or 'unknown'))
    return '\n'.join(out)


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
    parser.add_argument('--idle', type=float, default=10.0,
                        help='Seconds of idle CPU measurement (0: skip).')
    parser.add_argument('--scenarios', default='bare,log,script,latency',
                        type=lambda s: s.split(','),
                        help='Which of bare, log, script, latency to run.')
    parser.add_argument('--drain-timeout', type=float, default=120.0,
                        help='Longest wait for one drain run; a run cut '
                             'short reports the rate of what it did, '
                             'marked as partial.')
    group = parser.add_argument_group(
        'service settings', 'Unset: the service\'s defaults.')
    group.add_argument('--workers', type=int,
                       help='[worker] workers.')
    group.add_argument('--batch-size', type=int,
                       help='[listener] batch_size.')
    group.add_argument('--batch-timeout', type=float,
                       help='[listener] batch_timeout.')
    group.add_argument('--prefetch', type=int,
                       help='[oslo_messaging_rabbit] '
                            'rabbit_qos_prefetch_count.')
    group.add_argument('--sqlite-synchronous', choices=('FULL', 'NORMAL'),
                       help='[journal] sqlite_synchronous.')
    group.add_argument('--log-action-level', default='info',
                       choices=('debug', 'info', 'warning'),
                       help='log_level of the log action of (2); the '
                            'service logs at INFO unless --service-debug.')
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
                             'run, e.g. a profiler; {pid} is the service\'s '
                             'worker process, {parent} its launcher, '
                             '{label} the run.')
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
    unknown = set(args.scenarios) - set(SCENARIOS + ('latency',))
    if unknown:
        parser.error('unknown scenario(s): %s' % ', '.join(sorted(unknown)))
    if args.messages < 1 or args.repeats < 1 or args.nodes < 1:
        parser.error('--messages, --repeats and --nodes must be positive')
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['_bare']:
        return bare_child(argv[1:])
    args = parse_args(argv)
    if args.table_from:
        with open(args.table_from) as f:
            print(table(json.load(f)))
        return 0
    broker = None
    try:
        if not args.transport_url:
            log(args, 'Starting a private RabbitMQ')
            broker = broker_mod.PrivateBroker().start()
            args.transport_url = broker.transport_url
        results = benchmark(args)
    except BenchError as exc:
        sys.stderr.write('benchmark failed: %s\n' % exc)
        return 1
    finally:
        if broker is not None:
            broker.stop()
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(table(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
