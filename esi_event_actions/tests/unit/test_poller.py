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

import os
import time
import urllib.request

import fixtures
from oslo_config import cfg

from esi_event_actions import bootstrap
from esi_event_actions.cmd import poller as poller_cmd
from esi_event_actions import esi_leap_client
from esi_event_actions import history
from esi_event_actions import journal
from esi_event_actions import metrics
from esi_event_actions import pipeline
from esi_event_actions import service
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap

FULFILL = 'esi_leap.lease.fulfill.end'
DELETE = 'esi_leap.lease.delete.end'

LEASE = {
    'uuid': 'lease-1', 'name': 'my lease', 'project': 'lessee',
    'project_id': 'lessee-1', 'owner': 'owner', 'owner_id': 'owner-1',
    'resource_type': 'dummy_node', 'resource_uuid': 'node-1',
    'resource': 'dummy-node-1', 'resource_class': 'baremetal',
    'resource_properties': {'vendor': 'Dell', 'cpus': 16},
    'start_time': '2026-11-26T10:00:00', 'end_time': '2026-11-27T10:00:00',
    'fulfill_time': '2026-11-26T10:00:03.123456', 'expire_time': None,
    'status': 'active', 'properties': {}, 'purpose': 'ci',
    'offer_uuid': None, 'parent_lease_uuid': None,
}


class PollerTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.api = self.useFixture(fake_esi_leap.API())
        self.api.leases['lease-1'] = LEASE
        self.calls = os.path.join(self.dir, 'calls')
        self.script('act.sh', 'echo "$ESI_EVENT_ID $*" >> %s' % self.calls)

    def configure(self, extra='', filters='{"purpose": "ci"}'):
        self.load('''
[esi_leap]
endpoint_override = %s
[journal]
connection = sqlite:///%s/journal.sqlite
[poller]
lookback = 5
%s
[act]
events = esi_leap.lease.*.end
script = act.sh
script_params = node_name,node_properties.vendor,fulfill_time,status
filter_params = %s
''' % (self.api.url, self.dir, extra, filters))

    def poller(self, extra='', filters='{"purpose": "ci"}'):
        self.configure(extra, filters)
        ruleset = bootstrap.check(self.conf)
        store = journal.Journal(self.conf.journal.connection)
        self.addCleanup(store.close)
        pipe = pipeline.Pipeline(ruleset, store, size=2, poll_interval=0.05)
        pipe.start()
        self.addCleanup(pipe.stop, 10)
        client = history.HistoryClient(esi_leap_client.adapter(self.conf))
        return history.HistoryPoller(client, pipe, self.conf.poller)

    def run_poll(self, poller):
        jobs = poller.poll()
        self.assertTrue(poller.pipeline.pool.wait_idle(20))
        return jobs

    def actions(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return f.read().splitlines()

    def test_starts_from_now_and_acts_once_on_new_events(self):
        self.api.add(FULFILL, 'lease-1', 'node-1')
        poller = self.poller()
        self.assertEqual(0, self.run_poll(poller))
        self.assertEqual(1, poller.journal.checkpoint('esi-leap'))
        self.assertEqual(0, self.run_poll(poller))
        self.api.add(DELETE, 'lease-1', 'node-1')
        self.assertEqual(1, self.run_poll(poller))
        self.assertEqual(0, self.run_poll(poller))
        self.assertEqual(['history:2 dummy-node-1 Dell '
                          '2026-11-26T10:00:03Z active'], self.actions())

    def test_unordered_rows_and_a_late_id_in_the_lookback(self):
        poller = self.poller('start_from = beginning')
        for number in (1, 2, 3, 5, 6):
            self.api.add(FULFILL, 'lease-1', 'node-1', event_id=number)
        self.assertEqual(5, self.run_poll(poller))
        self.assertEqual(6, poller.journal.checkpoint('esi-leap'))
        # Event 4 commits after 6 was read: the look-back window finds it.
        self.api.add(DELETE, 'lease-1', 'node-1', event_id=4)
        self.assertEqual(1, self.run_poll(poller))
        self.assertEqual(0, self.run_poll(poller))
        ids = [line.split()[0] for line in self.actions()]
        self.assertEqual(['history:%d' % n for n in (1, 2, 3, 5, 6, 4)], ids)

    def test_new_poller_never_acts_on_old_events_in_its_window(self):
        for _ in range(3):
            self.api.add(FULFILL, 'lease-1', 'node-1')
        poller = self.poller()
        for _ in range(2):
            self.assertEqual(0, self.run_poll(poller))
        self.assertEqual([], self.actions())

    def test_start_from_an_id(self):
        for _ in range(4):
            self.api.add(FULFILL, 'lease-1', 'node-1')
        poller = self.poller('start_from = 2')
        self.assertEqual(2, self.run_poll(poller))
        self.assertEqual(0, self.run_poll(poller))
        self.assertEqual(['history:3', 'history:4'],
                         [a.split()[0] for a in self.actions()])

    def test_errors_never_move_the_checkpoint(self):
        poller = self.poller('start_from = beginning')
        self.run_poll(poller)
        self.api.add(FULFILL, 'lease-1', 'node-1')
        for fault in (500, 503, 'garbage'):
            self.api.faults.append(fault)
            self.assertRaises(history.HistoryError, poller.poll)
            self.assertEqual(0, poller.journal.checkpoint('esi-leap'))
        # The lease lookup fails: nothing is stored either.
        self.api.faults.extend([None, 502])
        self.assertRaises(history.HistoryError, poller.poll)
        self.assertEqual(0, poller.journal.checkpoint('esi-leap'))
        self.assertEqual(1, self.run_poll(poller))

    def test_unreachable_api(self):
        self.api.httpd.shutdown()
        self.api.httpd.server_close()
        poller = self.poller()
        self.assertRaises(history.HistoryError, poller.poll)

    def test_the_service_counts_failed_polls(self):
        self.configure('poll_interval = 1\n[metrics]\nenabled = true')
        # Every poll fails until the faults are cleared.
        self.api.faults.extend([503] * 1000)
        svc = service.PollerService(
            self.conf, bootstrap.check(self.conf),
            history.HistoryClient(esi_leap_client.adapter(self.conf)))
        svc.status_socket = metrics.listen('127.0.0.1', 0)
        self.addCleanup(svc.status_socket.close)
        svc.start()
        self.addCleanup(svc.stop)
        url = 'http://127.0.0.1:%d/metrics' % svc.status_server.port

        def scrape_until(line):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                text = urllib.request.urlopen(url).read().decode()
                if line in text:
                    return text
                time.sleep(0.05)
            self.fail('no %r in the metrics:\n%s' % (line, text))
        text = scrape_until(
            'esi_event_actions_consumer_up{source="poller"} 0.0')
        failures = [line for line in text.splitlines() if line.startswith(
            'esi_event_actions_poll_failures_total{source="poller"}')]
        self.assertEqual(1, len(failures))
        self.assertGreaterEqual(float(failures[0].split()[-1]), 1.0)
        with self.api.lock:
            self.api.faults.clear()
        scrape_until('esi_event_actions_consumer_up{source="poller"} 1.0')

    def test_lease_is_fetched_once_per_poll_and_gone_leases_still_act(self):
        poller = self.poller('start_from = beginning', filters='{}')
        self.api.add(FULFILL, 'lease-1', 'node-1')
        self.api.add(DELETE, 'lease-1', 'node-1')
        self.api.add(DELETE, 'gone', 'node-2')
        self.api.add('esi_leap.lease.fulfill.start', 'other', 'node-3')
        self.assertEqual(3, self.run_poll(poller))
        lease_gets = [p for p, _ in self.api.requests if 'leases' in p]
        self.assertEqual(['/v1/leases/gone', '/v1/leases/lease-1'],
                         sorted(lease_gets))
        self.assertIn('history:3    ', self.actions())

    def test_server_side_filters(self):
        poller = self.poller('event_types = %s,%s\nproject = lessee-1\n'
                             'resource_type = dummy_node' % (FULFILL, DELETE))
        poller.poll()
        queries = [q for p, q in self.api.requests if p == '/v1/events']
        self.assertEqual({FULFILL, DELETE},
                         {q['event_type'] for q in queries})
        for query in queries:
            self.assertEqual(('lessee-1', 'dummy_node'),
                             (query['lessee_or_owner_id'],
                              query['resource_type']))

    def test_malformed_rows_are_skipped(self):
        self.assertEqual([{'id': 2, 'event_type': 'e', 'event_time': 't',
                           'object_uuid': 'u'}], history.valid_rows([
                               {'id': 2, 'event_type': 'e',
                                'event_time': 't', 'object_uuid': 'u'},
                               {'id': 'x'}, None, ['list'],
                               {'id': True, 'event_type': 'e'},
                               # No checkpoint column holds it.
                               {'id': 2 ** 63, 'event_type': 'e',
                                'event_time': 't', 'object_uuid': 'u'},
                               {'id': -1, 'event_type': 'e',
                                'event_time': 't', 'object_uuid': 'u'}]))

    def test_lease_mapping_matches_the_bus_payload_names(self):
        event = history.to_event({'id': 7, 'event_type': FULFILL,
                                  'event_time': '2026-11-26T10:00:03',
                                  'object_uuid': 'lease-1',
                                  'resource_type': 'dummy_node',
                                  'resource_uuid': 'node-1',
                                  'lessee_id': 'lessee-1',
                                  'owner_id': 'owner-1'}, LEASE)
        self.assertEqual('history:7', event.id)
        self.assertEqual('node-1', event.node)
        data = event.data
        self.assertEqual(('dummy-node-1', 'node-1', {'vendor': 'Dell',
                                                     'cpus': 16}),
                         (data['node_name'], data['node_uuid'],
                          data['node_properties']))
        self.assertEqual(('2026-11-26T10:00:00Z', '2026-11-26T10:00:03Z',
                          None), (data['start_time'], data['fulfill_time'],
                                  data['expire_time']))
        self.assertEqual(('lessee-1', 'owner-1', 'ci'),
                         (data['project_id'], data['owner_id'],
                          data['purpose']))

    def test_run_once(self):
        self.api.add(FULFILL, 'lease-1', 'node-1')
        # No other pipeline: --once is the only process on its journal.
        self.configure('start_from = beginning')
        client = history.HistoryClient(esi_leap_client.adapter(self.conf))
        rules = bootstrap.check(self.conf)
        self.assertEqual(0, poller_cmd.run_once(self.conf, rules, client))
        self.assertEqual(['history:1'], [a.split()[0]
                                         for a in self.actions()])
        self.api.faults.append(500)
        self.assertEqual(1, poller_cmd.run_once(self.conf, rules, client))


class AuthTest(base.TestCase):
    """The poller reaches esi-leap through Keystone, as a tenant would."""

    def setUp(self):
        super().setUp()
        self.api = self.useFixture(fake_esi_leap.API())
        self.api.add(FULFILL, 'lease-1', 'node-1')

    def check(self, adapter):
        rows = history.HistoryClient(adapter).events(0)
        self.assertEqual([1], [r['id'] for r in rows])
        self.assertEqual([fake_esi_leap.TOKEN], self.api.tokens)
        credential = self.api.auth_requests[0]['auth']['identity']
        self.assertEqual(['application_credential'], credential['methods'])
        self.assertEqual({'id': 'cred-id', 'secret': 'cred-secret'},
                         credential['application_credential'])
        for text in ('cred-secret', fake_esi_leap.TOKEN):
            self.assertNotIn(text, self.logger.output)

    def test_application_credential_in_the_config(self):
        self.load('''
[esi_leap]
auth_type = v3applicationcredential
auth_url = %s/identity/v3
application_credential_id = cred-id
application_credential_secret = cred-secret
''' % self.api.url)
        self.check(esi_leap_client.adapter(self.conf))

    def test_clouds_yaml_and_os_cloud(self):
        clouds = self.write('clouds.yaml', '''
clouds:
  mycloud:
    auth_type: v3applicationcredential
    auth:
      auth_url: %s/identity/v3
      application_credential_id: cred-id
      application_credential_secret: cred-secret
    region_name: RegionOne
''' % self.api.url)
        self.useFixture(fixtures.EnvironmentVariable('OS_CLIENT_CONFIG_FILE',
                                                     clouds))
        conf = cfg.ConfigOpts()
        conf.register_cli_opts(poller_cmd.cli_opts)
        bootstrap.parse_args(['--os-cloud', 'mycloud'], conf,
                             default_config_files=[])
        self.check(esi_leap_client.adapter(conf))
