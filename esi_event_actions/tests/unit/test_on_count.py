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
"""on_count: a rule acts on the Nth of its events of one lease, once."""

import datetime
import io
import os

import fixtures

from esi_event_actions.cmd import manage
from esi_event_actions.conf import opts as conf_opts
from esi_event_actions import dryrun
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions.journal import statements
from esi_event_actions import listener
from esi_event_actions import policies
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import ends
from esi_event_actions.tests.common import fake_esi_leap

ERROR = 'esi_leap.lease.fulfill.error'
THIRD = policies.OnCount(3, ERROR)

RULE = '''
[third]
events = esi_leap.lease.fulfill.error
action = log
%s
'''


def _error(event_id, lease):
    return event.Event(ERROR, lease, id=event_id)


def _nth(number, of=3):
    return '%d of %d %s for this lease' % (number, of, ERROR)


def _acted(job_id, nth='3rd'):
    return 'the %s %s for this lease already acted: job %d' % (
        nth, ERROR, job_id)


class OnCountOptionTest(base.TestCase):

    def ruleset(self, extra):
        self.load(RULE % extra)
        return ruleloader.load(self.conf)

    def test_a_whole_number_from_1_to_1000_or_an_error_at_its_key(self):
        for value, words in (('0', 'greater than or equal to 1'),
                             ('-1', 'greater than or equal to 1'),
                             ('1001', 'less than or equal to 1000'),
                             ('three', 'three'), ('2.5', '2.5')):
            exc = self.assertRaises(exception.ConfigErrors, self.ruleset,
                                    'on_count = %s' % value)
            self.assertEqual([('third', 'on_count')],
                             [(e.section, e.key) for e in exc.errors], value)
            self.assertIn('test.conf', str(exc.errors[0]))
            self.assertIn(words, str(exc.errors[0]))

    def test_shown_by_check_config_and_test_rule(self):
        ruleset = self.ruleset('on_count = 3\nonce_per = node_uuid')
        rule = ruleset.by_name['third']
        self.assertEqual(THIRD, rule.on_count)
        self.assertEqual({'third': THIRD}, ruleset.counts)
        self.assertIn('once_per=node_uuid on_count=3 -> log', rule.summary())
        evt = _error('m1', fake_esi_leap.lease_data())
        self.assertIn('policies: once_per=node_uuid on_count=3',
                      dryrun.format_text(evt, dryrun.evaluate(ruleset, evt)))

    def test_the_sample_configurations_example_loads(self):
        self.script('warn-lessee.sh')
        self.load('\n'.join(
            line[4:] for line in conf_opts.TIMED_EXAMPLE.splitlines()
            if line.startswith('    ')).replace(
                '/etc/esi-event-actions/warn-lessee.sh', 'warn-lessee.sh'))
        rule = ruleloader.load(self.conf).by_name['third-failure']
        self.assertEqual(['on_count=3'], rule.policies())

    def test_unset_every_event_acts(self):
        ruleset = self.ruleset('')
        self.assertIsNone(ruleset.by_name['third'].on_count)
        self.assertEqual({}, ruleset.counts)

    def test_what_is_counted_is_the_rules_events(self):
        self.load('''
[errors]
events = esi_leap.lease.fulfill.error, esi_leap.lease.delete.error
action = log
on_count = 2
''')
        rule = ruleloader.load(self.conf).by_name['errors']
        self.assertEqual('1 of 2 esi_leap.lease.fulfill.error or '
                         'esi_leap.lease.delete.error for this lease',
                         rule.on_count.decide(1))


class OnCountDecisionTest(base.TestCase):

    def test_before_the_nth_at_it_and_after(self):
        self.assertEqual(_nth(1), THIRD.decide(1))
        self.assertEqual(_nth(2), THIRD.decide(2))
        self.assertIsNone(THIRD.decide(3))
        self.assertEqual(_acted(17), THIRD.decide(4, 17))
        self.assertIn('no lease', THIRD.decide(None))
        self.assertIsNone(policies.OnCount(1, ERROR).decide(1))

    def test_ordinals(self):
        self.assertEqual(
            ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st',
             '22nd', '101st', '111th'],
            [policies.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22,
                                           101, 111)])


class OnCountTest(cases.JournalTestCase):
    """The decision, taken where the jobs are journalled."""

    def add_counted(self, *events, owner=None, counts=None, **kwargs):
        counts = counts or {'third': THIRD}
        return self.journal.add([(e, list(counts)) for e in events],
                                claim=owner and journal.Claim(owner),
                                counts=counts, **kwargs)

    def detail(self, job):
        return self.journal.get(job.id)['detail']

    def test_the_third_error_of_a_lease_acts_and_no_other(self):
        lease = fake_esi_leap.lease_data()
        first, = self.add_counted(_error('e1', lease), owner='me')
        second, = self.add_counted(_error('e2', lease), owner='me')
        third, = self.add_counted(_error('e3', lease), owner='me')
        fourth, fifth = self.add_counted(_error('e4', lease),
                                         _error('e5', lease), owner='me')
        self.assertEqual([journal.SKIPPED, journal.SKIPPED, journal.RUNNING,
                          journal.SKIPPED, journal.SKIPPED],
                         [j.state for j in (first, second, third, fourth,
                                            fifth)])
        self.assertEqual([_nth(1), _nth(2), None, _acted(third.id),
                          _acted(third.id)],
                         [self.detail(j) for j in (first, second, third,
                                                   fourth, fifth)])
        self.assertEqual(_nth(1), first.detail)
        row = self.journal.get(first.id)
        self.assertEqual((None, 0), (row['owner'], row['attempts']))
        self.assertIsNotNone(row['finished_at'])
        self.assertEqual(4, self.journal.counts()[journal.SKIPPED])

    def test_a_redelivered_event_counts_once(self):
        lease = fake_esi_leap.lease_data()
        self.add_counted(_error('e1', lease))
        self.assertEqual([], self.add_counted(_error('e1', lease)))
        second, = self.add_counted(_error('e2', lease))
        self.assertEqual(_nth(2), second.detail)
        # A batch the broker offers again, with one event that is new.
        third, = self.add_counted(_error('e1', lease), _error('e2', lease),
                                  _error('e3', lease))
        self.assertEqual((journal.PENDING, 'e3'),
                         (third.state, third.event.id))
        self.assertEqual([], self.add_counted(_error('e3', lease)))
        self.assertEqual(3, len(self.journal.rows()))

    def test_one_batch_counts_in_arrival_order(self):
        lease = fake_esi_leap.lease_data()
        jobs = self.add_counted(*[_error('e%d' % i, lease)
                                  for i in range(5)])
        self.assertEqual([journal.SKIPPED, journal.SKIPPED, journal.PENDING,
                          journal.SKIPPED, journal.SKIPPED],
                         [j.state for j in sorted(jobs, key=lambda j: j.id)])

    def test_leases_and_rules_count_apart(self):
        counts = {'third': THIRD, 'second': policies.OnCount(2, ERROR)}
        one = fake_esi_leap.lease_data(node_uuid='node-a')
        two = fake_esi_leap.lease_data(node_uuid='node-a')
        # Interleaved, in batches of their own.
        for number, lease in enumerate((one, two, two, one, two)):
            self.add_counted(_error('e%d' % number, lease), counts=counts)
        acted = sorted((_lease_of(r), r['rule'], r['event_id'])
                       for r in self.journal.rows()
                       if r['state'] == journal.PENDING)
        self.assertEqual(sorted([(one['uuid'], 'second', 'e3'),
                                 (two['uuid'], 'second', 'e2'),
                                 (two['uuid'], 'third', 'e4')]), acted)

    def test_an_event_without_a_lease_is_skipped_and_says_why(self):
        for number, uuid in enumerate((None, '', 42)):
            lease = fake_esi_leap.lease_data(uuid=uuid)
            job, = self.add_counted(_error('n%d' % number, lease))
            self.assertEqual(journal.SKIPPED, job.state)
            self.assertEqual('on_count: the event names no lease to count '
                             'it by', self.detail(job))
        lease = fake_esi_leap.lease_data()
        del lease['uuid']
        job, = self.add_counted(_error('gone', lease))
        self.assertIn('no lease', self.detail(job))

    def test_other_rules_of_the_event_are_not_counted(self):
        lease = fake_esi_leap.lease_data()
        jobs = self.journal.add([(_error('e1', lease), ['third', 'page'])],
                                counts={'third': THIRD})
        self.assertEqual({'third': journal.SKIPPED, 'page': journal.PENDING},
                         {j.rule: j.state for j in jobs})

    def test_a_timed_rule_schedules_the_nth_only(self):
        timers = {'third': policies.parse_at('event_time + 1h')}
        lease = fake_esi_leap.lease_data()
        now = journal.utcnow().isoformat()
        jobs = [self.add_counted(event.Event(
            ERROR, lease, id='e%d' % i, timestamp=now), timers=timers)[0]
            for i in range(4)]
        self.assertEqual([journal.SKIPPED, journal.SKIPPED,
                          journal.SCHEDULED, journal.SKIPPED],
                         [j.state for j in jobs])
        self.assertEqual([None, None, None],
                         [self.journal.get(j.id)['next_attempt_at']
                          for j in jobs if j.state == journal.SKIPPED])
        self.assertEqual([jobs[2].id],
                         [row['id'] for row in self.journal.timers()])

    def test_jobs_the_count_skips_take_no_once_per_key(self):
        # The third error, and once per node however many leases fail
        # on it.
        once = {'third': policies.OncePer('node_uuid', 0)}
        lease = fake_esi_leap.lease_data(node_uuid='node-a')
        jobs = [self.add_counted(_error('e%d' % i, lease), once=once)[0]
                for i in range(4)]
        self.assertEqual([journal.SKIPPED, journal.SKIPPED, journal.PENDING,
                          journal.SKIPPED], [j.state for j in jobs])
        self.assertEqual(_acted(jobs[2].id), self.detail(jobs[3]))
        other = fake_esi_leap.lease_data(node_uuid='node-a')
        jobs = [self.add_counted(_error('o%d' % i, other), once=once)[0]
                for i in range(3)]
        self.assertEqual([journal.SKIPPED] * 3, [j.state for j in jobs])
        self.assertIn('acted on once_per node_uuid=node-a',
                      self.detail(jobs[2]))

    def test_a_dead_nth_job_is_retried_by_the_operator_not_replaced(self):
        lease = fake_esi_leap.lease_data()
        for i in range(2):
            self.add_counted(_error('e%d' % i, lease))
        third, = self.add_counted(_error('e2', lease), owner='me')
        ends.finish(self.journal, third.id, 'me', journal.DEAD, cases.FAIL,
                    0)
        fourth, = self.add_counted(_error('e3', lease))
        self.assertEqual(_acted(third.id), self.detail(fourth))
        self.assertEqual(1, self.journal.retry([third.id]))
        self.assertEqual(journal.PENDING,
                         self.journal.get(third.id)['state'])

    def test_jobs_pruned_from_the_journal_no_longer_count(self):
        lease = fake_esi_leap.lease_data()
        for i in range(3):
            job, = self.add_counted(_error('e%d' % i, lease), owner='me')
        ends.finish(self.journal, job.id, 'me', journal.DONE, cases.OK, 0)
        self.journal.purge(journal.utcnow() + datetime.timedelta(days=1))
        jobs = [self.add_counted(_error('f%d' % i, lease))[0]
                for i in range(3)]
        self.assertEqual([_nth(1), _nth(2), None],
                         [self.detail(j) for j in jobs])


def _lease_of(row):
    return event.Event.from_json(row['event']).lease


class OnCountCostTest(cases.JournalTestCase):
    """A count reads the lease's own jobs, however many others are kept."""

    def test_the_count_searches_an_index_of_the_lease_and_rule(self):
        for statement, values in (
                (statements.COUNT_UP_TO, dict(b_id=9, b_limit=4)),
                (statements.NTH_JOB, dict(b_offset=2))):
            compiled = statement.compile(dialect=self.journal.engine.dialect)
            bound = compiled.construct_params(dict(
                values, b_rule='third', b_lease='a-lease'))
            with self.journal.engine.connect() as conn:
                plan = ' '.join(row[-1] for row in conn.exec_driver_sql(
                    'EXPLAIN QUERY PLAN ' + compiled.string, tuple(
                        bound[name] for name in compiled.positiontup)))
            self.assertIn('USING COVERING INDEX ix_jobs_lease_rule', plan)
            self.assertNotIn('SCAN jobs', plan)


class ReplayTest(base.TestCase):
    """manage replay counts a replayed event, unless told not to."""

    def setUp(self):
        super().setUp()
        url = 'sqlite:///%s' % os.path.join(self.dir, 'journal.sqlite')
        self.config = self.write('m.conf', '[journal]\nconnection = %s\n%s'
                                 % (url, RULE % 'on_count = 3'))
        store = journal.Journal(url)
        self.addCleanup(store.close)
        lease = fake_esi_leap.lease_data()
        self.ids = [store.add([(_error('e%d' % i, lease), ['third'])],
                              counts={'third': THIRD})[0].id
                    for i in range(3)]

    def manage(self, *args):
        out = self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', io.StringIO())).new_value
        rc = manage.main(['--config-file', self.config] + list(args),
                         conf=type(self.conf)(), setup_logging=False)
        self.assertEqual(0, rc)
        return out.getvalue()

    def test_replay_honours_on_count_unless_told(self):
        out = self.manage('replay', '--job', str(self.ids[2]))
        self.assertIn('0 new job(s)', out)
        self.assertIn(_acted(self.ids[2]), out)
        out = self.manage('replay', '--job', str(self.ids[2]),
                          '--ignore-on-count')
        self.assertIn('1 new job(s)', out)


class CountingPipelineTest(base.TestCase):
    """The listener's endpoint, journal and workers count as the journal."""

    def test_the_third_error_runs_the_action_once(self):
        calls = os.path.join(self.dir, 'calls')
        self.script('page.sh', 'echo "$1" >> %s' % calls)
        self.load('''
[journal]
connection = sqlite:///%s/journal.sqlite
[page]
events = esi_leap.lease.fulfill.error
script = page.sh
script_params = uuid
on_count = 3
''' % self.dir)
        pipe = self.start_pipeline()
        endpoint = listener.FulfillEndpoint(pipe, requeue_delay=0)
        lease = fake_esi_leap.lease_data()
        messages = [fake_esi_leap.endpoint_message(
            dict(lease, status=status), event_type=ERROR)
            for status in ('created', 'wait fulfill', 'wait fulfill',
                           'wait fulfill')]
        for message in messages[:3] + messages[2:]:
            endpoint.error([message])
        found = cases.wait_counts(pipe.journal, lambda counts: counts[
            journal.DONE] == 1, 20, 0.05)
        self.assertIsNotNone(found, pipe.journal.counts())
        self.assertEqual(3, found[journal.SKIPPED])
        self.assertEqual(4, len(pipe.journal.rows()))
        with open(calls) as f:
            self.assertEqual([lease['uuid']], f.read().split())
