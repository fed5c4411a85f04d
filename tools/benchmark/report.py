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
"""The results as a table, and the targets they meet or miss."""

import argparse
import textwrap

from benchmark import procfs
from benchmark import scenarios
from benchmark import service

# The most a launcher and its worker may hold together.
PSS_TARGET = 150 * procfs.MB
# The most CPU, in percent of one core, that both may use while idle,
# with or without timed jobs waiting.
IDLE_TARGET = 0.2
JOURNALS = {'timers': 'SQLite', 'timers-postgres': 'PostgreSQL'}


def count(value):
    """100000 as 100k, short enough for a target's name."""
    return '%dk' % (value // 1000) if value % 1000 == 0 else str(value)


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
    peaks = [e['pss_max'] for s, e in drain.items()
             if s not in scenarios.CHILDREN]
    if lat:
        peaks.append(lat['pss_max'])
    peaks = [p for p in peaks if p]
    if peaks:
        found.append(('(5) PSS <= 150 MB, drains and (4)',
                      '%s MB' % mb(max(peaks)), max(peaks) <= PSS_TARGET))
    if backlog and backlog['pss_max']:
        found.append(('(5) PSS <= 150 MB, %d backlog' % backlog['messages'],
                      '%s MB' % mb(backlog['pss_max']),
                      backlog['pss_max'] <= PSS_TARGET))
    idles = [e['idle_cpu'] for e in drain.values()
             if e.get('idle_cpu') is not None]
    if lat and lat.get('idle_cpu') is not None:
        idles.append(lat['idle_cpu'])
    if idles:
        found.append(('(5) idle CPU <= 0.2 %% of a core, %g s'
                      % idle_seconds, '%.2f %%' % max(idles),
                      max(idles) <= IDLE_TARGET))
    return found


def timer_targets(results):
    found = []
    for scenario, entry in sorted(results.get('timers', {}).items()):
        found.append(('(7) idle <= 0.2 %%, %s timers'
                      % count(entry['timers']),
                      '%s %.2f %%' % (JOURNALS[scenario], entry['idle_cpu']),
                      entry['idle_cpu'] <= IDLE_TARGET))
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
    return (found + memory_targets(results, args.idle)
            + timer_targets(results))


def kept(entry):
    return 'kept' if entry['ordered'] else 'BROKEN'


# 75 columns: the table fits an indented block of 79.
WIDTH = 75
ROW = '%-24s %6s %6s %5s %5s %5s %5s %5s %5s'


def mb(value):
    return '%.0f' % (value / procfs.MB) if value else '-'


def opt(fmt, value):
    return fmt % value if value is not None else '-'


def _header():
    out = [ROW % ('', 'drain', 'CPU', 'ratio', 'p50', 'p95', 'p99', 'PSS',
                  'idle'),
           ROW % ('', 'msg/s', 'ms/msg', '', 'ms', 'ms', 'ms', 'MB',
                  'CPU%')]
    rule = '=' * len(out[0])
    return [rule] + out + [rule]


def _drain_row(scenario, entry):
    return ROW % (
        scenarios.TITLES[scenario],
        '%.0f%s' % (entry['median_rate'], '*' if entry['partial'] else ''),
        '%.2f' % entry['cpu_ms_per_message'],
        opt('%.2f', entry.get('ratio')), '-', '-', '-',
        mb(entry.get('pss_max')), opt('%.2f', entry.get('idle_cpu')))


def _latency_row(lat, args):
    start = lat['action_start_ms']
    return ROW % (
        '%s %g/s' % (scenarios.TITLES['latency'], args.rate), '-', '-', '-',
        '%.1f' % start['p50'], '%.1f' % start['p95'], '%.1f' % start['p99'],
        mb(lat['pss_max']), opt('%.2f', lat.get('idle_cpu')))


def _timers_row(scenario, entry):
    return ROW % (scenarios.TITLES[scenario], '-', '-', '-', '-', '-', '-',
                  mb(entry.get('pss_max')), '%.2f' % entry['idle_cpu'])


def _backlog_row(backlog):
    cpu = ('%.2f' % (1000.0 * backlog['cpu_seconds'] / backlog['done'])
           if backlog['done'] else '-')
    return ROW % (scenarios.TITLES['backlog'], '%.0f' % backlog['rate'],
                  cpu, '-', '-', '-', '-', mb(backlog['pss_max']), '-')


def table_rows(results, args):
    """The lines of the table proper, scenario by scenario."""
    out = _header()
    drain = results.get('drain', {})
    out += [_drain_row(s, drain[s]) for s in scenarios.DRAINS if s in drain]
    if results.get('latency'):
        out.append(_latency_row(results['latency'], args))
    if results.get('backlog'):
        out.append(_backlog_row(results['backlog']))
    timers = results.get('timers', {})
    out += [_timers_row(s, timers[s]) for s in scenarios.SCENARIOS
            if s in timers]
    return out + [out[0]]


def drain_notes(drain, args):
    out = []
    for scenario in (s for s in scenarios.DRAINS if s in drain):
        entry = drain[scenario]
        out.append('%s runs %s msg/s' % (scenarios.SHORT[scenario], ', '.join(
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
        if scenario in scenarios.CHILDREN:
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
    out += timer_notes(results)
    rss = [r['memory']['total'] for e in results.get('drain', {}).values()
           for r in e['runs'] if 'memory' in r]
    rss += [x['memory']['total'] for x in (lat, backlog) if x]
    rss += [x['memory']['total'] for x in results.get('timers', {}).values()]
    if rss:
        out.append('RSS (VmHWM) of launcher plus worker, shared pages '
                   'twice: up to %s MB' % mb(max(rss)))
    return out


def _idle_without_timers(results):
    """The idle figure of (5) this run measured, and where, or None."""
    for scenario, entry in results.get('drain', {}).items():
        if entry.get('idle_cpu') is not None:
            return entry['idle_cpu'], scenarios.SHORT[scenario]
    lat = results.get('latency')
    if lat and lat.get('idle_cpu') is not None:
        return lat['idle_cpu'], '(4)'
    return None


def timer_notes(results):
    timers = results.get('timers')
    if not timers:
        return []
    out = []
    for scenario in (s for s in scenarios.SCENARIOS if s in timers):
        entry = timers[scenario]
        server = (' +%.2f %% PostgreSQL' % entry['journal_idle_cpu']
                  if scenario == 'timers-postgres' else '')
        out.append('(7) %s: %d timed jobs journalled at %.0f/s, the first '
                   'due in %.1f days; idle CPU %.2f %%%s; next timer lookup '
                   '%.2f ms, status %.1f ms' % (
                       JOURNALS[scenario], entry['timers'],
                       entry['fill_rate'], entry['first_due_days'],
                       entry['idle_cpu'], server, entry['next_timer_ms'],
                       entry['status_ms']))
    without = _idle_without_timers(results)
    if without:
        out.append('(7) idle CPU without timers, after %s: %.2f %%'
                   % (without[1], without[0]))
    return out


LEGEND = ['ratio: to (1) for (2), to (0) for (3), to (2) for (6).',
          'CPU: per message, of the spawning process (0), the listener '
          '(1), the',
          'service\'s launchers and workers (2) to (6).  PSS: the largest '
          'of one',
          'launcher plus its worker, sampled every %g s.'
          % service.PSS_INTERVAL]


def _wrapped(out):
    lines = []
    for line in out:
        lines += (textwrap.wrap(line, WIDTH, subsequent_indent='    ')
                  if len(line) > WIDTH else [line])
    return lines


def _footer(results, args):
    lines = ['']
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
    return lines


def table(results):
    """The results as text no wider than 75 columns."""
    args = argparse.Namespace(**results['settings'])
    out = table_rows(results, args) + LEGEND
    out += drain_notes(results.get('drain', {}), args)
    out += other_notes(results)
    return '\n'.join(_wrapped(out) + _footer(results, args))
