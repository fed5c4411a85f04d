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
"""The service under test: its configuration, processes and journal."""

import os
import signal
import subprocess
import time

from esi_event_actions.conf import worker as worker_conf
from esi_event_actions import journal
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import procs

import benchmark
from benchmark import bus
from benchmark import procfs

RULE = 'bench'
# The action of scenarios (0) and (3): two lines, as the benchmark's brief
# says.
APPEND_SCRIPT = '#!/bin/sh\necho "$@" >> %s\n'
# The action of scenario (4): its first command timestamps the start.
# $EPOCHREALTIME is a bash builtin variable: no fork.
STAMP_SCRIPT = '#!/bin/bash\necho "$EPOCHREALTIME $*" >> %s\n'
# The action of the backlog run: slow, so that the journal fills up.
SLEEP_SCRIPT = '#!/bin/sh\nsleep 0.2\n'
PSS_INTERVAL = 0.5


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


def log_rule(args):
    return ['action = log', 'params = node_uuid,name',
            'log_level = %s' % args.log_action_level]


def script_rule(script):
    return ['script = %s' % script, 'script_params = node_uuid,name']


def _listener_lines(args, topic, pool):
    lines = ['[listener]', 'topics = %s' % topic]
    if pool:
        lines.append('pool = %s' % pool)
    for opt in ('batch_size', 'batch_timeout'):
        if getattr(args, opt) is not None:
            lines.append('%s = %s' % (opt, getattr(args, opt)))
    return lines


def _worker_lines(args):
    lines = ['[worker]']
    if args.workers:
        lines.append('workers = %d' % args.workers)
    if args.prefetch is not None:
        lines += ['[oslo_messaging_rabbit]',
                  'rabbit_qos_prefetch_count = %d' % args.prefetch]
    return lines


def service_config(args, state_dir, topic, rule, store, pool):
    """The text of a service configuration."""
    lines = (['[DEFAULT]',
              'transport_url = %s' % args.transport_url,
              'state_path = %s' % state_dir,
              'debug = %s' % ('true' if args.service_debug else 'false')]
             + _listener_lines(args, topic, pool)
             + ['[journal]'] + store.config() + _worker_lines(args)
             + ['[%s]' % RULE, 'events = %s' % bus.EVENT_TYPE] + rule)
    text = '\n'.join(lines) + '\n'
    if args.extra_config:
        with open(args.extra_config) as f:
            text += f.read()
    return text


def cpu_used(before, after):
    """What :meth:`Service.cpu` counted between two of its readings."""
    return dict(zip(('cpu_seconds', 'script_cpu_seconds',
                     'journal_cpu_seconds'),
                    (b - a for a, b in zip(before, after))))


class RunJournal:
    """The journal of one run, read through the journal's own API.

    Opening it gives an empty database its schema, as the service would.
    """

    def __init__(self, url, options=()):
        self.url = url
        self.options = list(options)
        self.store = journal.Journal(url)

    def config(self):
        """The [journal] lines of the service's configuration."""
        return ['connection = %s' % self.url] + self.options

    def started(self):
        """Whether the service has journalled a job yet."""
        return self.store.status()['newest_job'] is not None

    def finished(self):
        counts = self.store.counts()
        return counts[journal.DONE] + counts[journal.DEAD]

    def counts(self):
        return self.store.counts()

    def jobs(self):
        return self.store.rows()

    def server_cpu(self):
        """CPU seconds of a journal server so far: 0 without one."""
        return 0.0

    def close(self):
        self.store.close()


class SQLiteJournal(RunJournal):
    """A file of the run's; synchronous as the service has it, if given."""

    def __init__(self, path, synchronous=None):
        options = ['sqlite_synchronous = %s' % synchronous] if (
            synchronous) else []
        super().__init__('sqlite:///%s' % path, options)


class PostgresJournal(RunJournal):
    """A database of its own on a PostgreSQL server, dropped at close."""

    def __init__(self, server, name):
        self.server = server
        self.name = name
        super().__init__(server.create_database(name))

    def server_cpu(self):
        """The server's processes, the live ones and those it reaped."""
        pid = self.server.postmaster.pid
        fields = procfs.stat(pid)
        ticks = sum(fields[11:15]) + sum(procfs.cpu_ticks(child)
                                         for child in procfs.children(pid))
        return ticks / procfs.HZ

    def close(self):
        super().close()
        self.server.drop_database(self.name)


class Instance:
    """One esi-event-actions process with a generated configuration."""

    def __init__(self, args, state_dir, config_text):
        self.attach = args.attach
        os.makedirs(state_dir)
        config = os.path.join(state_dir, 'service.conf')
        with open(config, 'w') as f:
            f.write(config_text)
        self.process = base.ServiceProcess(
            config, os.path.join(state_dir, 'service.log'))
        self.attached = None

    @property
    def pid(self):
        return self.process.proc.pid

    def start(self, label):
        self.process.start()
        if self.attach:
            command = self.attach.format(pid=self.worker(timeout=30),
                                         parent=self.pid, label=label)
            self.attached = subprocess.Popen(command, shell=True,
                                             start_new_session=True)

    def worker(self, timeout=0):
        """The pid of the launcher's worker process."""
        found = procs.wait_until(lambda: procfs.children(self.pid), timeout,
                                 interval=0.05)
        if not found:
            raise benchmark.BenchError(
                'the service started no worker process:\n%s' % self.tail())
        return found[0]

    def pids(self):
        return [self.pid, self.worker()]

    def running(self):
        return self.process.proc is not None and (
            self.process.proc.poll() is None)

    def tail(self, lines=30):
        return procs.tail(self.process.log_file, lines)

    def pss(self):
        """PSS of the launcher plus its worker, or None (not both up)."""
        if not self.running():
            return None
        pids = [self.pid] + procfs.children(self.pid)[:1]
        values = [procfs.pss(pid) for pid in pids]
        return sum(values) if len(pids) == 2 and None not in values else None

    def memory(self):
        parent, worker = self.pids()
        peak = {'parent': procfs.status(parent, 'VmHWM'),
                'worker': procfs.status(worker, 'VmHWM')}
        peak['total'] = peak['parent'] + peak['worker']
        return peak

    def stop(self):
        if self.process.proc is None:
            return
        self.process.stop(timeout=60)
        if self.attached is not None:
            try:
                self.attached.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.attached.pid, signal.SIGKILL)
                self.attached.wait()


class Service:
    """The instances of one run: one journal, one listener pool."""

    def __init__(self, args, run_dir, topic, rule, store, pool=None,
                 instances=1):
        self.name = os.path.basename(run_dir)
        self.journal = store
        self.instances = []
        for index in range(instances):
            state_dir = os.path.join(run_dir, 'instance-%d' % index)
            self.instances.append(Instance(args, state_dir, service_config(
                args, state_dir, topic, rule, store, pool)))

    def start(self):
        for index, instance in enumerate(self.instances):
            instance.start('%s-%d' % (self.name, index))

    def running(self):
        return all(i.running() for i in self.instances)

    def tail(self):
        return '\n'.join(i.tail() for i in self.instances)

    def wait_started(self, timeout):
        """Wait for the first job in the journal, and every worker."""
        started = procs.wait_until(
            lambda: not self.running() or self.journal.started(), timeout,
            interval=0.02)
        if not self.running() or not started:
            raise benchmark.BenchError(
                'the service did not start consuming:\n%s' % self.tail())
        # One instance may consume before another has forked its worker,
        # whose CPU the drain counts from here.
        for instance in self.instances:
            instance.worker(timeout)

    def wait_finished(self, count, timeout):
        """Wait for ``count`` finished jobs; False at the time limit."""
        done = procs.wait_until(
            lambda: not self.running() or self.journal.finished() >= count,
            timeout, interval=0.2)
        if not self.running():
            raise benchmark.BenchError('the service exited %s:\n%s' % (
                [i.process.proc.returncode for i in self.instances],
                self.tail()))
        return bool(done)

    def cpu(self):
        """CPU seconds so far: (service processes, scripts, journal)."""
        own = kids = 0
        for pid in self.pids():
            fields = procfs.stat(pid)
            own += fields[11] + fields[12]
            kids += fields[13] + fields[14]
        return own / procfs.HZ, kids / procfs.HZ, self.journal.server_cpu()

    def pids(self):
        return [pid for i in self.instances for pid in i.pids()]

    def pss(self):
        return [i.pss() for i in self.instances]

    def pss_sampler(self):
        """The largest PSS of an instance, sampled while in the block."""
        return procfs.PeakSampler(self.pss, PSS_INTERVAL)

    def memory(self):
        """Peak RSS (VmHWM): the largest of any instance."""
        peaks = [i.memory() for i in self.instances]
        return {key: max(p[key] for p in peaks) for key in peaks[0]}

    def idle_cpu(self, seconds):
        """Percent of one core used by all processes over ``seconds``."""
        pids = self.pids()
        before = sum(procfs.cpu_ticks(pid) for pid in pids)
        start = time.monotonic()
        time.sleep(seconds)
        used = (sum(procfs.cpu_ticks(pid) for pid in pids) - before)
        return 100.0 * used / procfs.HZ / (time.monotonic() - start)

    def stop(self):
        for instance in self.instances:
            instance.stop()
