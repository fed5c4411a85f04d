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
"""What a script or playbook cannot do to the service, end to end.

A lessee chooses the lease's name, purpose and properties, and a careless
script may print gigabytes or leave processes behind: the service's memory,
its secrets and its clean-up jobs must not depend on either.
"""

import os
import signal

import fixtures
import testtools
from testtools import content

from esi_event_actions.actions.ansible import runner
from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import samples
from esi_event_actions.tests.functional.harness import base

SECRETS = {'OS_PASSWORD': 'os-hunter2', 'PGPASSWORD': 'pg-hunter2'}

MIB = 1024 * 1024

# Written to standard output and error before the script waits: the old
# memory files held all of it until the script ended.
STDOUT_BYTES = 1536 * MIB
STDERR_BYTES = 256 * MIB

# What the service may grow by meanwhile: a fraction of what was written.
GROWTH_LIMIT = 256 * MIB

HANG_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Hang, leaving the session behind
      ansible.builtin.shell: >-
        trap '' TERM;
        setsid sleep 1000 & echo $! > "{{ playbook_dir }}/setsid.pid";
        sleep 1000
'''

# Printed by the playbook one mebibyte per task (over six times what the
# limits below allow, so that keeping it anywhere fails), then short
# lines: the journal keeps the end of those, and nothing else may be kept
# anywhere.
LOUD_MIB = 320
LOUD_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Print a mebibyte at a time
      ansible.builtin.include_tasks: mebibyte.yml
      loop: "{{ range(%d) | list }}"
    - name: Print short lines
      ansible.builtin.debug:
        msg: "{{ range(1000) | map('string') | list }}"
''' % LOUD_MIB
MEBIBYTE_TASKS = '''\
- name: Print a mebibyte
  ansible.builtin.debug:
    msg: "{{ 'x' * 1048576 }}"
'''

# ansible-playbook holds one mebibyte; the service holds the journal's
# part and little more, its job directory its inputs and a few events.
PLAYBOOK_GROWTH_LIMIT = 192 * MIB
JOB_DIR_LIMIT = 48 * MIB


def _proc_stat(pid):
    """(state, ppid) of ``pid``, or None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _gone(pid):
    stat = _proc_stat(pid)
    return stat is None or stat[0] in ('Z', 'X')


def _tree(root):
    """``root`` and every process descending from it."""
    parents = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat:
                parents[int(name)] = stat[1]
    found, todo = {root}, [root]
    while todo:
        parent = todo.pop()
        children = [p for p, pp in parents.items()
                    if pp == parent and p not in found]
        found.update(children)
        todo.extend(children)
    return found


def _status_kib(pid, key):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _shmem_kib():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('Shmem:'):
                return int(line.split()[1])
    return 0


def _memory(root):
    """Bytes resident in the service's processes, and shared memory."""
    rss = sum(_status_kib(pid, 'VmRSS') for pid in _tree(root))
    return rss * 1024, _shmem_kib() * 1024


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().decode('utf-8', 'replace').split('\0')
    except OSError:
        return []


def _playbook_pids(root):
    """The ansible-playbook processes started under ``root``."""
    return [pid for pid in _tree(root)
            if any(os.path.basename(arg) == 'ansible-playbook'
                   for arg in _cmdline(pid)[:2])]


def _service_kib(root, key):
    """``key`` of /proc/<pid>/status summed over the service's processes.

    Those of ansible-playbook and below are left out: they are not the
    service's, and hold what the playbook prints only while it prints it.
    """
    playbooks = set()
    for pid in _playbook_pids(root):
        playbooks.update(_tree(pid))
    return sum(_status_kib(pid, key) for pid in _tree(root) - playbooks)


def _disk_usage(path):
    """Bytes allocated to the files under ``path``."""
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_blocks * 512
            except OSError:
                pass  # deleted meanwhile, as ansible-runner's partials are
    return total


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _times_out_with_its_tree(test, svc, pidfile, seconds, wait):
    """One event: its job times out, and the process in ``pidfile`` ends."""
    svc.wait_listening()
    test.esi_leap.emit('esi_leap.lease.fulfill.end',
                       fake_esi_leap.lease_data())
    row = base.wait_for(lambda: test.journal_rows(state=journal.DEAD),
                        wait, 'the job dead')[0]
    test.assertEqual('timed out after %ds' % seconds, row['detail'])
    pid = _read_pid(pidfile)
    test.assertIsNotNone(pid, 'the process never started')
    base.wait_for(lambda: _gone(pid), 30, 'the setsid sleep to end')


@testtools.skipUnless(os.path.isdir('/proc/self/task'), 'needs /proc')
class LimitsTestCase(base.FunctionalTestCase):
    """Tests that watch the service's processes through /proc."""

    def kill_at_cleanup(self, pidfile):
        def kill():
            pid = _read_pid(pidfile)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.addCleanup(kill)


class ScriptLimitsTest(LimitsTestCase):

    def test_script_output_beyond_the_limit_is_not_held(self):
        written = os.path.join(self.dir, 'written')
        release = os.path.join(self.dir, 'release')
        self.write('loud.sh', '''\
            #!/bin/sh
            yes | head -c %d
            yes e | head -c %d >&2
            touch %s
            while [ ! -e %s ]; do sleep 0.1; done
            ''' % (STDOUT_BYTES, STDERR_BYTES, written, release), 0o755)
        svc = self.service(self.config('''
            [loud]
            events = esi_leap.lease.fulfill.end
            script = loud.sh
            script_timeout = 600
            '''))
        svc.wait_listening()
        before = _memory(svc.proc.pid)
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data())
        peak = list(before)

        def sample():
            now = _memory(svc.proc.pid)
            peak[:] = [max(p, n) for p, n in zip(peak, now)]
            return os.path.exists(written)
        base.wait_for(sample, 600, 'the script to write its output')
        # Held now, if it were held at all: the script waits.
        for _ in range(10):
            sample()
        with open(release, 'w'):
            pass
        row = base.wait_for(lambda: self.journal_rows(state=journal.DONE),
                            120, 'the job done')[0]
        self.assertEqual('y\n' * 2048, row['output'])
        growth = [p - b for p, b in zip(peak, before)]
        self.assertLess(growth[0], GROWTH_LIMIT,
                        'resident memory grew by %d bytes' % growth[0])
        self.assertLess(growth[1], GROWTH_LIMIT,
                        'shared memory grew by %d bytes' % growth[1])

    def test_script_timeout_ends_processes_that_left_its_session(self):
        pidfile = os.path.join(self.dir, 'setsid.pid')
        self.kill_at_cleanup(pidfile)
        self.write('hang.sh', '''\
            #!/bin/sh
            setsid sleep 1000 &
            echo $! > %s
            sleep 1000
            ''' % pidfile, 0o755)
        svc = self.service(self.config('''
            [hang]
            events = esi_leap.lease.fulfill.end
            script = hang.sh
            script_timeout = 2
            max_attempts = 1
            '''))
        _times_out_with_its_tree(self, svc, pidfile, 2, 120)

    def test_service_secrets_do_not_reach_scripts(self):
        for name, value in SECRETS.items():
            self.useFixture(fixtures.EnvironmentVariable(name, value))
        self.useFixture(fixtures.EnvironmentVariable('NAMED_BY_RULE', 'ok'))
        dump = os.path.join(self.dir, 'env.txt')
        self.write('env.sh', '#!/bin/sh\nenv > %s\n' % dump, 0o755)
        svc = self.service(self.config('''
            [env]
            events = esi_leap.lease.fulfill.end
            script = env.sh
            environment = NAMED_BY_RULE
            '''))
        svc.wait_listening()
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data())
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 60,
                      'the job done')
        with open(dump) as f:
            env = f.read()
        for name, value in SECRETS.items():
            self.assertNotIn(name, env)
            self.assertNotIn(value, env)
        self.assertIn('NAMED_BY_RULE=ok\n', env)
        self.assertIn('ESI_RULE=env\n', env)

    def test_long_values_are_cut_and_a_nul_is_a_dead_job(self):
        seen = os.path.join(self.dir, 'truncated')
        calls = self.recorder(
            'cleanup.sh', 'echo "$ESI_TRUNCATED_PARAMS" >> %s' % seen)
        svc = self.service(self.config('''
            [cleanup]
            events = esi_leap.lease.delete.end
            script = cleanup.sh
            script_params = node_name,name
            max_attempts = 1
            '''))
        svc.wait_listening()
        lease = fake_esi_leap.lease_data(name='n' * 200 * 1024)
        self.esi_leap.emit('esi_leap.lease.delete.end', lease)
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 60,
                      'the job done')
        self.assertEqual([[lease['node_name'], 'n' * 64 * 1024]],
                         [args for _, _, args in calls.read()])
        with open(seen) as f:
            self.assertEqual('2\n', f.read())
        self.assertIn('truncated', svc.log())
        self.assertNotIn('n' * 100, svc.log())
        self.esi_leap.emit('esi_leap.lease.delete.end',
                           fake_esi_leap.lease_data(name='a\0b'))
        row = base.wait_for(lambda: self.journal_rows(state=journal.DEAD),
                            60, 'the job dead')[0]
        self.assertEqual(1, row['attempts'])
        self.assertIn('argument 2 (name) holds a NUL', row['detail'])


class AnsibleLimitsTest(LimitsTestCase):

    def setUp(self):
        super().setUp()
        if (runner.ansible_runner is None or
                runner.find_playbook_command() is None):
            self.skipTest(samples.ANSIBLE_MISSING)

    def rule(self, options=''):
        return self.config('''
            [play]
            events = esi_leap.lease.fulfill.end
            action = ansible
            playbook = play.yml
            connection = local
            max_attempts = 1
            %s
            ''' % options)

    def test_service_secrets_reach_neither_the_play_nor_the_disk(self):
        for name, value in SECRETS.items():
            self.useFixture(fixtures.EnvironmentVariable(name, value))
        self.write('play.yml', samples.ENV_PLAYBOOK)
        svc = self.service(self.rule())
        svc.wait_listening()
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data())
        base.wait_for(lambda: self.journal_rows(state=journal.DONE), 120,
                      'the job done')
        with open(os.path.join(self.dir, 'env.txt')) as f:
            env = f.read()
        self.assertIn('PATH=', env)
        found = []
        for top, _dirs, files in os.walk(os.path.join(self.dir,
                                                      'ansible')):
            for name in files:
                with open(os.path.join(top, name), 'rb') as f:
                    text = f.read()
                found.extend((os.path.join(top, name), secret)
                             for secret in list(SECRETS) + list(
                                 SECRETS.values())
                             if secret.encode() in text)
        self.assertEqual([], found)
        for name, value in SECRETS.items():
            self.assertNotIn(value, env)

    def test_timeout_ends_processes_that_left_the_session(self):
        pidfile = os.path.join(self.dir, 'setsid.pid')
        self.kill_at_cleanup(pidfile)
        self.write('play.yml', HANG_PLAYBOOK)
        # Long enough for ansible to reach the task on a loaded machine.
        svc = self.service(self.rule('playbook_timeout = 10'))
        _times_out_with_its_tree(self, svc, pidfile, 10, 180)

    def test_playbook_output_beyond_the_limit_is_not_held(self):
        self.write('play.yml', LOUD_PLAYBOOK)
        self.write('mebibyte.yml', MEBIBYTE_TASKS)
        svc = self.service(self.rule('playbook_timeout = 3600'))
        svc.wait_listening()
        root = svc.proc.pid

        def kill_playbook():
            for pid in _playbook_pids(root):
                for child in _tree(pid):
                    try:
                        os.kill(child, signal.SIGKILL)
                    except OSError:
                        pass
        # Runs before the service is stopped: ansible-playbook has a
        # session of its own, which stopping the service does not reach.
        self.addCleanup(kill_playbook)
        before = _service_kib(root, 'VmRSS') * 1024
        job_dirs = os.path.join(self.dir, 'ansible', 'play')
        self.esi_leap.emit('esi_leap.lease.fulfill.end',
                           fake_esi_leap.lease_data())
        peak = [0, 0]

        def sample():
            rows = self.journal_rows(state=journal.DONE)
            growth = _service_kib(root, 'VmRSS') * 1024 - before
            disk = _disk_usage(job_dirs)
            peak[:] = max(peak[0], growth), max(peak[1], disk)
            # At once: held output grows for as long as the play runs.
            self.assertLess(growth, PLAYBOOK_GROWTH_LIMIT,
                            'resident memory grew by %d bytes' % growth)
            self.assertLess(disk, JOB_DIR_LIMIT,
                            'the job directories hold %d bytes' % disk)
            return rows
        row = base.wait_for(sample, 3600, 'the job done', interval=0.5)[0]
        # The highest resident memory, including between two samples.
        growth = _service_kib(root, 'VmHWM') * 1024 - before
        self.assertLess(growth, PLAYBOOK_GROWTH_LIMIT,
                        'resident memory peaked %d bytes higher' % growth)
        self.addDetail('peak-growth', content.text_content(
            'memory %d, job directories %d bytes' % (
                max(peak[0], growth), peak[1])))
        self.assertTrue(row['detail'].startswith('exit status 0:'), row)
        output = row['output']
        self.assertLessEqual(len(output), 4096)
        # Whole lines only: a short one may be left out.
        self.assertGreater(len(output), 4096 - 100)
        self.assertIn('"999"', output)
        self.assertIn('PLAY RECAP', output)
        self.assertNotIn('x' * 100, output)
