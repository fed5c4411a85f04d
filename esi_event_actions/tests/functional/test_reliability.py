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
"""Never lose, never repeat, never wedge: crashes and broker faults."""

import collections
import os
import signal
import time

from testtools import content

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import postgres

RULE = '''
    [act]
    events = esi_leap.lease.fulfill.end
    script = act.sh
    script_params = id
    '''


# [worker] workers, the default: a crash reruns at most twice as many jobs,
# those running and those whose end was not yet committed.
WORKERS = 8


def node(number):
    return '00000000-0000-4000-8000-%012d' % number


def emit_many(esi_leap_notifier, first, count, nodes=50):
    for number in range(first, first + count):
        esi_leap_notifier.emit('esi_leap.lease.fulfill.end',
                               fake_esi_leap.lease_data(
                                   id=number, node_uuid=node(number % nodes)))


class _RerunMixin:

    def assert_few_reruns(self, runs):
        """Only jobs running, or ended but not recorded, ran twice."""
        reruns = sum(1 for n in runs.values() if n > 1)
        self.addDetail('report-reruns', content.text_content(
            '%d job(s) ran again after the crash' % reruns))
        self.assertLessEqual(reruns, 2 * WORKERS)


class CrashTest(_RerunMixin, base.FunctionalTestCase):

    def test_kill_9_during_a_burst_runs_everything_and_nothing_twice(self):
        calls = self.recorder('act.sh')
        config = self.config(RULE)
        count = 2000
        emit_many(self.esi_leap, 0, count)
        svc = self.service(config)
        svc.wait_listening()
        base.wait_for(lambda: len(calls.read()) >= 200, 120,
                      '200 actions before the crash')
        svc.kill()
        done_at_crash = {r['event_id'] for r in self.journal_rows(
            state=journal.DONE)}
        self.assertLess(len(done_at_crash), count)

        svc.start()
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) == count, 300, 'every job done')
        by_lease = collections.Counter(c[2][0] for c in calls.read())
        self.assertEqual({str(n) for n in range(count)}, set(by_lease))
        self.assertEqual(count, len(self.journal_rows()))
        runs = collections.Counter(c[0] for c in calls.read())
        for event_id in done_at_crash:
            self.assertEqual(1, runs[event_id],
                             'a job done before the crash ran again')
        self.assert_few_reruns(runs)

    def test_kill_9_while_a_script_runs_runs_it_again(self):
        started = os.path.join(self.dir, 'started')
        # The first run hangs; the run after the crash does not.
        calls = self.recorder('act.sh', before=(
            'first=$([ -e %s ] || echo yes)\n'
            'echo "$ESI_ATTEMPT" >> %s\n'
            '[ "$first" = yes ] && sleep 600' % (started, started)))
        svc = self.service(self.config(RULE))
        svc.wait_listening()
        emit_many(self.esi_leap, 7, 1)
        base.wait_for(lambda: os.path.exists(started), 60, 'the script')
        svc.kill()
        self.assertEqual([journal.RUNNING],
                         [r['state'] for r in self.journal_rows()])
        svc.start()
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 60,
                      'the second attempt')
        # The crash was not the action's failure: the run it cut short
        # is not counted.
        with open(started) as f:
            self.assertEqual(['1', '1'], f.read().split())
        self.assertEqual(1, len(calls.read()))
        self.assertEqual([(journal.DONE, 1)],
                         [(r['state'], r['attempts'])
                          for r in self.journal_rows()])

    def test_sigterm_finishes_running_actions_and_keeps_the_rest(self):
        started = os.path.join(self.dir, 'started')
        calls = self.recorder('act.sh', before='touch %s; sleep 2' % started)
        svc = self.service(self.config(RULE, extra='''
            [DEFAULT]
            graceful_shutdown_timeout = 30
            [worker]
            workers = 1
            '''))
        svc.wait_listening()
        emit_many(self.esi_leap, 0, 3, nodes=1)
        base.wait_for(lambda: os.path.exists(started), 60, 'the script')
        os.killpg(svc.proc.pid, signal.SIGTERM)
        self.assertEqual(0, svc.proc.wait(60))
        self.assertEqual(1, len(calls.read()))
        states = [r['state'] for r in self.journal_rows()]
        self.assertEqual([journal.DONE, journal.PENDING, journal.PENDING],
                         states)
        svc.start()
        base.wait_for(lambda: len(calls.read()) == 3, 60, 'the rest')
        self.assertEqual(['0', '1', '2'], [c[2][0] for c in calls.read()])


class BrokerFaultTest(base.FunctionalTestCase):

    private_broker = True

    def test_broker_restart_with_durable_queues_loses_nothing(self):
        calls = self.recorder('act.sh', before='sleep 0.01')
        svc = self.service(self.config(RULE, extra='''
            [oslo_messaging_rabbit]
            amqp_durable_queues = true
            '''))
        svc.wait_listening()
        esi = self.publisher(durable=True)
        emit_many(esi, 0, 300)
        base.wait_for(lambda: len(calls.read()) >= 30, 60, 'some actions')
        self.broker.broker.restart()
        emit_many(esi, 300, 300)
        base.wait_for(lambda: len(calls.read()) >= 600, 180,
                      'every action')
        by_lease = collections.Counter(c[2][0] for c in calls.read())
        self.assertEqual({str(n) for n in range(600)}, set(by_lease))
        self.assertEqual([], [k for k, n in by_lease.items() if n > 1])
        self.assertEqual(0, svc.proc.poll() or 0)

    def test_broker_down_at_start_is_waited_for(self):
        calls = self.recorder('act.sh')
        self.broker.broker.ctl('stop_app')
        svc = self.service(self.config(RULE))
        base.wait_for(lambda: 'Connection failed' in svc.log(), 60,
                      'a reconnection attempt')
        self.assertIsNone(svc.proc.poll())
        self.broker.broker.ctl('start_app')
        svc.wait_listening(120)
        emit_many(self.esi_leap, 0, 5)
        base.wait_for(lambda: len(calls.read()) == 5, 60, 'the actions')


class SharedJournalTest(_RerunMixin, base.FunctionalTestCase):
    """Two instances, one listener pool, one PostgreSQL journal."""

    def test_instance_dies_midway_its_jobs_are_taken_over(self):
        calls = self.recorder('act.sh', before='sleep 0.01')
        extra = self.shared_journal(worker='lease_timeout = 3')
        instances = [self.service(self.config(
            RULE, extra=extra, name='%s.conf' % name), name=name)
            for name in ('one', 'two')]
        for svc in instances:
            svc.wait_listening()
        count = 1000
        emit_many(self.esi_leap, 0, count, nodes=100)
        base.wait_for(lambda: len(calls.read()) >= 300, 120,
                      '300 actions before the crash')
        instances[0].kill()
        done_at_crash = {r['event_id'] for r in self.journal_rows(
            state=journal.DONE)}
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) == count, 300, 'every job done')
        runs = collections.Counter(c[0] for c in calls.read())
        self.assertEqual(count, len(runs))
        for event_id in done_at_crash:
            self.assertEqual(1, runs[event_id])
        self.assert_few_reruns(runs)
        # Per node, each lease's first run comes in publication order.
        first_runs = collections.defaultdict(list)
        seen = set()
        for event_id, _, args in calls.read():
            if event_id not in seen:
                seen.add(event_id)
                number = int(args[0])
                first_runs[number % 100].append(number)
        for numbers in first_runs.values():
            self.assertEqual(sorted(numbers), numbers)


class JournalOutageTest(base.FunctionalTestCase):
    """A PostgreSQL journal that refuses connections for a while."""

    def outage(self, pg, allow):
        pg.server.psql('ALTER DATABASE "%s" ALLOW_CONNECTIONS %s'
                       % (pg.dbname, 'true' if allow else 'false'))
        if not allow:
            pg.server.psql("SELECT pg_terminate_backend(pid) FROM "
                           "pg_stat_activity WHERE datname = '%s'"
                           % pg.dbname)

    def test_an_outage_logs_one_line_per_attempt_and_loses_nothing(self):
        pg = self.useFixture(postgres.PostgresFixture())
        self.journal_url = pg.url
        calls = self.recorder('act.sh')
        svc = self.service(self.config(RULE))
        svc.wait_listening()
        emit_many(self.esi_leap, 0, 10)
        base.wait_for(lambda: len(calls.read()) == 10, 60, 'the first ten')
        self.outage(pg, allow=False)
        emit_many(self.esi_leap, 10, 10)
        time.sleep(8)
        self.outage(pg, allow=True)
        base.wait_for(lambda: len(calls.read()) == 20, 120, 'the rest')
        log = svc.log()
        # The traceback once per outage and per part that met it (the
        # listener, the workers' claims and records), not per attempt.
        with_traceback = {line.split('Traceback')[0] for line in
                          log.splitlines() if 'most recent call last' in line}
        self.assertLessEqual(len(with_traceback), 3, with_traceback)
        self.assertGreaterEqual(log.count('failed (attempt '), 4)
        self.assertIn('The journal is back', log)
