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
"""The references (0) and (1), each run in a child process of the benchmark.

(0) spawns the script of (3) once per notification as the script action
originally did, with no broker and no journal; (1) is a bare
oslo.messaging notification listener whose endpoint does nothing.  A
child prints its result as the last line of its output, in JSON.
"""

import collections
import datetime
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid

from oslo_config import cfg
import oslo_messaging

from esi_event_actions import notification
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import raw

import benchmark
from benchmark import bus
from benchmark import procfs
from benchmark import service

# The package's directory: what "python tools/benchmark" runs.
PACKAGE = os.path.dirname(os.path.abspath(__file__))


def run_child(args, what, argv):
    """Run the benchmark with ``argv``; the JSON object it prints last."""
    cmd = [sys.executable, PACKAGE] + [str(a) for a in argv]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              timeout=args.drain_timeout + 60)
    except subprocess.TimeoutExpired:
        raise benchmark.BenchError('%s did not finish' % what)
    try:
        return json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise benchmark.BenchError('%s failed:\n%s'
                                   % (what, proc.stderr.decode()[-2000:]))


def _print(result):
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()


def spawn_jobs(script, count, nodes):
    """(argv, environment additions, stdin) of the script action, N times.

    As the service gives them for the notifications of
    :func:`bus.build_bodies`: the Event the listener makes of each
    message, the argv of a rule with script_params = node_uuid,name.
    """
    uuids = bus.node_uuids(nodes)
    start = bus.utcnow()
    jobs = collections.deque()
    for index in range(count):
        data = bus.lease(index, uuids)
        event = notification.to_event({
            'event_type': bus.EVENT_TYPE,
            'publisher_id': fake_esi_leap.PUBLISHER_ID,
            'payload': fake_esi_leap.payload(data),
            'metadata': {'message_id': str(uuid.uuid4()), 'timestamp': str(
                start + datetime.timedelta(microseconds=index))}}, 'info')
        env = {'ESI_EVENT_TYPE': event.event_type, 'ESI_EVENT_ID': event.id,
               'ESI_RULE': service.RULE, 'ESI_ATTEMPT': '1'}
        jobs.append(([script, data['node_uuid'], data['name']], env,
                     event.to_json().encode()))
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


def _spawn_all(jobs, workers, deadline):
    """Spawn the jobs from ``workers`` threads; the scripts that failed."""
    failed = []
    go = threading.Event()

    def work():
        go.wait()
        while time.monotonic() < deadline:
            try:
                job = jobs.popleft()
            except IndexError:
                return
            if spawn(*job) != 0:
                failed.append(job[0])

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join()
    return failed


def spawn_child(argv):
    """``_spawn SCRIPT COUNT NODES WORKERS TIMEOUT``: (0)."""
    script, count, nodes, workers, timeout = argv
    jobs = spawn_jobs(script, int(count), int(nodes))
    deadline = time.monotonic() + float(timeout)
    cpu = (procfs.rusage_cpu(resource.RUSAGE_SELF),
           procfs.rusage_cpu(resource.RUSAGE_CHILDREN))
    started = time.monotonic()
    failed = _spawn_all(jobs, int(workers), deadline)
    _print({'done': int(count) - len(jobs), 'failed': len(failed),
            'seconds': time.monotonic() - started,
            'cpu_seconds': procfs.rusage_cpu(resource.RUSAGE_SELF) - cpu[0],
            'script_cpu_seconds':
            procfs.rusage_cpu(resource.RUSAGE_CHILDREN) - cpu[1],
            'peak_rss': procfs.peak_rss()})
    return 0


def run_spawn(args, workdir, run):
    name = 'spawn-%d' % run
    calls = os.path.join(workdir, name + '.calls')
    script = service.write_script(workdir, name,
                                  service.APPEND_SCRIPT % calls)
    workers = service.worker_count(args)
    seen = run_child(args, 'the spawn pool (0)', [
        '_spawn', script, args.messages, args.nodes, workers,
        args.drain_timeout])
    if seen['failed'] or not seen['done']:
        raise benchmark.BenchError('(0) ran %d scripts, %d of them failed'
                                   % (seen['done'], seen['failed']))
    return dict(seen, rate=seen['done'] / seen['seconds'], workers=workers,
                complete=seen['done'] == args.messages)


class _Counter:
    """The endpoint of (1): counts, and times the first and last calls."""

    def __init__(self, count):
        self.count = count
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.seen = {'count': 0, 'first': None, 'last': None}
        self.cpu = {}

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        now = time.time()
        with self.lock:
            self.seen['count'] += 1
            if self.seen['first'] is None:
                self.seen['first'] = now
                self.cpu['first'] = time.process_time()
            if self.seen['count'] == self.count:
                self.seen['last'] = now
                self.cpu['last'] = time.process_time()
                self.done.set()

    def result(self):
        with self.lock:
            return dict(self.seen, peak_rss=procfs.peak_rss(),
                        cpu_seconds=self.cpu.get('last', 0) -
                        self.cpu.get('first', 0))


def bare_child(argv):
    """``_bare URL TOPIC POOL COUNT TIMEOUT PREFETCH``: (1)."""
    url, topic, pool, count, timeout, prefetch = argv
    conf = cfg.ConfigOpts()
    conf([], project='esi-event-actions-bench', default_config_files=[])
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    if prefetch != 'default':
        conf.set_override('rabbit_qos_prefetch_count', int(prefetch),
                          group='oslo_messaging_rabbit')
    endpoint = _Counter(int(count))
    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=topic,
                                          exchange=raw.EXCHANGE)],
        [endpoint], executor='threading', pool=pool)
    listener.start()
    endpoint.done.wait(float(timeout))
    _print(endpoint.result())
    listener.stop()
    listener.wait()
    transport.cleanup()
    return 0 if endpoint.done.is_set() else 1


def run_bare(args, pool, topic):
    seen = run_child(args, 'the bare listener', [
        '_bare', args.transport_url, topic, pool, args.messages,
        args.drain_timeout, args.bare_prefetch])
    if seen['count'] != args.messages:
        raise benchmark.BenchError(
            'the bare listener received %d of %d messages'
            % (seen['count'], args.messages))
    elapsed = seen['last'] - seen['first']
    return {'rate': args.messages / elapsed, 'seconds': elapsed,
            'done': args.messages, 'complete': True,
            'cpu_seconds': seen['cpu_seconds'],
            'peak_rss': seen['peak_rss']}


COMMANDS = {'_bare': bare_child, '_spawn': spawn_child}
