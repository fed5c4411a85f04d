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
"""The drain runs, (0) to (3) and (6), and the whole benchmark.

Every drain run consumes its own queue, bound to one topic before the N
notifications are published there once, so that all runs read exactly
the same messages; the scenarios alternate within each repeat.
"""

import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from esi_event_actions import journal

import benchmark
from benchmark import bus
from benchmark import children
from benchmark import live
from benchmark import service
from benchmark import timed

# The drain scenarios, in their order within each repeat.
DRAINS = ('spawn', 'bare', 'log', 'log-normal', 'script', 'postgres',
          'postgres-2')
SCENARIOS = DRAINS + ('latency', 'backlog') + timed.SCENARIOS
# Run in child processes of the benchmark, the others by the service.
CHILDREN = ('spawn', 'bare')
# Service instances sharing one PostgreSQL journal.
POSTGRES = {'postgres': 1, 'postgres-2': 2}
# The scenarios that need the private PostgreSQL.
NEEDS_POSTGRES = tuple(POSTGRES) + ('timers-postgres',)
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
    'timers': '(7) timers, SQLite',
    'timers-postgres': '(7) timers, PostgreSQL',
}
SHORT = {'spawn': '(0)', 'bare': '(1)', 'log': '(2)',
         'log-normal': '(2) NORMAL', 'script': '(3)', 'postgres': '(6) x1',
         'postgres-2': '(6) x2'}


def ordering_kept(jobs):
    """Whether each node's jobs ran one at a time in event order."""
    by_node = {}
    for job in jobs:
        by_node.setdefault(job['node'], []).append(job)
    for node_jobs in by_node.values():
        node_jobs.sort(key=lambda j: (j['event_time'], j['id']))
        for before, after in zip(node_jobs, node_jobs[1:]):
            if after['started_at'] < before['finished_at']:
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


def drain_result(args, store, complete):
    jobs = store.jobs()
    done = [j for j in jobs if j['state'] == journal.DONE]
    if complete and len(done) != args.messages:
        raise benchmark.BenchError('%d of %d jobs done: %s' % (
            len(done), args.messages, store.counts()))
    if not done:
        raise benchmark.BenchError('no job done after %ss: %s' % (
            args.drain_timeout, store.counts()))
    first = min(benchmark.epoch(j['created_at']) for j in jobs)
    last = max(benchmark.epoch(j['finished_at']) for j in done)
    return {'rate': len(done) / (last - first), 'seconds': last - first,
            'done': len(done), 'complete': complete,
            'ordered': ordering_kept(done),
            'retried': sum(1 for j in jobs if j['attempts'] > 1)}


def drain(args, svc, idle):
    """Start the service, wait until it has acted on every message."""
    with svc.pss_sampler() as pss:
        svc.start()
        # The drain's CPU use counts from its first journal insert: the
        # start-up before it is not the drain's.
        svc.wait_started(60)
        cpu_before = svc.cpu()
        complete = svc.wait_finished(args.messages, args.drain_timeout)
        cpu_after = svc.cpu()
    result = drain_result(args, svc.journal, complete)
    result.update(service.cpu_used(cpu_before, cpu_after), pss_max=pss.peak,
                  memory=svc.memory())
    # Idle only once the backlog is done: a run cut short still works.
    if idle and complete:
        result['idle_cpu'] = svc.idle_cpu(args.idle)
    return result


def open_journal(args, scenario, run_dir, postgres):
    if scenario in POSTGRES:
        name = 'bench_' + os.path.basename(run_dir).replace('-', '_')
        return service.PostgresJournal(postgres, name)
    synchronous = ('NORMAL' if scenario == 'log-normal'
                   else args.sqlite_synchronous)
    return service.SQLiteJournal(os.path.join(run_dir, 'journal.sqlite'),
                                 synchronous)


def _rule(args, scenario, run_dir):
    """The rule of a run, and the file its script appends to (or None)."""
    if scenario != 'script':
        return service.log_rule(args), None
    calls = os.path.join(run_dir, 'script.calls')
    script = service.write_script(run_dir, 'script',
                                  service.APPEND_SCRIPT % calls)
    return service.script_rule(script), calls


def run_service(args, workdir, scenario, run, topic, pool, postgres, idle):
    run_dir = os.path.join(workdir, '%s-%d' % (scenario, run))
    os.makedirs(run_dir)
    rule, calls = _rule(args, scenario, run_dir)
    store = open_journal(args, scenario, run_dir, postgres)
    try:
        svc = service.Service(args, run_dir, topic, rule, store, pool=pool,
                              instances=POSTGRES.get(scenario, 1))
        try:
            result = drain(args, svc, idle)
        finally:
            svc.stop()
    finally:
        store.close()
    if calls:
        result['ordered'] = result['ordered'] and calls_in_order(
            calls, args.messages if result['complete'] else None)
    return result


def run_drain(args, workdir, scenario, run, topic, pool, postgres, idle):
    if scenario == 'spawn':
        return children.run_spawn(args, workdir, run)
    if scenario == 'bare':
        return children.run_bare(args, pool, topic)
    return run_service(args, workdir, scenario, run, topic, pool, postgres,
                       idle)


def publish_drains(args, queues, topic, scenarios):
    """The queues of every drain run, each with the N notifications."""
    pools = {(s, r): '%s.%s-%d' % (topic, s, r)
             for s in scenarios if s != 'spawn'
             for r in range(args.repeats)}
    if not pools:
        return pools, None
    benchmark.log(args, 'Building %d notifications over %d nodes',
                  args.messages, args.nodes)
    bodies = bus.build_bodies(args.messages, bus.node_uuids(args.nodes))
    benchmark.log(args, 'Publishing them once to %d queues', len(pools))
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
            benchmark.log(args, '%s run %d: %.0f msg/s, %.2f ms CPU/msg',
                          TITLES[scenario], run + 1, result['rate'],
                          1000.0 * result['cpu_seconds'] / result['done'])
    return runs, publish_rate, idle_due


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


def _live_runs(args, workdir, queues, idle_due, results):
    if 'latency' in args.scenarios:
        benchmark.log(args, '(4) latency at %s msg/s for %ss', args.rate,
                      args.duration)
        results['latency'] = live.run_latency(args, workdir, idle_due)
    if 'backlog' in args.scenarios:
        results['backlog'] = live.run_backlog(args, workdir, queues)
        benchmark.log(args, '(5) backlog: %d jobs done in %.0f s',
                      results['backlog']['done'],
                      results['backlog']['seconds'])


def _timer_runs(args, workdir, postgres, results):
    runs = [s for s in timed.SCENARIOS if s in args.scenarios]
    if runs and not args.idle:
        benchmark.log(args, '(7) skipped: --idle 0')
        return
    for scenario in runs:
        entry = timed.run_timers(args, workdir, scenario, postgres)
        results.setdefault('timers', {})[scenario] = entry
        benchmark.log(args, '(7) %s: idle CPU %.2f %% with %d timers',
                      scenario, entry['idle_cpu'], args.timers)


def run(args, postgres):
    """Every scenario asked for; the results, as --json prints them."""
    results = {'machine': {'cpus': os.cpu_count(),
                           'loadavg_start': os.getloadavg()},
               'source': source_version(),
               'settings': {k: v for k, v in vars(args).items()
                            if k not in ('transport_url', 'json', 'quiet',
                                         'attach', 'table_from')}}
    workdir = tempfile.mkdtemp(prefix='esi-bench-')
    queues = bus.Queues(args.transport_url)
    began = time.monotonic()
    try:
        runs, results['publish_rate'], idle_due = run_drains(
            args, workdir, queues, postgres)
        results['drain'] = {s: summarize(s, runs) for s in runs}
        _live_runs(args, workdir, queues, idle_due, results)
        _timer_runs(args, workdir, postgres, results)
    finally:
        queues.cleanup()
        if args.keep:
            benchmark.log(args, 'Kept %s', workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results['machine']['loadavg_end'] = os.getloadavg()
    results['seconds'] = time.monotonic() - began
    return results


def median_of(runs):
    return statistics.median(r['rate'] for r in runs)


def per_message(runs, key):
    """The median over runs of a CPU time per message done, in ms."""
    return statistics.median(1000.0 * r[key] / r['done'] for r in runs)


def _service_summary(entry, mine):
    entry['ordered'] = all(r['ordered'] for r in mine)
    entry['pss_max'] = max((r['pss_max'] for r in mine if r['pss_max']),
                           default=None)
    entry['peak_rss_total'] = max(r['memory']['total'] for r in mine)
    entry['idle_cpu'] = next((r['idle_cpu'] for r in mine
                              if 'idle_cpu' in r), None)
    return entry


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
    return _service_summary(entry, mine)
