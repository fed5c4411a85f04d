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

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import fixtures
import yaml

from esi_event_actions.actions.ansible import jobdirs
from esi_event_actions.actions.ansible import output as ansible_output
from esi_event_actions.actions.ansible import runner
from esi_event_actions.actions.ansible import safe_yaml
from esi_event_actions.actions.ansible import watchdog
from esi_event_actions.actions import base as action_base
from esi_event_actions import bootstrap
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import samples


SLOW_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Sleep
      ansible.builtin.shell: echo $$ > "{{ playbook_dir }}/sleep.pid"; exec sleep 300
'''  # noqa: E501

# Gives context updates, then fails or not as told.
STATS_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Remember the VLAN
      ansible.builtin.set_stats:
        data:
          esi_context: %s
    - name: Fail when told to
      ansible.builtin.fail:
        msg: told to
      when: %s
'''

# Writes the context it received.
CONTEXT_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Write the context
      ansible.builtin.copy:
        dest: "{{ playbook_dir }}/context.json"
        content: "{{ {'esi_context': esi_context,
                      'in_event': esi_event.context} | to_json }}"
'''

# Not indented: the tests append options to it.
RULE = '''\
[DEFAULT]
state_path = %(dir)s
[act]
events = esi_leap.lease.fulfill.end
action = ansible
playbook = %(playbook)s
connection = local
extra_vars = {"vendor": "node_properties.vendor",
              "cpus": "node_properties.cpus", "nope": "no.such"}
params = node_name,fulfill_time
%(extra)s
'''

HOSTILE = ('{{ lookup("pipe", "touch %s") }} {%% raw %%} \'"\\\n\t'
           '\x7f\x85\u00e9\u2028\U0001f600\ud800')


def _unsafe_loader():
    class Loader(yaml.SafeLoader):
        pass
    Loader.add_constructor('!unsafe', lambda loader, node: ('unsafe', (
        loader.construct_scalar(node))))
    return Loader


class AnsibleTestCase(base.TestCase):

    def config(self, extra='', playbook='play.yml'):
        return RULE % {'dir': self.dir, 'extra': extra,
                       'playbook': playbook}

    def rule(self, playbook=samples.DUMP_PLAYBOOK, extra=''):
        self.write('play.yml', playbook)
        self.load(self.config(extra))
        return ruleloader.load(self.conf).by_name['act']

    def errors(self, extra='', playbook='play.yml'):
        self.write('play.yml', samples.DUMP_PLAYBOOK)
        path = self.load(self.config(extra, playbook))
        exc = self.assertRaises(exception.ConfigErrors, ruleloader.load,
                                self.conf)
        for error in exc.errors:
            self.assertEqual(path, error.filename)
        return [(e.section, e.key, e.reason) for e in exc.errors]


class AnsibleConfigTest(AnsibleTestCase):
    """Options, inventory and variables; needs no Ansible installed."""

    def setUp(self):
        super().setUp()
        if runner.ansible_runner is None:
            self.useFixture(fixtures.MockPatchObject(
                runner, 'ansible_runner', object()))
        if runner.find_playbook_command() is None:
            self.useFixture(fixtures.MockPatchObject(
                runner, 'find_playbook_command',
                return_value=os.path.join(self.dir, 'ansible-playbook')))

    def test_options_and_default_paths(self):
        os.mkdir(os.path.join(self.dir, 'inv'))
        rule = self.rule(extra='inventory = inv  # a comment\n'
                               'limit = esi_node')
        action = rule.action
        self.assertEqual('ansible', rule.action_name)
        self.assertEqual(os.path.join(self.dir, 'play.yml'), action.playbook)
        self.assertEqual(os.path.join(self.dir, 'inv'), action.inventory_path)
        self.assertEqual(os.path.join(self.dir, 'ansible'), action.data_dir)
        self.assertEqual(os.path.join(self.dir, 'ansible', 'act'),
                         action.jobs.path)
        self.assertEqual(['node_name', 'fulfill_time'], action.param_paths())
        self.assertEqual(
            'ansible %s inventory=%s limit=esi_node '
            'vars=vendor,cpus,nope,<node_name>,<fulfill_time>'
            % (action.playbook, action.inventory_path), action.describe())
        self.assertIn('-> ansible %s' % action.playbook, rule.summary())

    def test_playbook_relative_to_the_file_that_sets_it(self):
        os.mkdir(os.path.join(self.dir, 'conf.d'))
        self.write('conf.d/books.yml', samples.DUMP_PLAYBOOK)
        self.write('conf.d/act.conf', '''
            [act]
            playbook = books.yml
            private_data_dir = runs
            ''')
        self.write('main.conf', self.config(playbook='absent.yml'))
        bootstrap.parse_args(
            ['--config-file', os.path.join(self.dir, 'main.conf'),
             '--config-dir', os.path.join(self.dir, 'conf.d')],
            self.conf, default_config_files=[])
        action = ruleloader.load(self.conf).by_name['act'].action
        self.assertEqual(os.path.join(self.dir, 'conf.d', 'books.yml'),
                         action.playbook)
        self.assertEqual(os.path.join(self.dir, 'conf.d', 'runs'),
                         action.data_dir)

    def test_missing_playbook_is_reported_at_its_key(self):
        self.write('play.yml', samples.DUMP_PLAYBOOK)
        path = self.load('''
            [act]
            events = esi_leap.lease.fulfill.end
            action = ansible
            ''')
        exc = self.assertRaises(exception.ConfigErrors, ruleloader.load,
                                self.conf)
        self.assertEqual([(path, 'act', 'playbook',
                           'the ansible action needs playbook')],
                         [(e.filename, e.section, e.key, e.reason)
                          for e in exc.errors])
        self.assertIn('%s [act] playbook: the ansible action needs '
                      'playbook' % path, str(exc))

    def test_playbook_that_does_not_exist(self):
        self.assertEqual(
            [('act', 'playbook', 'no such file: %s'
              % os.path.join(self.dir, 'other.yml'))],
            self.errors(playbook='other.yml'))

    def test_missing_inventory(self):
        errors = self.errors(extra='inventory = hosts.ini')
        self.assertEqual([('act', 'inventory', 'no such file or directory: '
                           '%s' % os.path.join(self.dir, 'hosts.ini'))],
                         errors)

    def test_bad_extra_vars_json_names_section_and_key(self):
        errors = self.errors(extra='extra_vars = {"a": "b"}}')
        self.assertEqual(1, len(errors))
        self.assertEqual(('act', 'extra_vars'), errors[0][:2])
        self.assertIn("unexpected '}'", errors[0][2])
        errors = self.errors(extra='extra_vars = {"a": ')
        self.assertEqual(('act', 'extra_vars'), errors[0][:2])
        self.assertIn('not valid JSON', errors[0][2])

    def test_bad_extra_vars_entries(self):
        for spec, reason in [
                ('{"esi_event": "name"}', 'esi_event is set by the action '
                                          'itself'),
                ('{"my-var": "name"}', "'my-var' is not a valid variable "
                                       "name"),
                ('{"class": "name"}', "'class' is not a valid variable "
                                      "name"),
                ('{"v": 1}', 'the value of v must be a dot path'),
                ('{"v": "a..b"}', 'the value of v must be a dot path')]:
            self.assertEqual([('act', 'extra_vars', reason)],
                             self.errors(extra='extra_vars = ' + spec),
                             spec)

    def test_bad_environment_names(self):
        errors = self.errors(extra='environment = OK,A-B')
        self.assertEqual([('act', 'environment')],
                         [e[:2] for e in errors])
        self.assertIn("'A-B' is not a variable name", errors[0][2])

    def test_other_bad_options_are_all_reported(self):
        errors = self.errors(extra='host_path = a..b\n'
                                   'playbook_timeout = 0\n'
                                   'keep_artifacts = -1')
        self.assertEqual(
            [('act', 'playbook_timeout'), ('act', 'keep_artifacts'),
             ('act', 'host_path')],
            [e[:2] for e in errors])
        self.assertEqual(
            [('act', 'colour', 'unknown option for a ansible rule')],
            self.errors(extra='colour = blue'))
        self.assertEqual(
            [('act', 'connection', "not a connection plugin name: 'a b'")],
            self.errors(extra='connection = a b'))

    def test_private_data_dir_must_be_a_directory(self):
        self.write('runs', '')
        self.assertEqual(
            [('act', 'private_data_dir', 'not a directory: %s'
              % os.path.join(self.dir, 'runs'))],
            self.errors(extra='private_data_dir = runs'))

    def test_without_ansible_runner_the_rule_is_rejected(self):
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.actions.ansible.runner.ansible_runner', None))
        errors = self.errors()
        self.assertEqual([('act', 'action')], [e[:2] for e in errors])
        self.assertIn('esi-event-actions[ansible]', errors[0][2])

    def test_generated_inventory(self):
        rule = self.rule(extra='host_path = node_properties.ipmi_address')
        data = fake_esi_leap.lease_data()
        data['node_properties']['ipmi_address'] = '192.0.2.7'
        evt = event.Event('t', data, id='m')
        self.assertEqual(
            {'esi_node': {'hosts': {data['node_name']: {
                'ansible_host': '192.0.2.7',
                'ansible_connection': 'local',
                'ansible_python_interpreter':
                    '{{ ansible_playbook_python }}'}}}},
            rule.action.inventory(evt))

    def test_inventory_host_name_and_address(self):
        rule = self.rule(extra='host_path = node_properties.address\n'
                               'connection = ssh')
        action = rule.action

        def host(**overrides):
            inventory = action.inventory(event.Event(
                't', fake_esi_leap.lease_data(**overrides), id='m'))
            return inventory and inventory['esi_node']['hosts']

        uuid = '4b3e6a8c-0f43-4c5f-9d2e-8a6b1c2d3e4f'
        self.assertEqual({'r640-07.lab': {'ansible_connection': 'ssh'}},
                         host(node_name='r640-07.lab'))
        for bad in (None, '', 'a b', 'x,y', '[all]', '{{ x }}', '~a.*'):
            self.assertEqual({uuid: {'ansible_connection': 'ssh'}},
                             host(node_name=bad, node_uuid=uuid), bad)
        self.assertIsNone(host(node_name=None, node_uuid=None,
                               resource_uuid=None))
        for address in ('10.1.2.3', 'fe80::1', 'bmc-7.example.org', 7):
            found = host(node_properties={'address': address})
            self.assertEqual([{'ansible_host': str(address),
                               'ansible_connection': 'ssh'}],
                             list(found.values()))
        for missing in ({}, {'address': None}, {'address': ''}):
            self.assertEqual([{'ansible_connection': 'ssh'}],
                             list(host(node_properties=missing).values()))
        for bad in ('{{ lookup("pipe", "id") }}', 'a b', '-oProxy=x'):
            self.assertRaisesRegex(
                ValueError, 'node_properties.address: .* is not a host '
                'name or an IP address', host,
                node_properties={'address': bad})

    def test_extra_vars_are_raw_json_values(self):
        rule = self.rule()
        data = fake_esi_leap.lease_data(node_properties={'vendor': None,
                                                         'cpus': 16})
        evt = event.Event('esi_leap.lease.fulfill.end', data, id='msg-1')
        variables = rule.action.extra_vars(evt, rule.params(evt), 3)
        self.assertEqual({
            'esi_event': evt.to_dict(),
            'esi_params': {'node_name': data['node_name'],
                           'fulfill_time': ''},
            'esi_rule': 'act', 'esi_attempt': 3, 'esi_context': {},
            'vendor': None, 'cpus': 16, 'nope': None}, variables)

    def test_extra_vars_file_tags_every_template_unsafe(self):
        value = {'s': HOSTILE, 'n': [1, 2.5, True, None, {'k': '{v}'}],
                 HOSTILE: 'key', 'typed': ['', '42', 'true', 'null',
                                           '2026-11-26', '1e3', '~']}
        text = safe_yaml.extra_vars_yaml({'esi_event': value, 'x': 'y'})
        self.assertTrue(text.isascii(), text)
        self.assertTrue(text.rstrip('\n').isprintable(), text)
        loaded = yaml.load(text, Loader=_unsafe_loader())
        clean = HOSTILE.replace('\ud800', '\ufffd')
        self.assertEqual({
            'esi_event': {'s': ('unsafe', clean),
                          'n': [1, 2.5, True, None, {'k': ('unsafe', '{v}')}],
                          ('unsafe', clean): 'key',
                          'typed': value['typed']},
            'x': 'y'}, loaded)

    def test_extra_vars_file_is_strict_json_with_tags(self):
        value = {'big': float('inf'), 'nan': float('nan'), 'n': 1e300,
                 's': '{x}', 'l': [float('-inf')]}
        text = safe_yaml.extra_vars_yaml({'esi_event': value})

        def refuse(name):
            raise ValueError('not strict JSON: %s' % name)
        strict = json.loads(text.replace('!unsafe ', ''),
                            parse_constant=refuse)
        self.assertEqual({'big': 'Infinity', 'nan': 'NaN', 'n': 1e300,
                          's': '{x}', 'l': ['-Infinity']},
                         strict['esi_event'])
        self.assertEqual(strict, yaml.safe_load(
            text.replace('!unsafe ', '')))

    def test_environment_is_the_allow_list(self):
        for name in ('OS_PASSWORD', 'PGPASSWORD', 'OPERATOR_TOKEN'):
            self.useFixture(fixtures.EnvironmentVariable(name, 'hunter2'))
        rule = self.rule(extra='environment = OPERATOR_TOKEN')
        env = rule.action.environ()
        self.assertNotIn('OS_PASSWORD', env)
        self.assertNotIn('PGPASSWORD', env)
        self.assertEqual('hunter2', env['OPERATOR_TOKEN'])
        self.assertEqual('1', env['ANSIBLE_NOCOLOR'])

    def test_job_ident_is_one_safe_path_component(self):
        self.assertEqual('act-history_12-2',
                         jobdirs.job_ident('act', 'history:12', 2))
        self.assertEqual('_etc_passwd-_-1',
                         jobdirs.job_ident('../etc/passwd', '/', 1))
        self.assertEqual(200, len(jobdirs.job_ident('r', 'x' * 300, 1)))

    def test_prune_keeps_the_newest_and_the_running(self):
        rule = self.rule(extra='keep_artifacts = 2')
        action = rule.action
        now = time.time()
        paths = []
        for number in range(5):
            path = action.jobs.new('job-%d' % number)
            os.utime(path, (now - 100 + number, now - 100 + number))
            paths.append(path)
        # job-0 is still running: kept whatever its age.
        for path in paths[1:]:
            action.jobs.release(path)
        action.jobs.prune()
        self.assertEqual(['job-0', 'job-3', 'job-4'],
                         sorted(os.listdir(action.jobs.path)))
        self.assertEqual(0o700, os.stat(paths[0]).st_mode & 0o777)
        self.assertTrue(action.jobs.new('job-4').endswith('job-4.2'))

    def test_job_directories_and_their_parents_are_private(self):
        action = self.rule().action
        previous = os.umask(0o022)
        try:
            path = action.jobs.new('job-1')
        finally:
            os.umask(previous)
        for directory in (path, action.jobs.path,
                          os.path.dirname(action.jobs.path)):
            self.assertEqual(0o700, os.stat(directory).st_mode & 0o777,
                             directory)

    def test_keep_artifacts_zero_deletes_every_finished_job(self):
        action = self.rule(extra='keep_artifacts = 0').action
        action.jobs.release(action.jobs.new('old'))
        action.jobs.prune()
        self.assertEqual([], os.listdir(action.jobs.path))

    def test_failure_summary_names_the_last_failure(self):
        failures = watchdog.Watch(60)
        for kind, data in [
                ('runner_on_ok', {'task': 'a', 'host': 'h1'}),
                ('runner_on_failed', {'task': 'ignored', 'host': 'h1',
                                      'ignore_errors': True}),
                ('runner_on_failed', {'task': 'Setup', 'host': 'h2',
                                      'res': {'msg': 'secret'}}),
                ('runner_on_unreachable', {'task': 'Gather', 'host': 'h1',
                                           'res': {'msg': 'secret'}})]:
            # False: ansible-runner writes no job_events file of it.
            self.assertFalse(failures({'event': kind, 'event_data': data}))
        self.assertEqual('host h1 unreachable at task "Gather" (and 1 '
                         'more)', failures.summary())
        self.assertEqual('', watchdog.Watch(60).summary())

    def test_timeout_asks_ansible_playbook_to_stop_then_kills(self):
        now = [100.0]
        watch = watchdog.Watch(30, grace=5, clock=lambda: now[0])
        proc = subprocess.Popen(['sleep', '60'])
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        watch({'event': 'playbook_on_start', 'pid': proc.pid})
        watch({'event': 'runner_on_start', 'pid': 1})
        self.assertEqual(proc.pid, watch.pid)
        self.assertFalse(watch.cancel())
        now[0] += 30
        self.assertFalse(watch.cancel())
        self.assertEqual(-signal.SIGTERM, proc.wait(10))
        self.assertTrue(watch.timed_out)
        now[0] += 4
        self.assertFalse(watch.cancel())
        now[0] += 1
        self.assertTrue(watch.cancel())

    def tree(self, body):
        """A stand-in for ansible-playbook, and the pids it wrote."""
        pidfile = os.path.join(self.dir, 'pids')
        proc = subprocess.Popen(['sh', '-c', body % {'pids': pidfile}],
                                start_new_session=True)
        self.addCleanup(proc.wait)
        self.addCleanup(self.kill_quietly, proc.pid)

        def pids():
            try:
                with open(pidfile) as f:
                    found = [int(p) for p in f.read().split()]
            except (OSError, ValueError):
                return None
            return found if len(found) == 2 else None
        for _ in range(100):
            if pids():
                break
            time.sleep(0.05)
        for pid in pids():
            self.addCleanup(self.kill_quietly, pid)
        return proc, pids()

    @staticmethod
    def kill_quietly(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def timed_out(self, trap):
        """A watched tree, one second past its timeout of one second.

        Its two grandchildren leave its session, one ignoring SIGTERM.
        """
        now = [0.0]
        watch = watchdog.Watch(1, grace=5, clock=lambda: now[0])
        proc, pids = self.tree(
            trap + 'setsid sleep 300 & echo $! > %(pids)s; '
            'setsid sh -c "trap \'\' TERM; sleep 300" & '
            'echo $! >> %(pids)s; while :; do sleep 0.1; done')
        watch({'event': 'playbook_on_start', 'pid': proc.pid})
        now[0] = 1.0
        self.assertFalse(watch.cancel())
        return watch, proc, pids, now

    def test_timeout_kills_processes_that_left_the_group(self):
        watch, proc, pids, now = self.timed_out('trap "" TERM; ')
        now[0] = 6.0
        self.assertTrue(watch.cancel())
        self.assertEqual(-signal.SIGKILL, proc.wait(10))
        for pid in pids:
            self.assert_process_ends(pid)

    def test_what_outlives_ansible_playbook_is_killed_after_the_run(self):
        watch, proc, pids, _ = self.timed_out('')
        self.assertEqual(-signal.SIGTERM, proc.wait(10))
        watch.finish()
        for pid in pids:
            self.assert_process_ends(pid)

    def test_finish_without_a_timeout_kills_nothing(self):
        watch = watchdog.Watch(60)
        proc, pids = self.tree('sleep 300 & echo $! > %(pids)s; '
                               'sleep 300 & echo $! >> %(pids)s; exit 0')
        watch({'event': 'playbook_on_start', 'pid': proc.pid})
        proc.wait(10)
        watch.finish()
        for pid in pids:
            os.kill(pid, 0)

    def test_timeout_before_any_event_kills_at_once(self):
        now = [0.0]
        watch = watchdog.Watch(1, clock=lambda: now[0])
        self.assertFalse(watch.cancel())
        now[0] = 1.0
        self.assertTrue(watch.cancel())
        self.assertTrue(watch.timed_out)

    def test_output_is_the_end_in_whole_lines(self):
        watch = watchdog.Watch(60, output_limit=20)
        for text in ('first line', 'second line\r\nthird', ''):
            watch({'event': 'verbose', 'stdout': text})
        self.assertEqual('second line\nthird\n', watch.output.text())

    def test_output_within_the_limit_is_whole(self):
        tail = ansible_output.Tail(20)
        tail.add('a\r\n')
        tail.add('b' * 17 + '\n')
        self.assertEqual('a\n' + 'b' * 17 + '\n', tail.text())

    def test_output_holds_no_more_than_the_limit(self):
        tail = ansible_output.Tail(10)
        tail.add('x' * 1000000 + '\r\nend\r\n')
        self.assertEqual('end\n', tail.text())
        self.assertEqual(10, len(tail._text))
        tail.add('y' * 30)
        # No whole line left: the end of the last one.
        self.assertEqual('y' * 10, tail.text())
        nothing = ansible_output.Tail(0)
        nothing.add('anything\n')
        self.assertEqual('', nothing.text())

    def test_missing_playbook_at_run_time_fails(self):
        rule = self.rule()
        os.unlink(rule.action.playbook)
        evt = event.Event('t', fake_esi_leap.lease_data(), id='m')
        result = rule.action.run(evt, rule.params(evt))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('no such playbook', result.detail)

    def test_no_node_and_no_inventory_fails(self):
        rule = self.rule()
        evt = event.Event('t', fake_esi_leap.lease_data(
            node_name=None, node_uuid=None, resource_uuid=None), id='m')
        result = rule.action.run(evt, rule.params(evt))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('names no node', result.detail)


class AnsibleRunTest(AnsibleTestCase):
    """Real ansible-playbook runs on this host (connection local)."""

    def setUp(self):
        super().setUp()
        if (runner.ansible_runner is None or
                runner.find_playbook_command() is None):
            self.skipTest(samples.ANSIBLE_MISSING)
        # As under a service started from a virtualenv without activating
        # it: the virtualenv's bin is not on PATH.
        bin_dir = os.path.dirname(sys.executable)
        path = os.pathsep.join(
            p for p in os.environ.get('PATH', '').split(os.pathsep)
            if p and os.path.abspath(p) != os.path.abspath(bin_dir))
        self.useFixture(fixtures.EnvironmentVariable('PATH', path))
        self.bin_dir = bin_dir

    def run_rule(self, rule, data, attempt=1, context=None):
        evt = event.Event('esi_leap.lease.fulfill.end', data, id='msg-1')
        if context is not None:
            evt = evt.with_context(context)
        return rule.action.run(evt, rule.params(evt), attempt)

    def received(self):
        with open(os.path.join(self.dir, 'received.json')) as f:
            return json.load(f)

    def test_playbook_receives_the_event_without_the_venv_on_path(self):
        command = runner.find_playbook_command()
        if os.path.dirname(command) == self.bin_dir:
            self.assertIsNone(shutil.which('ansible-playbook'))
        rule = self.rule()
        env = rule.action.environ()
        self.assertEqual(os.path.dirname(command),
                         env['PATH'].split(os.pathsep)[0])
        data = fake_esi_leap.lease_data()
        result = self.run_rule(rule, data, attempt=2)
        self.assertEqual(action_base.SUCCESS, result.status, result)
        self.assertEqual(0, result.exit_status)
        self.assertEqual('exit status 0: ok=1 changed=1', result.detail)
        self.assertIn('PLAY RECAP', result.output)
        self.assertNotIn('\r', result.output)
        self.assertNotIn('\x1b[', result.output)
        evt = event.Event('esi_leap.lease.fulfill.end', data, id='msg-1')
        self.assertEqual({
            'esi_event': evt.to_dict(),
            'esi_params': {'node_name': data['node_name'],
                           'fulfill_time': ''},
            'esi_rule': 'act', 'esi_attempt': 2,
            'vendor': 'foo', 'cpus': 16, 'nope': None,
            'host': data['node_name'], 'connection': 'local'},
            self.received())
        job_dir = os.path.join(rule.action.jobs.path, 'act-msg-1-2')
        with open(os.path.join(job_dir, 'artifacts', 'act-msg-1-2',
                               'rc')) as f:
            self.assertEqual('0', f.read())
        self.assertEqual(0o600, os.stat(os.path.join(
            job_dir, 'env', 'extravars')).st_mode & 0o777)

    def test_hostile_values_arrive_as_text_and_run_nothing(self):
        pwned = os.path.join(self.dir, 'pwned')
        hostile = HOSTILE % pwned
        rule = self.rule()
        data = fake_esi_leap.lease_data(name=hostile, purpose='{{ 7 * 6 }}',
                                        properties={hostile: [hostile]})
        result = self.run_rule(rule, data)
        self.assertTrue(result.ok, result)
        clean = hostile.replace('\ud800', '\ufffd')
        sent = self.received()['esi_event']['data']
        self.assertEqual(clean, sent['name'])
        self.assertEqual('{{ 7 * 6 }}', sent['purpose'])
        self.assertEqual({clean: [clean]}, sent['properties'])
        self.assertFalse(os.path.exists(pwned))

    def test_failed_task_is_named_in_the_detail(self):
        rule = self.rule(playbook=samples.FAIL_PLAYBOOK)
        data = fake_esi_leap.lease_data()
        result = self.run_rule(rule, data)
        self.assertEqual(action_base.RETRY, result.status)
        self.assertEqual(2, result.exit_status)
        self.assertEqual('exit status 2: task "Fail on purpose" failed on '
                         '%s' % data['node_name'], result.detail)
        self.assertIn('not this time', result.output)
        self.assertIn('PLAY RECAP', result.output)

    def test_playbook_error_is_in_the_detail(self):
        rule = self.rule(playbook='- hosts: all\n  tasks: [ {bad: [}\n')
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual(action_base.RETRY, result.status)
        self.assertNotEqual(0, result.exit_status)
        self.assertIn('ERROR', result.detail)

    def test_timeout_kills_the_playbook_and_retries(self):
        # Long enough for ansible to start the task on a loaded machine.
        rule = self.rule(playbook=SLOW_PLAYBOOK,
                         extra='playbook_timeout = 15')
        started = time.monotonic()
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertLess(time.monotonic() - started, 120)
        self.assertEqual(action_base.RETRY, result.status)
        self.assertEqual('timed out after 15s', result.detail)
        with open(os.path.join(self.dir, 'sleep.pid')) as f:
            child = int(f.read())
        self.assert_process_ends(child, 'the playbook\'s sleep')

    def test_operator_inventory_with_limit(self):
        self.write('hosts.yml', '''
            fleet:
              hosts:
                other-node:
                  ansible_connection: local
            ''')
        rule = self.rule(extra='inventory = hosts.yml\nlimit = esi_node')
        data = fake_esi_leap.lease_data()
        result = self.run_rule(rule, data)
        self.assertTrue(result.ok, result)
        self.assertEqual(data['node_name'], self.received()['host'])

    def test_service_secrets_reach_neither_the_play_nor_the_disk(self):
        for name in ('OS_PASSWORD', 'PGPASSWORD'):
            self.useFixture(fixtures.EnvironmentVariable(
                name, 'hunter2-%s' % name))
        self.useFixture(fixtures.EnvironmentVariable('PASSED_ON', 'yes'))
        rule = self.rule(playbook=samples.ENV_PLAYBOOK,
                         extra='environment = PASSED_ON')
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertTrue(result.ok, result)
        with open(os.path.join(self.dir, 'env.txt')) as f:
            env = f.read()
        self.assertNotIn('hunter2', env)
        self.assertIn('PASSED_ON=yes', env)
        job_dir = os.path.join(rule.action.jobs.path, 'act-msg-1-1')
        found = []
        for top, _dirs, files in os.walk(job_dir):
            for name in files:
                with open(os.path.join(top, name), 'rb') as f:
                    if b'hunter2' in f.read():
                        found.append(os.path.join(top, name))
        self.assertEqual([], found)
        self.assertFalse(os.path.exists(os.path.join(job_dir, 'env',
                                                     'envvars')))

    def test_output_is_kept_in_memory_only(self):
        self.rule()
        # Fixed when the rule is loaded, as every option is.
        self.conf.set_override('output_limit', 100, group='worker')
        rule = ruleloader.load(self.conf).by_name['act']
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertTrue(result.ok, result)
        self.assertLessEqual(len(result.output), 100)
        self.assertIn('ok=1', result.output)
        artifacts = os.path.join(rule.action.jobs.path, 'act-msg-1-1',
                                 'artifacts', 'act-msg-1-1')
        found = sorted(os.path.relpath(os.path.join(top, name), artifacts)
                       for top, _dirs, files in os.walk(artifacts)
                       for name in files)
        self.assertEqual(['command', 'rc', 'status'], found)

    def test_old_job_directories_are_pruned(self):
        rule = self.rule(extra='keep_artifacts = 1')
        for attempt in (1, 2):
            self.assertTrue(self.run_rule(rule, fake_esi_leap.lease_data(),
                                          attempt).ok)
        self.assertEqual(['act-msg-1-2'],
                         os.listdir(rule.action.jobs.path))

    def test_set_stats_esi_context_is_the_update(self):
        rule = self.rule(playbook=STATS_PLAYBOOK % (
            '{vlan: 1234, gone: null}', 'false'))
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual(action_base.SUCCESS, result.status, result)
        self.assertEqual({'vlan': 1234, 'gone': None}, result.context)

    def test_set_stats_count_whatever_the_exit_status(self):
        rule = self.rule(playbook=STATS_PLAYBOOK % ('{vlan: 1234}', 'true'))
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual(action_base.RETRY, result.status, result)
        self.assertEqual({'vlan': 1234}, result.context)

    def test_set_stats_that_is_no_object_fails(self):
        rule = self.rule(playbook=STATS_PLAYBOOK % ('[1, 2]', 'false'))
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertTrue(result.detail.startswith(
            'context not written: set_stats esi_context is not a JSON '
            'object but a list (exit status 0'), result.detail)
        self.assertIsNone(result.context)

    def test_the_playbook_receives_the_context_as_text(self):
        pwned = os.path.join(self.dir, 'pwned')
        context = {'vlan': 1234, 'note': HOSTILE % pwned,
                   '{{ 7 * 6 }}': ['{{ 7 * 6 }}']}
        rule = self.rule(playbook=CONTEXT_PLAYBOOK)
        result = self.run_rule(rule, fake_esi_leap.lease_data(),
                               context=context)
        self.assertEqual(action_base.SUCCESS, result.status, result)
        self.assertIsNone(result.context)
        with open(os.path.join(self.dir, 'context.json')) as f:
            got = json.load(f)
        clean = dict(context, note=context['note'].replace('\ud800',
                                                           '\ufffd'))
        self.assertEqual({'esi_context': clean, 'in_event': clean}, got)
        self.assertFalse(os.path.exists(pwned))
