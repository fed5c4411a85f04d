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
"""The lease context end to end: real broker, services, both journals."""

import json
import os
import subprocess

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import base
from esi_event_actions.tests.functional.harness import postgres

FULFIL = fake_esi_leap.FULFILL_END
DELETE = 'esi_leap.lease.delete.end'

# Writes {"vlan": <the lease's id>}; with purpose "big", a note too large
# for the context; with "huge", more than any context may be; with "none",
# nothing.
FULFIL_SH = '''#!/bin/sh
case "$2" in
none) exit 0 ;;
big) note=$(printf '%0200d' 0) ;;
huge) head -c 2000000 /dev/zero > "$ESI_CONTEXT_OUT"; exit 0 ;;
*) note=small ;;
esac
printf '{"vlan": %s, "note": "%s"}' "$1" "$note" > "$ESI_CONTEXT_OUT"
'''

RULES = '''
    [fulfil]
    events = esi_leap.lease.fulfill.end
    script = fulfil.sh
    script_params = id,purpose

    [undo]
    events = esi_leap.lease.delete.end
    script = undo
    script_params = uuid,context.vlan
    '''


# The delete undoes only what the fulfil did ([undo] is RULES' last).
FILTERED = RULES + '''filter_params = {"context.vlan": {"exists": true}}
    '''


class LeaseContextTest(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.write('fulfil.sh', FULFIL_SH, 0o755)
        self.stdin_dir = os.path.join(self.dir, 'stdin')
        os.mkdir(self.stdin_dir)
        # Keeps each delete job's standard input, by event id.
        self.calls = self.recorder('undo', before='cat > %s/"$ESI_EVENT_ID"'
                                   % self.stdin_dir)

    def start(self, extra='', name='service', rules=RULES):
        svc = self.service(self.config(rules, extra=extra,
                                       name=name + '.conf'), name=name)
        svc.wait_listening()
        return svc

    def lease(self, vlan, **data):
        return fake_esi_leap.lease_data(id=vlan, **data)

    def done(self, count, what):
        base.wait_for(lambda: len(self.journal_rows(
            state=journal.DONE)) >= count, 60, what)

    def undone(self):
        """{lease uuid: (vlan argument, context on stdin)} of each delete."""
        seen = {}
        for event_id, rule, (uuid, vlan) in self.calls.read():
            with open(os.path.join(self.stdin_dir, event_id)) as f:
                stdin = json.load(f)
            self.assertEqual(uuid, stdin['data']['uuid'])
            seen[uuid] = (vlan, stdin['context'])
        return seen

    def context(self, lease):
        store = journal.Journal(self.journal_url)
        try:
            return store.context(lease['uuid'])
        finally:
            store.close()

    def manage(self, *args):
        proc = subprocess.run(base.MANAGE + [
            '--config-file', os.path.join(self.dir, 'service.conf'),
            'context'] + list(args), capture_output=True, text=True,
            timeout=120)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        return proc.stdout

    def test_the_delete_job_receives_what_the_fulfil_job_wrote(self):
        self.start()
        lease = self.lease(1234)
        self.esi_leap.emit(FULFIL, lease)
        self.esi_leap.emit(DELETE, lease)
        self.done(2, 'both jobs')
        self.assertEqual({lease['uuid']: ('1234', {'vlan': 1234,
                                                   'note': 'small'})},
                         self.undone())

    def test_a_filter_on_the_context_chooses_the_rule(self):
        self.start(rules=FILTERED)
        made, unmade = self.lease(1234), self.lease(99, purpose='none')
        for lease in (made, unmade):
            self.esi_leap.emit(FULFIL, lease)
        self.done(2, 'the fulfil jobs')
        for lease in (made, unmade):
            self.esi_leap.emit(DELETE, lease)
        row, = base.wait_for(lambda: self.journal_rows(
            state=journal.SKIPPED), 60, 'the skipped delete')
        self.done(3, 'the delete job')
        self.assertIn(unmade['uuid'], row['event'])
        self.assertIn('context.vlan is missing', row['detail'])
        self.assertEqual([made['uuid']], list(self.undone()))

    def test_a_kill_9_between_the_two_keeps_it(self):
        svc = self.start()
        lease = self.lease(1234)
        self.esi_leap.emit(FULFIL, lease)
        self.done(1, 'the fulfil job')
        svc.kill()
        svc.start()
        svc.wait_listening()
        self.esi_leap.emit(DELETE, lease)
        self.done(2, 'the delete job')
        self.assertEqual({lease['uuid']: ('1234', {'vlan': 1234,
                                                   'note': 'small'})},
                         self.undone())

    def test_two_instances_on_postgresql_share_it(self):
        extra = self.shared_journal()
        one = self.start(extra, 'one')
        first = [self.lease(2000 + n) for n in range(4)]
        for lease in first:
            self.esi_leap.emit(FULFIL, lease)
        self.done(4, 'the fulfil jobs of one')
        # Every delete of these goes to the other instance.
        self.start(extra, 'two')
        one.stop()
        for lease in first:
            self.esi_leap.emit(DELETE, lease)
        self.done(8, 'the delete jobs of two')
        # Then both at once.
        one.start()
        one.wait_listening()
        second = [self.lease(3000 + n) for n in range(8)]
        for lease in second:
            self.esi_leap.emit(FULFIL, lease)
        self.done(16, 'the fulfil jobs of both')
        for lease in second:
            self.esi_leap.emit(DELETE, lease)
        self.done(24, 'the delete jobs of both')
        self.assertEqual(
            {lease['uuid']: (str(lease['id']), {'vlan': lease['id'],
                                                'note': 'small'})
             for lease in first + second}, self.undone())

    def test_the_size_bound_refuses_an_oversized_write(self):
        self.start('''
            [journal]
            context_max_bytes = 64
            ''')
        lease = self.lease(1234)
        self.esi_leap.emit(FULFIL, lease)
        self.done(1, 'the first fulfil job')
        size = len(json.dumps({'note': '0' * 200, 'vlan': 1234}))
        for purpose, reason in [
                ('big', 'context of lease %s not written: %d bytes, over '
                 'the limit of 64 (exit status 0)' % (lease['uuid'], size)),
                ('huge', 'context not written: $ESI_CONTEXT_OUT holds more '
                 'than 1048576 bytes (exit status 0)')]:
            self.esi_leap.emit(FULFIL, dict(lease, purpose=purpose))
            row = base.wait_for(lambda: [r for r in self.journal_rows(
                state=journal.DEAD) if purpose in r['event']], 60,
                'the %s write refused' % purpose)[0]
            self.assertEqual((1, reason), (row['attempts'], row['detail']))
            self.assertEqual({'vlan': 1234, 'note': 'small'},
                             self.context(lease))

    def check_repairs(self):
        svc = self.start()
        lease = self.lease(1234)
        self.esi_leap.emit(FULFIL, lease)
        self.done(1, 'the fulfil job')
        uuid = lease['uuid']
        self.assertEqual({'vlan': 1234, 'note': 'small'},
                         json.loads(self.manage('show', uuid)))
        self.assertIn(uuid, self.manage('list'))
        self.manage('set', uuid, 'vlan=4321', 'fip="10.0.0.7"')
        self.assertEqual({'vlan': 4321, 'fip': '10.0.0.7'},
                         json.loads(self.manage('unset', uuid, 'note')))
        self.esi_leap.emit(DELETE, lease)
        self.done(2, 'the delete job')
        self.assertEqual({uuid: ('4321', {'vlan': 4321,
                                          'fip': '10.0.0.7'})},
                         self.undone())
        self.assertNotIn('10.0.0.7', svc.log())

    def test_manage_context_repairs_what_the_service_uses(self):
        self.check_repairs()

    def test_manage_context_on_postgresql(self):
        self.journal_url = self.useFixture(postgres.PostgresFixture()).url
        self.check_repairs()
