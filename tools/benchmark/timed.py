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
"""(7) idle CPU of the service with --timers timed jobs waiting.

A timed rule (``at = end_time - 48h``) warns before leases end.  Before
the service starts, --timers fulfill.end events, decoded as the listener
decodes them, are journalled through the journal's own ``add``, in
batches, with the timers of the rule as the service loads it from its
own configuration: they wait, scheduled, due days from now.  Then the
service runs; one more notification through esi-leap's Notifier shows
that it consumes and schedules, and once it has settled its processes'
CPU is measured over --idle seconds, as (5) measures it.
"""

import datetime
import os
import statistics
import time
import uuid

from oslo_config import cfg

from esi_event_actions import bootstrap
from esi_event_actions import journal
from esi_event_actions import notification
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import procs

import benchmark
from benchmark import bus
from benchmark import live
from benchmark import service

SCENARIOS = ('timers', 'timers-postgres')
AT = 'end_time - 48h'
# Leases end a week from now, one a second: the first job falls due in
# five days, the last a little over a day later.
ENDS_IN = datetime.timedelta(days=7)
FILL_BATCH = 1000
# What the service does just after it started (connecting, its first
# claim and prune) is not idle.
SETTLE = 5.0
LOOKUPS = 20


def timed_rule(args):
    return service.log_rule(args) + ['at = %s' % AT, 'at_past = skip']


def load_timers(config):
    """The timers of the rules, as the service loads its configuration."""
    conf = cfg.ConfigOpts()
    bootstrap.parse_args(['--config-file', config], conf,
                         default_config_files=[])
    return bootstrap.check(conf).timers


def _event(index, nodes, first_end, prefix):
    data = bus.lease(index, nodes, prefix=prefix)
    data['end_time'] = (first_end + datetime.timedelta(seconds=index)
                        ).isoformat(timespec='seconds') + 'Z'
    return notification.to_event(fake_esi_leap.endpoint_message(
        data, message_id='%s-%07d' % (prefix, index),
        timestamp=str(bus.utcnow())), 'info')


def fill(args, store, timers):
    """Journal --timers scheduled jobs; their first due time, the rate."""
    nodes = bus.node_uuids(args.nodes)
    first_end = bus.utcnow() + ENDS_IN
    started = time.monotonic()
    for start in range(0, args.timers, FILL_BATCH):
        entries = [(_event(i, nodes, first_end, 'timer'), [service.RULE])
                   for i in range(start, min(args.timers,
                                             start + FILL_BATCH))]
        jobs = store.add(entries, timers=timers)
        if any(job.state != journal.SCHEDULED for job in jobs):
            raise benchmark.BenchError('a timed job was not scheduled: %s'
                                       % jobs[0])
    return store.next_timer(), args.timers / (time.monotonic() - started)


def _median_ms(call):
    times = []
    for _ in range(LOOKUPS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def lookups(store):
    """Median ms of the claimer's next-timer lookup and of a status."""
    return {'next_timer_ms': _median_ms(store.next_timer),
            'status_ms': _median_ms(store.status)}


def _wait_scheduled(svc, count, timeout):
    """Wait until the journal holds ``count`` scheduled jobs."""
    found = procs.wait_until(lambda: not svc.running() or (
        svc.journal.counts()[journal.SCHEDULED] >= count), timeout,
        interval=0.5)
    if not svc.running() or not found:
        raise benchmark.BenchError(
            'the service did not schedule the timed job of its '
            'notification:\n%s' % svc.tail())


def _idle_run(args, svc, topic):
    notifier, transport = live.notifier(args, topic)
    try:
        with svc.pss_sampler() as pss:
            svc.start()
            svc.instances[0].worker(timeout=60)
            nodes = bus.node_uuids(args.nodes)
            notifier.emit(bus.EVENT_TYPE, dict(
                bus.lease(0, nodes, prefix='live'),
                end_time=(bus.utcnow() + ENDS_IN).isoformat(
                    timespec='seconds') + 'Z'))
            _wait_scheduled(svc, args.timers + 1, 60)
            time.sleep(SETTLE)
            server_before = svc.journal.server_cpu()
            idle = svc.idle_cpu(args.idle)
            server_cpu = svc.journal.server_cpu() - server_before
    finally:
        transport.cleanup()
        live.forget_topic(args, topic)
    return {'idle_cpu': idle, 'pss_max': pss.peak, 'memory': svc.memory(),
            'journal_idle_cpu': 100.0 * server_cpu / args.idle}


def run_timers(args, workdir, scenario, postgres):
    """(7) on SQLite or, for timers-postgres, on PostgreSQL."""
    run_dir = os.path.join(workdir, scenario)
    os.makedirs(run_dir)
    if scenario == 'timers-postgres':
        store = service.PostgresJournal(postgres, 'bench_timers')
    else:
        store = service.SQLiteJournal(os.path.join(run_dir,
                                                   'journal.sqlite'),
                                      args.sqlite_synchronous)
    topic = 'bench_%s_timers' % uuid.uuid4().hex[:8]
    try:
        svc = service.Service(args, run_dir, topic, timed_rule(args), store)
        timers = load_timers(os.path.join(run_dir, 'instance-0',
                                          'service.conf'))
        benchmark.log(args, '(7) %s: journalling %d timed jobs', scenario,
                      args.timers)
        first_due, rate = fill(args, store.store, timers)
        result = {'timers': args.timers, 'fill_rate': rate,
                  'first_due_days': (first_due - bus.utcnow()) /
                  datetime.timedelta(days=1)}
        result.update(lookups(store.store))
        benchmark.log(args, '(7) %s: service idle for %ss', scenario,
                      args.idle)
        try:
            result.update(_idle_run(args, svc, topic))
        finally:
            svc.stop()
        result['counts'] = store.counts()
    finally:
        store.close()
    if result['counts'][journal.SCHEDULED] != args.timers + 1:
        raise benchmark.BenchError('timed jobs fired or were lost: %s'
                                   % result['counts'])
    return result
