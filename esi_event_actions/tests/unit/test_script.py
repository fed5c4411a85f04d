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

import errno
import json
import os
import signal
import time

import fixtures
import testtools

from esi_event_actions.actions import base as action_base
from esi_event_actions.actions import script
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap

HOSTILE = 'x; touch /tmp/pwned $(id) `id` | cat & echo "\'\n\t*?~ \\'


class ScriptActionTest(base.TestCase):

    output_limit = None

    def rule(self, body, params='node_name,fulfill_time', timeout=30,
             extra=''):
        script = self.script('act.sh', body)
        text = ''
        if self.output_limit is not None:
            text = '[worker]\noutput_limit = %d\n' % self.output_limit
        text += ('[act]\nevents = esi_leap.lease.fulfill.end\n'
                 'script = %s\nscript_params = %s\nscript_timeout = %d\n'
                 '%s\n' % (script, params, timeout, extra))
        self.load(text)
        return ruleloader.load(self.conf).by_name['act']

    def load_with_output_limit(self, limit):
        self.output_limit = limit

    def run_rule(self, rule, data, attempt=1):
        evt = event.Event('esi_leap.lease.fulfill.end', data, id='msg-1')
        return rule.action.run(evt, rule.params(evt), attempt)

    def read_pid(self, pidfile):
        with open(pidfile) as f:
            return int(f.read())

    def kill_at_cleanup(self, pidfile):
        def kill():
            try:
                os.kill(self.read_pid(pidfile), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.addCleanup(kill)

    def test_params_null_missing_and_json(self):
        rule = self.rule('exit 0', params='node_name,fulfill_time,nope,'
                         'node_properties.cpus,properties,id')
        evt = event.Event('t', fake_esi_leap.lease_data(
            properties={'b': 1, 'a': [True]}), id='m')
        params = rule.params(evt)
        self.assertEqual(evt.data['node_name'], params[0])
        self.assertEqual(['', '', '16', '{"a": [true], "b": 1}', '42'],
                         params[1:])
        self.assertEqual([rule.action.path] + params,
                         rule.action.argv(params))

    def test_arguments_arrive_byte_exact_without_a_shell(self):
        out = os.path.join(self.dir, 'args')
        rule = self.rule('for a in "$@"; do printf "%s\\0" "$a"; done '
                         '> ' + out)
        result = self.run_rule(rule,
                               fake_esi_leap.lease_data(node_name=HOSTILE))
        self.assertTrue(result.ok, result)
        with open(out, 'rb') as f:
            self.assertEqual([HOSTILE.encode(), b''],
                             f.read().split(b'\0')[:-1])
        self.assertFalse(os.path.exists('/tmp/pwned'))

    def read_env(self, path):
        with open(path) as f:
            return dict(line.split('=', 1) for line in f.read().splitlines()
                        if '=' in line)

    def test_environment_and_stdin(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'SCRIPT_TEST_INHERITED', 'at load'))
        self.useFixture(fixtures.EnvironmentVariable('LC_TIME', 'C'))
        out = os.path.join(self.dir, 'env')
        rule = self.rule('cat > %s.json; env > %s' % (out, out),
                         extra='environment = SCRIPT_TEST_INHERITED,NOT_SET')
        # The environment is the one the rule was loaded with.
        os.environ['SCRIPT_TEST_INHERITED'] = 'later'
        data = fake_esi_leap.lease_data()
        self.assertTrue(self.run_rule(rule, data, attempt=3).ok)
        env = self.read_env(out)
        self.assertEqual('esi_leap.lease.fulfill.end', env['ESI_EVENT_TYPE'])
        self.assertEqual('msg-1', env['ESI_EVENT_ID'])
        self.assertEqual('act', env['ESI_RULE'])
        self.assertEqual('3', env['ESI_ATTEMPT'])
        self.assertEqual('', env['ESI_TRUNCATED_PARAMS'])
        self.assertEqual('at load', env['SCRIPT_TEST_INHERITED'])
        self.assertEqual(os.environ['PATH'], env['PATH'])
        self.assertEqual('C', env['LC_TIME'])
        self.assertNotIn('NOT_SET', env)
        with open(out + '.json') as f:
            sent = json.load(f)
        self.assertEqual(data, sent['data'])
        self.assertEqual('msg-1', sent['id'])

    def test_only_allowed_variables_reach_the_script(self):
        for name in ('OS_PASSWORD', 'PGPASSWORD', 'LC_SECRET_NOT'):
            self.useFixture(fixtures.EnvironmentVariable(name, 'hunter2'))
        self.useFixture(fixtures.EnvironmentVariable('HOME', self.dir))
        out = os.path.join(self.dir, 'env')
        rule = self.rule('env > %s' % out)
        self.assertTrue(self.run_rule(rule, fake_esi_leap.lease_data()).ok)
        env = self.read_env(out)
        self.assertNotIn('OS_PASSWORD', env)
        self.assertNotIn('PGPASSWORD', env)
        self.assertEqual(self.dir, env['HOME'])
        # LC_ names are locale settings: passed, whatever they hold.
        self.assertEqual('hunter2', env['LC_SECRET_NOT'])
        self.assertLessEqual(set(env) - {'PWD', 'SHLVL', '_'}, {
            'PATH', 'LANG', 'TZ', 'HOME', 'LC_SECRET_NOT', 'ESI_EVENT_TYPE',
            'ESI_EVENT_ID', 'ESI_RULE', 'ESI_ATTEMPT', 'ESI_TRUNCATED_PARAMS',
            'ESI_CONTEXT_OUT'}
            | {k for k in os.environ if k.startswith('LC_')})
        preview = rule.action.preview(
            event.Event('t', fake_esi_leap.lease_data(), id='m'), ['a', 'b'])
        self.assertNotIn('OS_PASSWORD', json.dumps(preview))

    def test_environment_names_are_checked_at_load(self):
        for value, reason in [('BAD-NAME', 'not a variable name'),
                              ('1X', 'not a variable name'),
                              ('A=b', 'not a variable name'),
                              ('ESI_RULE', 'set by the action')]:
            self.script('act.sh')
            path = self.load('[act]\nevents = esi_leap.lease.fulfill.end\n'
                             'script = act.sh\nenvironment = OK,%s\n' % value)
            exc = self.assertRaises(exception.ConfigErrors, ruleloader.load,
                                    self.conf)
            self.assertEqual([('act', 'environment', path)],
                             [(e.section, e.key, e.filename)
                              for e in exc.errors])
            self.assertIn(reason, exc.errors[0].reason)

    def test_stdin_is_strict_json(self):
        out = os.path.join(self.dir, 'stdin')
        rule = self.rule('cat > ' + out)
        data = fake_esi_leap.lease_data(properties={
            'big': float('inf'), 'small': float('-inf'), 'nan': float('nan')})
        self.assertTrue(self.run_rule(rule, data).ok)

        def refuse(name):
            raise ValueError('not strict JSON: %s' % name)
        with open(out) as f:
            sent = json.loads(f.read(), parse_constant=refuse)
        self.assertEqual({'big': 'Infinity', 'small': '-Infinity',
                          'nan': 'NaN'}, sent['data']['properties'])

    def test_failure_reports_exit_status_and_stderr(self):
        rule = self.rule('echo out; echo first >&2; echo second >&2; exit 3')
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual(action_base.RETRY, result.status)
        self.assertEqual(3, result.exit_status)
        self.assertEqual('exit status 3: first | second', result.detail)
        self.assertIn('out', result.output)

    def test_timeout_kills_processes_that_left_the_group(self):
        pidfile = os.path.join(self.dir, 'child.pid')
        rule = self.rule('setsid sleep 300 & echo $! > %s; '
                         'setsid sh -c "trap \'\' TERM; sleep 300" & '
                         'echo $! >> %s; sleep 300' % (pidfile, pidfile),
                         timeout=2)
        self.addCleanup(self.kill_all, pidfile)
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual('timed out after 2s', result.detail)
        pids = self.read_pids(pidfile)
        self.assertEqual(2, len(pids))
        for pid in pids:
            self.assert_process_ends(pid)

    def read_pids(self, pidfile):
        with open(pidfile) as f:
            return [int(line) for line in f.read().split()]

    def kill_all(self, pidfile):
        for pid in self.read_pids(pidfile):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def test_timeout_kills_the_whole_process_group(self):
        pidfile = os.path.join(self.dir, 'child.pid')
        rule = self.rule('echo started; sleep 300 & echo $! > %s; wait'
                         % pidfile, timeout=5)
        self.kill_at_cleanup(pidfile)
        started = time.monotonic()
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertLess(time.monotonic() - started, 60)
        self.assertEqual(action_base.RETRY, result.status)
        self.assertEqual('timed out after 5s', result.detail)
        self.assertEqual('started\n', result.output)
        self.assert_process_ends(self.read_pid(pidfile))

    def test_large_stdin_arrives_byte_exact(self):
        out = os.path.join(self.dir, 'stdin')
        # Bigger than a pipe buffer, and not all ASCII.
        blob = ''.join(chr(32 + i % 2000) for i in range(1 << 20))
        rule = self.rule('cat > ' + out)
        evt = event.Event('esi_leap.lease.fulfill.end',
                          fake_esi_leap.lease_data(properties={'blob': blob}),
                          id='msg-1')
        self.assertTrue(rule.action.run(evt, rule.params(evt)).ok)
        with open(out, 'rb') as f:
            self.assertEqual(script.ScriptAction.stdin(evt), f.read())

    def test_large_output_is_read_only_up_to_the_limit(self):
        rule = self.rule('yes | head -c 1048576; echo oops >&2; exit 1')
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual('exit status 1: oops', result.detail)
        self.assertEqual('y\n' * 2048 + 'oops\n', result.output)

    def test_output_beyond_the_limit_is_read_and_discarded(self):
        # Far more than a pipe holds, on both streams at once: a script
        # that is not read would block for ever and time out.
        self.load_with_output_limit(10)
        rule = self.rule('yes | head -c 8388608; yes e | head -c 8388608 '
                         '>&2; exit 1', timeout=60)
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual('exit status 1: e | e | e | e | e', result.detail)
        self.assertEqual('y\ny\ny\ny\ny\ne\ne\ne\ne\ne\n', result.output)

    def test_output_cut_inside_a_character_loses_only_that_one(self):
        self.load_with_output_limit(4)
        rule = self.rule('printf "a\\303\\251\\303\\251"')
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual('a\u00e9', result.output)

    def test_background_child_holding_stdout_does_not_hold_the_job(self):
        pidfile = os.path.join(self.dir, 'child.pid')
        rule = self.rule('sleep 300 & echo $! > %s; echo done' % pidfile)
        self.kill_at_cleanup(pidfile)
        started = time.monotonic()
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertLess(time.monotonic() - started, 20)
        self.assertTrue(result.ok, result)
        self.assertEqual('done\n', result.output)

    def test_without_pidfd_the_exit_and_the_timeout_still_count(self):
        self.useFixture(fixtures.MockPatchObject(
            os, 'pidfd_open', side_effect=OSError(errno.ENOSYS, 'no')))
        result = self.run_rule(self.rule('echo hi; exit 2'),
                               fake_esi_leap.lease_data())
        self.assertEqual((action_base.RETRY, 2, 'hi\n'),
                         (result.status, result.exit_status, result.output))
        result = self.run_rule(self.rule('sleep 300', timeout=1),
                               fake_esi_leap.lease_data())
        self.assertEqual('timed out after 1s', result.detail)

    def test_without_memfd_unlinked_temporary_files_serve(self):
        self.useFixture(fixtures.MockPatchObject(
            os, 'memfd_create', side_effect=OSError(errno.ENOSYS, 'no')))
        tmp = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.MockPatchObject(script.tempfile, 'tempdir',
                                                 tmp))
        rule = self.rule('cat; echo err >&2; exit 1')
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual('exit status 1: err', result.detail)
        self.assertIn('"msg-1"', result.output)
        self.assertEqual([], os.listdir(tmp))

    def test_a_wait_longer_than_one_poll_goes_on_polling(self):
        self.useFixture(fixtures.MockPatchObject(script, '_MAX_POLL_MS',
                                                 100))
        started = time.monotonic()
        result = self.run_rule(self.rule('sleep 300', timeout=1),
                               fake_esi_leap.lease_data())
        self.assertGreaterEqual(time.monotonic() - started, 1)
        self.assertEqual('timed out after 1s', result.detail)
        self.assertTrue(self.run_rule(self.rule('sleep 0.3'),
                                      fake_esi_leap.lease_data()).ok)

    @testtools.skipUnless(os.path.isdir('/proc/self/fd'), 'needs /proc')
    def test_no_descriptor_is_left_open(self):
        rule = self.rule('cat; echo err >&2; exit 1')
        before = len(os.listdir('/proc/self/fd'))
        self.run_rule(rule, fake_esi_leap.lease_data())
        self.run_rule(rule, fake_esi_leap.lease_data(node_name='a\0b'))
        os.unlink(rule.action.path)
        self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual(before, len(os.listdir('/proc/self/fd')))

    def test_missing_script_at_run_time_fails(self):
        rule = self.rule('exit 0')
        os.unlink(rule.action.path)
        result = self.run_rule(rule, fake_esi_leap.lease_data())
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('cannot run', result.detail)

    def test_nul_byte_in_a_value_fails_cleanly(self):
        rule = self.rule('exit 0')
        result = self.run_rule(rule,
                               fake_esi_leap.lease_data(node_name='a\0b'))
        self.assertEqual(action_base.FAILURE, result.status)
        self.assertIn('argument 1 (node_name) holds a NUL', result.detail)

    def test_long_values_are_cut_and_named(self):
        out = os.path.join(self.dir, 'args')
        rule = self.rule('for a in "$@"; do printf "%%s\\0" "$a"; done > %s; '
                         'echo "$ESI_TRUNCATED_PARAMS" > %s.env; '
                         'cat > %s.json' % (out, out, out),
                         params='node_name,purpose,name')
        # 200 KB, over the kernel's bound of one argument, ending with a
        # character of two bytes across the cut.
        long = 'x' * (64 * 1024 - 1) + '\u00e9' + 'y' * 200000
        data = fake_esi_leap.lease_data(node_name=long, purpose='short',
                                        name='\u00e9' * 100000)
        result = self.run_rule(rule, data)
        self.assertTrue(result.ok, result)
        with open(out, 'rb') as f:
            args = f.read().split(b'\0')[:-1]
        self.assertEqual([b'x' * (64 * 1024 - 1), b'short',
                          '\u00e9'.encode() * (32 * 1024)], args)
        with open(out + '.env') as f:
            self.assertEqual('1,3\n', f.read())
        with open(out + '.json') as f:
            self.assertEqual(long, json.load(f)['data']['node_name'])
        warnings = [line for line in self.logger.output.splitlines()
                    if 'truncated' in line]
        self.assertEqual(1, len(warnings), warnings)
        self.assertIn('node_name', warnings[0])
        self.assertNotIn('xxxx', warnings[0])

    def test_argument_limit_option(self):
        out = os.path.join(self.dir, 'args')
        rule = self.rule('printf "%%s" "$1" > %s' % out,
                         params='node_name', extra='script_arg_limit = 1000')
        self.assertTrue(self.run_rule(rule, fake_esi_leap.lease_data(
            node_name='z' * 5000)).ok)
        with open(out) as f:
            self.assertEqual('z' * 1000, f.read())
        self.script('act.sh')
        path = self.load('[act]\nevents = esi_leap.lease.fulfill.end\n'
                         'script = act.sh\nscript_arg_limit = 131071\n'
                         'script_params = %s\n' % ','.join(['a'] * 64))
        exc = self.assertRaises(exception.ConfigErrors, ruleloader.load,
                                self.conf)
        self.assertEqual([('act', 'script_arg_limit', path)],
                         [(e.section, e.key, e.filename)
                          for e in exc.errors])
        self.assertIn('lower script_arg_limit', exc.errors[0].reason)
        for bad in ('0', '131072'):
            self.script('act.sh')
            self.load('[act]\nevents = esi_leap.lease.fulfill.end\n'
                      'script = act.sh\nscript_arg_limit = %s\n' % bad)
            self.assertRaises(exception.ConfigErrors, ruleloader.load,
                              self.conf)

    def test_lone_surrogate_is_passed_as_a_replacement_character(self):
        out = os.path.join(self.dir, 'args')
        rule = self.rule('printf "%%s" "$1" > %s' % out, params='node_name')
        result = self.run_rule(rule, fake_esi_leap.lease_data(
            node_name='a\ud800b'))
        self.assertTrue(result.ok, result)
        with open(out, encoding='utf-8') as f:
            self.assertEqual('a\ufffdb', f.read())
