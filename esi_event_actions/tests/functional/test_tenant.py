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
"""Tenant mode against the real esi-leap 1.0: its API, manager and history."""

import collections
import datetime
import subprocess
import time

from esi_event_actions import journal
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import real_esi_leap
from esi_event_actions.tests.functional.harness.real_esi_leap import data

SEED_RULES = '''
    [fulfill]
    events = esi_leap.lease.fulfill.end
    script = fulfill.sh
    script_params = node_name,fulfill_time,uuid
    filter_params = {"purpose": "test", "node_properties.vendor": "foo"}

    [delete]
    events = esi_leap.lease.delete.end
    script = delete.sh
    script_params = node_name,expire_time,uuid
    filter_params = {"purpose": "test", "node_properties.vendor": "foo"}
    '''


class TenantModeTest(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.esi = self.useFixture(real_esi_leap.EsiLeapFixture()).esi_leap
        # A project of its own: tests sharing this esi-leap see only their
        # own events through the lessee_or_owner_id filter.
        self.lessee = self.esi.add_project()

    def poller_config(self, rules, extra=''):
        return self.config(rules, extra='''
            [esi_leap]
            endpoint_override = %s
            [poller]
            poll_interval = 1
            project = %s
            %s
            ''' % (self.esi.api_url, self.lessee, extra))

    def poller(self, config):
        return self.service(config, name='poller', command=base.POLLER,
                            ready='starts after event')

    def test_poller_runs_the_seed_rules_once_each(self):
        fulfill = self.recorder('fulfill.sh')
        delete = self.recorder('delete.sh')
        svc = self.poller(self.poller_config(SEED_RULES))
        svc.wait_listening()
        esi = self.esi
        nodes = [esi.add_node(vendor='foo') for _ in range(3)]
        other = esi.add_node(vendor='bar')

        cancelled = esi.create_lease(nodes[0], self.lessee, purpose='test')
        skipped = esi.create_lease(other, self.lessee, purpose='test')
        offer = esi.create_offer(nodes[1])
        claimed = esi.claim_offer(offer['uuid'], project_id=self.lessee,
                                  purpose='test')
        now = data.utcnow()
        expiring = esi.create_lease(nodes[2], self.lessee, start=now,
                                    end=now + datetime.timedelta(seconds=4),
                                    purpose='test')
        for lease in (cancelled, skipped, claimed, expiring):
            esi.wait_for_event('fulfill.end', lease['uuid'], timeout=60)
        esi.delete_lease(cancelled['uuid'])
        esi.wait_for_event('delete.end', expiring['uuid'], timeout=60)

        base.wait_for(lambda: len(fulfill.read()) >= 3 and
                      len(delete.read()) >= 2, 90, 'every action')
        # A few more polls (one a second): nothing runs twice.
        time.sleep(3)
        got_fulfill = {c[2][2]: c[2] for c in fulfill.read()}
        got_delete = {c[2][2]: c[2] for c in delete.read()}
        self.assertEqual(3, len(fulfill.read()))
        self.assertEqual(2, len(delete.read()))
        self.assertEqual({cancelled['uuid'], claimed['uuid'],
                          expiring['uuid']}, set(got_fulfill))
        self.assertEqual({cancelled['uuid'], expiring['uuid']},
                         set(got_delete))
        args = got_fulfill[cancelled['uuid']]
        self.assertEqual('dummy-node-%s' % nodes[0], args[0])
        # Unlike the bus payload, the lease already has its fulfil time.
        self.assertRegex(args[1], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        self.assertRegex(got_delete[cancelled['uuid']][1], r'Z$')
        self.assertEqual({'history'}, {c[0].split(':')[0]
                                       for c in fulfill.read()})

    def test_kill_9_mid_batch_then_once(self):
        calls = self.recorder('fulfill.sh', before='sleep 0.3')
        self.recorder('delete.sh')
        esi = self.esi
        leases = [esi.create_lease(esi.add_node(vendor='foo'), self.lessee,
                                   purpose='test') for _ in range(10)]
        for lease in leases:
            esi.wait_for_event('fulfill.end', lease['uuid'], timeout=60)
        config = self.poller_config(SEED_RULES, extra='''
            start_from = beginning
            [worker]
            workers = 2
            ''')
        svc = self.poller(config)
        svc.wait_listening()
        base.wait_for(lambda: len(calls.read()) >= 3, 60, 'some actions')
        svc.kill()
        done_at_crash = {r['event_id'] for r in self.journal_rows(
            state=journal.DONE)}
        svc.start()
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) == 10, 120, 'every job done')
        runs = collections.Counter(c[0] for c in calls.read())
        self.assertEqual(10, len(runs))
        self.assertEqual({lease['uuid'] for lease in leases},
                         {c[2][2] for c in calls.read()})
        for event_id in done_at_crash:
            self.assertEqual(1, runs[event_id])
        # What ran again: the jobs running at the kill, and those that had
        # finished but whose end was still in the group commit, at most
        # twice the workers in all (see the architecture guide).
        self.assertLessEqual(sum(1 for n in runs.values() if n > 1), 2 * 2)

    def test_once_for_cron(self):
        calls = self.recorder('fulfill.sh')
        self.recorder('delete.sh')
        config = self.poller_config(SEED_RULES)
        command = base.POLLER + ['--once', '--config-file', config]
        # The first run places the checkpoint at the newest event.
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        lease = self.esi.create_lease(self.esi.add_node(vendor='foo'),
                                      self.lessee, purpose='test')
        self.esi.wait_for_event('fulfill.end', lease['uuid'], timeout=60)
        for _ in range(2):
            proc = subprocess.run(command, capture_output=True, text=True,
                                  timeout=120)
            self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual([lease['uuid']], [c[2][2] for c in calls.read()])
