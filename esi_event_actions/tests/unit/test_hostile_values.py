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
"""Values a lessee, a publisher or an action chose, on a real journal.

Every class here runs on SQLite; the functional tests run them again on a
private PostgreSQL, whose text types refuse what SQLite takes.
"""

import json

import sqlalchemy as sa

from esi_event_actions.actions import base as action_base
from esi_event_actions import bootstrap
from esi_event_actions import event
from esi_event_actions import journal
from esi_event_actions import retries
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import cases
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions import workers

NUL_NAME = 'evil\u0000lease'
SURROGATE_NAME = 'lone\ud800x'


def strict_loads(text):
    """json.loads refusing NaN and the infinities, as strict parsers do."""
    def refuse(name):
        raise ValueError('not JSON: %s' % name)
    return json.loads(text, parse_constant=refuse)


class JournalValuesTest(cases.JournalTestCase):
    """What the journal stores of hostile values, and what it refuses."""

    def end(self, job, result, state=journal.DONE):
        now = journal.utcnow()
        return journal.End(job, state, result, 0.1, now, now)

    def claimed(self, data, event_id='m1'):
        self.journal.add([(event.Event('esi_leap.lease.fulfill.end', data,
                                       id=event_id), ['r'])])
        return self.journal.claim('me', 10, 60)[0]

    def test_nul_and_surrogates_in_an_end_are_recorded(self):
        # Row 1: a script printed a lease name holding a NUL.
        job = self.claimed(fake_esi_leap.lease_data(name=NUL_NAME))
        result = action_base.Result(
            action_base.RETRY, 'exit status 1: ' + NUL_NAME, 1,
            'out %s %s' % (NUL_NAME, SURROGATE_NAME))
        self.assertEqual(set(), self.journal.record(
            'me', [self.end(job, result, journal.DEAD)]))
        row = self.journal.get(job.id)
        self.assertEqual(journal.DEAD, row['state'])
        self.assertEqual('exit status 1: evil\ufffdlease', row['detail'])
        self.assertEqual('out evil\ufffdlease lone\ufffdx', row['output'])

    def test_the_event_comes_back_as_it_was_sent(self):
        data = fake_esi_leap.lease_data(name=NUL_NAME, purpose=SURROGATE_NAME)
        job = self.claimed(data)
        self.assertEqual(NUL_NAME, job.event.data['name'])
        self.assertEqual(SURROGATE_NAME, job.event.data['purpose'])

    def test_ids_and_nodes_no_column_can_hold_are_digests(self):
        for event_id, node in [('m\u0000', 'n\u0000'),
                               ('m\udc80', 'n\udc80'),
                               ('m' * 300, 'n' * 300)]:
            data = fake_esi_leap.lease_data(resource_uuid=node)
            entry = (event.Event('esi_leap.lease.fulfill.end', data,
                                 id=event_id), ['r'])
            jobs = self.journal.add([entry])
            self.assertEqual(1, len(jobs))
            self.assertTrue(jobs[0].event.id.startswith('sha256:'))
            self.assertTrue(jobs[0].node.startswith('sha256:'))
            # A redelivery is still recognised.
            self.assertEqual([], self.journal.add([entry]))

    def test_an_end_the_database_refuses_is_recorded_without_it(self):
        # No column holds an exit status of 2**70, on either database:
        # the end is recorded without it, once, not retried for ever.
        job = self.claimed(fake_esi_leap.lease_data())
        result = action_base.Result(action_base.SUCCESS, 'ok', 2 ** 70, 'x')
        other = self.claimed(fake_esi_leap.lease_data(), event_id='m2')
        self.assertEqual(set(), self.journal.record('me', [
            self.end(job, result),
            self.end(other, cases.OK)]))
        row = self.journal.get(job.id)
        self.assertEqual(journal.DONE, row['state'])
        self.assertIsNone(row['exit_status'])
        self.assertIn('not stored', row['detail'])
        self.assertEqual('ok', self.journal.get(other.id)['detail'])
        self.assertIn('cannot store its detail or output',
                      self.logger.output)

    def test_permanent_errors_are_told_from_outages(self):
        refused = sa.exc.DataError('INSERT', {}, Exception('bad value'))
        self.assertTrue(journal.permanent(refused))
        self.assertTrue(journal.permanent(sa.exc.StatementError(
            'binding', 'INSERT', {}, UnicodeEncodeError(
                'utf-8', '\ud800', 0, 1, 'surrogates not allowed'))))
        lost = sa.exc.OperationalError('INSERT', {}, Exception('gone'))
        self.assertFalse(journal.permanent(lost))
        self.assertFalse(journal.permanent(ConnectionError('refused')))
        self.assertNotIn('INSERT', journal.reason(refused))


class _Refusing(journal.Journal):
    """A journal refusing one event id, as a database refuses a value."""

    refused = 'poison'

    def add(self, entries, **kwargs):
        if any(e.id == self.refused for e, _ in entries):
            raise sa.exc.DataError('INSERT INTO jobs', {}, ValueError(
                'PostgreSQL text fields cannot contain NUL (0x00) bytes'))
        return super().add(entries, **kwargs)


class HostileLesseeTest(cases.PipelineTestCase):

    def test_a_nul_in_a_lease_name_stops_nothing(self):
        # Row 1: the script prints the name; 20 normal leases follow.
        handled = self.deliver(fake_esi_leap.lease_message(name=NUL_NAME))
        normal = [fake_esi_leap.lease_message(name='lease-%d' % i)
                  for i in range(20)]
        self.assertEqual(handled, self.deliver(*normal))
        self.wait_final(63)
        rows = self.job_rows('act')
        self.assertEqual([journal.DONE] * 21, [r['state'] for r in rows])
        self.assertEqual('evil\ufffdlease|test', rows[0]['output'][:15])

    def test_a_lone_surrogate_once_per_value_is_no_poison(self):
        # Row 2: once_per = name, a name no encoder takes, then a valid
        # notification behind it.
        first = fake_esi_leap.lease_message(name=SURROGATE_NAME)
        self.assertEqual(self.deliver(fake_esi_leap.lease_message()),
                         self.deliver(first))
        again = fake_esi_leap.lease_message(name=SURROGATE_NAME)
        self.deliver(again, fake_esi_leap.lease_message(name='after'))
        self.wait_final(12)
        once = self.job_rows('once')
        self.assertEqual(
            [journal.DONE, journal.DONE, journal.SKIPPED, journal.DONE],
            [r['state'] for r in once])
        self.assertIn('lone\ufffdx', once[2]['detail'])
        # The skip is logged, once, where the ends of jobs are.
        self.assertEqual(1, self.logger.output.count(': skipped ('))
        self.assertIn(': skipped (job %d acted on once_per name=lone\ufffdx)'
                      % once[1]['id'], self.logger.output)
        self.assertEqual(4, len(self.job_rows('act')))

    def test_non_finite_numbers_reach_the_script_as_strict_json(self):
        # Row 12, through the whole pipeline: what the journal stores, and
        # so what every action receives, is strict JSON.
        data = fake_esi_leap.lease_data(properties={'big': float('inf'),
                                                    'odd': float('nan')})
        self.deliver(fake_esi_leap.endpoint_message(data))
        self.wait_final(3)
        stored = self.journal.get(self.job_rows('act')[0]['id'])['event']
        self.assertEqual({'big': 'Infinity', 'odd': 'NaN'},
                         strict_loads(stored)['data']['properties'])

    def test_log_lines_escape_what_others_chose(self):
        # Row 9: escape sequences reach no log line raw.
        bad = fake_esi_leap.endpoint_message({}, message_id='m\x1b[2J\x07')
        bad['payload'] = 'not an object \x1b]0;pwned\x07'
        self.deliver(bad, fake_esi_leap.lease_message(
            purpose='\x1b[31mred', properties={'exit': 1}))
        self.wait_final(3)
        self.assertIn('Dropping notification m\\x1b[2J\\x07',
                      self.logger.output)
        self.assertIn('exit status 1: \\x1b[31mred', self.logger.output)
        self.assertNotIn('\x1b', self.logger.output)


class RefusedEventTest(cases.PipelineTestCase):
    """An event the journal refuses is set aside; the batch goes on."""

    journal_class = _Refusing

    def test_the_refused_event_is_kept_and_the_rest_run(self):
        batch = [fake_esi_leap.lease_message(name='n%d' % i)
                 for i in range(9)]
        batch.insert(4, fake_esi_leap.lease_message(name='bad',
                                                    message_id='poison'))
        self.assertEqual('handled', self.deliver(*batch))
        self.wait_final(27)
        names = [json.loads(r['event'])['data']['name']
                 for r in self.job_rows('act')]
        self.assertEqual(['n%d' % i for i in range(9)], names)
        rejected = self.journal.rejected()
        self.assertEqual(1, len(rejected))
        self.assertEqual('poison', rejected[0]['event_id'])
        self.assertEqual('act,once,filtered', rejected[0]['rules'])
        self.assertIn('NUL', rejected[0]['reason'])
        self.assertEqual('bad', json.loads(
            rejected[0]['event'])['data']['name'])
        self.assertEqual(1, self.logger.output.count('Rejected esi_leap'))

    def test_an_outage_still_sends_the_batch_back(self):
        self.journal.add = lambda *a, **k: (_ for _ in ()).throw(
            sa.exc.OperationalError('INSERT', {}, Exception('gone away')))
        self.assertEqual('requeue', self.deliver(
            fake_esi_leap.lease_message()))
        self.assertEqual([], self.journal.rejected())


class WorkerThreadTest(cases.JournalTestCase):
    """Nothing a worker computes can end its thread."""

    def test_a_delay_that_overflows_ends_the_job_not_the_worker(self):
        # Row 10: a retry policy whose delay no date can hold.
        def fail(job, attempt):
            if job.event.id == 'm1':
                return cases.FAIL
            return cases.OK
        policy = retries.RetryPolicy(max_attempts=5, base_delay=1e12,
                                     max_delay=1e300)
        pool = workers.WorkerPool(self.journal, fail, 1,
                                  policy=lambda job: policy,
                                  poll_interval=0.05)
        pool.start()
        self.addCleanup(pool.stop, 5)
        first, second = self.add(('m1', 'A'), ('m2', 'B'))
        pool.take([first, second])
        self.assertTrue(pool.wait_idle(10))
        row = self.journal.get(first.id)
        self.assertEqual(journal.DEAD, row['state'])
        self.assertIn('OverflowError', row['detail'])
        self.assertEqual(journal.DONE, self.journal.get(second.id)['state'])

    def test_a_plugin_result_out_of_bounds_is_bounded(self):
        huge = action_base.Result(action_base.SUCCESS, 'd' * 10 ** 6,
                                  2 ** 40, 'o' * 10 ** 6)
        pool = workers.WorkerPool(self.journal, lambda job, a: huge, 1,
                                  poll_interval=0.05, output_limit=100)
        pool.start()
        self.addCleanup(pool.stop, 5)
        job, = self.add(('m1', 'A'))
        pool.take([job])
        self.assertTrue(pool.wait_idle(10))
        row = self.journal.get(job.id)
        self.assertEqual(journal.DONE, row['state'])
        self.assertEqual(workers.DETAIL_LIMIT, len(row['detail']))
        self.assertEqual(100, len(row['output']))
        self.assertIsNone(row['exit_status'])


class BoundsTest(base.TestCase):
    """Numeric options check-config refuses (row 10)."""

    def problems(self, text):
        self.script('act.sh')
        self.load('[DEFAULT]\ntransport_url = fake://\n' + text)
        try:
            bootstrap.check(self.conf)
        except Exception as exc:
            return str(exc)
        return ''

    def test_delays_no_date_can_hold_are_refused(self):
        for text, key in [
                ('[worker]\nretry_base_delay = 1e12\n', 'retry_base_delay'),
                ('[worker]\nretry_max_delay = 1e300\n', 'retry_max_delay'),
                ('[worker]\nretry_max_delay = nan\n', 'retry_max_delay'),
                ('[worker]\nlease_timeout = inf\n', 'lease_timeout'),
                ('[journal]\ndone_retention_days = 1e300\n',
                 'done_retention_days'),
                ('[r]\nevents = esi_leap.lease.fulfill.end\n'
                 'script = act.sh\nretry_base_delay = 1e12\n',
                 'retry_base_delay'),
                ('[r]\nevents = esi_leap.lease.fulfill.end\n'
                 'script = act.sh\nonce_per = uuid\n'
                 'once_per_window = 1e300\n', 'once_per_window'),
                ('[r]\nevents = esi_leap.lease.fulfill.end\n'
                 'action = webhook\nurl = http://127.0.0.1:9/\n'
                 'timeout = 1e300\n', 'timeout'),
                ('[r]\nevents = esi_leap.lease.fulfill.end\n'
                 'script = act.sh\nscript_timeout = 10000000\n',
                 'script_timeout')]:
            problem = self.problems(text)
            self.assertIn(key, problem, text)

    def test_reasonable_values_pass(self):
        self.assertEqual('', self.problems(
            '[worker]\nretry_base_delay = 3600\nretry_max_delay = 86400\n'))


class StrictJsonTest(base.TestCase):
    """Row 12: JSON we emit is strict, whatever the payload held."""

    def test_event_json_and_param_text(self):
        data = {'big': float('inf'), 'small': float('-inf'),
                'odd': float('nan'), 'fine': 1.5, 'nested': [float('inf')]}
        ev = event.Event('esi_leap.lease.fulfill.end', data, id='m')
        decoded = strict_loads(ev.to_json())['data']
        self.assertEqual({'big': 'Infinity', 'small': '-Infinity',
                          'odd': 'NaN', 'fine': 1.5,
                          'nested': ['Infinity']}, decoded)
        self.assertEqual('["Infinity"]', event.as_text([float('inf')]))
        # The event in memory is left as the publisher sent it.
        self.assertEqual(float('inf'), ev.data['big'])
