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
"""(4) latency under a steady flow, and (5) a large backlog, on the service.

Each run has a service of its own on its own SQLite journal and topic.
"""

import json
import os
import time
import uuid

from oslo_config import cfg
import oslo_messaging

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import raw

import benchmark
from benchmark import bus
from benchmark import service

WARMUP = 10


def live_service(args, workdir, name, topic, text, pool=None):
    """A service on its own SQLite journal running the script text."""
    run_dir = os.path.join(workdir, name)
    os.makedirs(run_dir)
    script = service.write_script(run_dir, name, text)
    store = service.SQLiteJournal(os.path.join(run_dir, 'journal.sqlite'),
                                  args.sqlite_synchronous)
    return service.Service(args, run_dir, topic, service.script_rule(script),
                           store, pool=pool)


def percentile(values, pct):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def publish_steadily(args, notifier, nodes):
    """(4)'s notifications at --rate; {name: time.time() of the call}."""
    total = int(args.rate * args.duration)
    benchmark.log(args, '(4) publishing %d notifications at %s/s', total,
                  args.rate)
    sent = {}
    start = time.monotonic()
    late = 0
    for index in range(total):
        wait = start + index / args.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.005:
            late += 1
        data = bus.lease(index, nodes, prefix='lat')
        sent[data['name']] = time.time()
        notifier.emit(bus.EVENT_TYPE, data)
    achieved = total / (time.monotonic() - start)
    return sent, {'messages': total, 'rate': achieved, 'late_sends': late}


def notifier(args, topic):
    """esi-leap's Notifier on --transport-url; and its transport."""
    conf = cfg.ConfigOpts()
    conf([], project='esi-event-actions-bench', default_config_files=[])
    transport = oslo_messaging.get_notification_transport(
        conf, url=args.transport_url)
    return fake_esi_leap.Notifier(transport, topic=topic), transport


def _steady_run(args, svc, notifier, idle):
    nodes = bus.node_uuids(args.nodes)
    with svc.pss_sampler() as pss:
        svc.start()
        # The Notifier declares the queue the service consumes: the
        # warm-up waits for nothing but for the service to act on it.
        for index in range(WARMUP):
            notifier.emit(bus.EVENT_TYPE, bus.lease(index, nodes, 'warm'))
        if not svc.wait_finished(WARMUP, 60):
            raise benchmark.BenchError('the warm-up notifications were not '
                                       'acted on')
        sent, result = publish_steadily(args, notifier, nodes)
        svc.wait_finished(WARMUP + len(sent), 60)
    result.update(memory=svc.memory(), pss_max=pss.peak)
    if idle:
        result['idle_cpu'] = svc.idle_cpu(args.idle)
    return sent, result


def run_latency(args, workdir, idle):
    """(4): the service under a steady flow from esi-leap's Notifier."""
    topic = 'bench_%s_live' % uuid.uuid4().hex[:8]
    calls = os.path.join(workdir, 'latency.calls')
    svc = live_service(args, workdir, 'latency', topic,
                       service.STAMP_SCRIPT % calls)
    publisher, transport = notifier(args, topic)
    try:
        sent, result = _steady_run(args, svc, publisher, idle)
        result.update(latencies(sent, calls, svc.journal))
    finally:
        svc.stop()
        svc.journal.close()
        transport.cleanup()
        forget_topic(args, topic)
    return result


def forget_topic(args, topic):
    """Delete the queues the Notifier declared for ``topic``, if it can."""
    try:
        bus.Queues(args.transport_url).delete(
            [raw.routing_key(topic, p) for p in ('info', 'error')])
    except Exception:
        pass


def _script_starts(calls):
    started = {}
    with open(calls) as f:
        for line in f:
            stamp, _node, name = line.split()
            started[name] = float(stamp)
    return started


def latencies(sent, calls, store):
    """From each Notifier call to the script, the insert and the claim."""
    started = _script_starts(calls)
    journalled, claimed = {}, {}
    for job in store.jobs():
        name = json.loads(job['event'])['data']['name']
        journalled[name] = benchmark.epoch(job['created_at'])
        claimed[name] = benchmark.epoch(job['started_at'])
    missing = sum(1 for n in sent if n not in started)
    if missing == len(sent):
        raise benchmark.BenchError('no notification of the latency run was '
                                   'acted on')

    def summary(times):
        # A notification never acted on counts as infinitely late.
        values = [1000.0 * (times[n] - sent[n]) if n in times
                  else float('inf') for n in sent]
        return {'p50': percentile(values, 50), 'p95': percentile(values, 95),
                'p99': percentile(values, 99), 'max': max(values)}

    return {'not_acted_on': missing, 'action_start_ms': summary(started),
            'journalled_ms': summary(journalled),
            'claimed_ms': summary(claimed)}


def _backlog_run(args, svc):
    with svc.pss_sampler() as pss:
        svc.start()
        svc.wait_started(60)
        cpu_before, started = svc.cpu(), time.monotonic()
        svc.wait_finished(args.backlog_messages, args.backlog_seconds)
        cpu_after, elapsed = svc.cpu(), time.monotonic() - started
    counts = svc.journal.counts()
    return dict(service.cpu_used(cpu_before, cpu_after), pss_max=pss.peak,
                seconds=elapsed, done=counts[journal.DONE],
                journalled=sum(counts.values()),
                messages=args.backlog_messages, memory=svc.memory())


def run_backlog(args, workdir, queues):
    """(5): a large backlog behind a slow script, for a bounded time."""
    topic = 'bench_%s_backlog' % uuid.uuid4().hex[:8]
    pool = topic + '.backlog'
    benchmark.log(args, '(5) publishing a backlog of %d notifications',
                  args.backlog_messages)
    queues.fill([pool], topic, bus.build_bodies(
        args.backlog_messages, bus.node_uuids(args.nodes)))
    svc = live_service(args, workdir, 'backlog', topic,
                       service.SLEEP_SCRIPT, pool=pool)
    try:
        result = _backlog_run(args, svc)
    finally:
        svc.stop()
        svc.journal.close()
        queues.delete([pool])
    result['rate'] = result['done'] / result['seconds']
    return result
