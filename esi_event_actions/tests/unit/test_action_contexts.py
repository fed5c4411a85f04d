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
"""The lease context in the script, webhook and log actions."""

import base64
import json
import os
import stat
import threading

import standardwebhooks

from esi_event_actions.actions import base as action_base
from esi_event_actions.actions import context_io
from esi_event_actions.conf import journal as journal_conf
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import httpserver

WHSEC = 'whsec_' + base64.b64encode(b'k' * 32).decode()
CONTEXT = {'vlan': 1234, 'port': {'id': 'p-1', 'tags': ['a', '{{ x }}']}}


def lease_event(context=None, **data):
    evt = event.Event('esi_leap.lease.delete.end',
                      fake_esi_leap.lease_data(**data), id='msg-1',
                      publisher_id='esi-leap-manager.host1',
                      timestamp='2026-11-26 10:00:00.000001')
    return evt if context is None else evt.with_context(context)


class ContextIOTest(base.TestCase):

    def test_the_read_bound_is_the_largest_limit_the_journal_takes(self):
        opt, = [o for o in journal_conf.opts
                if o.dest == 'context_max_bytes']
        self.assertEqual(opt.type.max, context_io.READ_LIMIT)

    def test_what_is_taken(self):
        parse = context_io.parse
        self.assertIsNone(parse(b'', 'f'))
        self.assertIsNone(parse(b' \n\t', 'f'))
        self.assertEqual({}, parse(b'{}', 'f'))
        self.assertEqual({'vlan': 1234, 'gone': None},
                         parse(b'{"vlan": 1234, "gone": null}\n', 'f'))
        self.assertEqual({'k\x00': '\ud800'},
                         parse(b'{"k\\u0000": "\\ud800"}', 'f'))

    def test_what_is_refused_says_why_and_never_echoes_it(self):
        deep = b'[' * 100000 + b']' * 100000
        nested = b'{"a": ' * 33 + b'1' + b'}' * 33
        cases = {
            b'[1, 2]': 'f is not a JSON object but a list',
            b'"text"': 'f is not a JSON object but a string',
            b'7': 'f is not a JSON object but a number',
            b'{"a": NaN}': 'f is not JSON: NaN is not JSON',
            b'{"a": Infinity}': 'f is not JSON: Infinity is not JSON',
            b'{"a": 1': 'f is not JSON: Expecting',
            b'{"a":\x00 1}': 'f is not JSON: Expecting',
            b'{"secret-\xff": 1}': 'f is not UTF-8 (byte 9)',
            deep: 'f nests deeper than 32 levels',
            nested: 'f nests deeper than 32 levels',
            b' ' * (context_io.READ_LIMIT + 1): 'f holds more than 1048576',
        }
        for data, reason in cases.items():
            exc = self.assertRaises(context_io.ContextOutError,
                                    context_io.parse, data, 'f')
            self.assertTrue(str(exc).startswith(reason), (data[:20], exc))
            self.assertNotIn('secret', str(exc))
        self.assertEqual({'a': 1}, context_io.parse(
            b'{"a": 1}' + b' ' * (context_io.READ_LIMIT - 8), 'f'))

    def test_a_field_of_an_object(self):
        field = context_io.field
        self.assertEqual({'v': 1}, field(b'{"c": {"v": 1}}', 'c', 'r'))
        self.assertIsNone(field(b'{"other": 1}', 'c', 'r'))
        self.assertIsNone(field(b'{"c": null}', 'c', 'r'))
        self.assertIsNone(field(b'', 'c', 'r'))
        exc = self.assertRaises(context_io.ContextOutError, field,
                                b'{"c": [1]}', 'c', 'r')
        self.assertEqual('r field c is not a JSON object but a list',
                         str(exc))
        self.assertRaises(context_io.ContextOutError, field, b'[]', 'c', 'r')

    def test_decoded_values_are_bounded_too(self):
        checked = context_io.checked
        self.assertEqual({'a': 1}, checked({'a': 1}, 's'))
        self.assertIsNone(checked(None, 's'))
        self.assertRaises(context_io.ContextOutError, checked,
                          {'a': 'x' * context_io.READ_LIMIT}, 's')
        self.assertRaises(context_io.ContextOutError, checked,
                          {'a': float('nan')}, 's')
        self.assertRaises(context_io.ContextOutError, checked, True, 's')

    def test_a_refusal_fails_the_attempt_whatever_its_status(self):
        def refuse():
            raise context_io.ContextOutError('f is not JSON')
        for status in (action_base.SUCCESS, action_base.RETRY):
            result = context_io.with_updates(
                action_base.Result(status, 'exit status 0'), refuse)
            self.assertEqual(
                (action_base.FAILURE,
                 'context not written: f is not JSON (exit status 0)', None),
                (result.status, result.detail, result.context))
        result = context_io.with_updates(
            action_base.Result(action_base.RETRY, 'exit status 1'),
            lambda: {'a': 1})
        self.assertEqual((action_base.RETRY, {'a': 1}),
                         (result.status, result.context))
        self.assertIsNone(context_io.with_updates(
            action_base.Result(action_base.SUCCESS), lambda: {}).context)

    def test_the_file_is_private_and_goes(self):
        with context_io.OutFile() as out:
            self.assertEqual(0o700, stat.S_IMODE(os.stat(out.dir).st_mode))
            self.assertEqual(0o600, stat.S_IMODE(os.stat(out.path).st_mode))
            self.assertEqual(0, os.path.getsize(out.path))
            self.assertIsNone(out.read())
            other = os.path.join(out.dir, 'more')
            with open(other, 'w') as f:
                f.write('{"a": 1}')
        self.assertFalse(os.path.exists(out.dir))


class ScriptContextTest(base.TestCase):

    def rule(self, body, params='uuid', timeout=30):
        script = self.script('act.sh', body)
        self.load('[act]\nevents = esi_leap.lease.delete.end\n'
                  'script = %s\nscript_params = %s\nscript_timeout = %d\n'
                  % (script, params, timeout))
        return ruleloader.load(self.conf).by_name['act']

    def run_rule(self, rule, context=None):
        evt = lease_event(context)
        return rule.action.run(evt, rule.params(evt), 1)

    def test_the_script_reads_it_and_writes_updates(self):
        out = os.path.join(self.dir, 'seen')
        rule = self.rule(
            'cat > %(o)s.json; printf "%%s" "$1" > %(o)s.arg; '
            'stat -c %%a "$ESI_CONTEXT_OUT" > %(o)s.mode; '
            'echo "$ESI_CONTEXT_OUT" > %(o)s.path; '
            'printf \'{"vlan": 1235, "port": null}\' > "$ESI_CONTEXT_OUT"'
            % {'o': out}, params='context.vlan')
        result = self.run_rule(rule, CONTEXT)
        self.assertEqual(action_base.SUCCESS, result.status, result)
        self.assertEqual({'vlan': 1235, 'port': None}, result.context)
        with open(out + '.json') as f:
            self.assertEqual(CONTEXT, json.load(f)['context'])
        with open(out + '.arg') as f:
            self.assertEqual('1234', f.read())
        with open(out + '.mode') as f:
            self.assertEqual('600', f.read().strip())
        with open(out + '.path') as f:
            self.assertFalse(os.path.exists(os.path.dirname(
                f.read().strip())))

    def test_each_attempt_has_a_fresh_file(self):
        rule = self.rule('cat "$ESI_CONTEXT_OUT" >&2; '
                         'echo \'{"n": 1}\' >> "$ESI_CONTEXT_OUT"')
        for _ in range(2):
            self.assertEqual({'n': 1}, self.run_rule(rule).context)

    def test_no_write_is_no_update(self):
        result = self.run_rule(self.rule('exit 0'))
        self.assertEqual((action_base.SUCCESS, None),
                         (result.status, result.context))
        result = self.run_rule(self.rule('rm "$ESI_CONTEXT_OUT"'))
        self.assertEqual((action_base.SUCCESS, None),
                         (result.status, result.context))

    def test_writes_count_whatever_the_exit_status(self):
        rule = self.rule('echo \'{"half": true}\' > "$ESI_CONTEXT_OUT"; '
                         'exit 3')
        result = self.run_rule(rule)
        self.assertEqual((action_base.RETRY, {'half': True}),
                         (result.status, result.context))

    def test_a_timed_out_script_s_writes_count(self):
        rule = self.rule('echo \'{"made": 1}\' > "$ESI_CONTEXT_OUT"; '
                         'exec sleep 60', timeout=1)
        result = self.run_rule(rule)
        self.assertEqual((action_base.RETRY, {'made': 1}),
                         (result.status, result.context))

    def test_renamed_over_it(self):
        rule = self.rule('echo \'{"a": 1}\' > "$ESI_CONTEXT_OUT.new"; '
                         'mv "$ESI_CONTEXT_OUT.new" "$ESI_CONTEXT_OUT"')
        self.assertEqual({'a': 1}, self.run_rule(rule).context)

    def assert_refused(self, body, reason):
        result = self.run_rule(self.rule(body))
        self.assertEqual(action_base.FAILURE, result.status, result)
        self.assertIsNone(result.context)
        self.assertIn('context not written: $ESI_CONTEXT_OUT ' + reason,
                      result.detail)
        return result

    def test_hostile_files_are_refused_cleanly(self):
        result = self.assert_refused(
            'head -c 5000000 /dev/zero > "$ESI_CONTEXT_OUT"',
            'holds more than 1048576 bytes')
        self.assertTrue(result.detail.endswith('(exit status 0)'))
        self.assert_refused('echo "[1]" > "$ESI_CONTEXT_OUT"',
                            'is not a JSON object but a list')
        self.assert_refused('printf \'{"a": "\\377"}\' > "$ESI_CONTEXT_OUT"',
                            'is not UTF-8')
        self.assert_refused('printf \'{"a":\\000}\' > "$ESI_CONTEXT_OUT"',
                            'is not JSON')
        self.assert_refused(
            'yes [ | head -c 400000 | tr -d "\\n" > "$ESI_CONTEXT_OUT"',
            'nests deeper than 32 levels')
        self.assert_refused('echo "{\\"a\\": 1" > "$ESI_CONTEXT_OUT"; exit 1',
                            'is not JSON')

    def test_links_and_fifos_are_not_followed(self):
        secret = self.write('secret.json', '{"password": "hunter2"}')
        result = self.assert_refused(
            'ln -sf %s "$ESI_CONTEXT_OUT"' % secret, 'cannot be read')
        self.assertNotIn('hunter2', result.detail)
        done = []
        thread = threading.Thread(target=lambda: done.append(
            self.assert_refused('rm "$ESI_CONTEXT_OUT"; '
                                'mkfifo "$ESI_CONTEXT_OUT"',
                                'is not a regular file')), daemon=True)
        thread.start()
        thread.join(30)
        self.assertEqual(1, len(done), 'reading a FIFO blocked')

    def test_test_rule_shows_the_variable(self):
        rule = self.rule('exit 0')
        env = rule.action.preview(lease_event(), ['u'])['environment']
        self.assertEqual('<a new empty file for each attempt>',
                         env['ESI_CONTEXT_OUT'])


def json_answer(body, status=200):
    """A server answer with ``body`` (bytes) as JSON."""
    def answer(handler):
        handler.send_response(status)
        handler.send_header('Content-Type', 'application/json')
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except OSError:
            pass  # the client read what it wanted and hung up
    return answer


class WebhookContextTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.server = self.useFixture(httpserver.HTTPServer())

    def rule(self, extra=''):
        self.load('[hook]\nevents = esi_leap.lease.delete.end\n'
                  'action = webhook\nurl = %s\n%s\n'
                  % (self.server.url, extra))
        return ruleloader.load(self.conf).by_name['hook']

    def call(self, rule, context=CONTEXT):
        evt = lease_event(context)
        return rule.action.run(evt, rule.params(evt), 1)

    def test_the_body_carries_it_and_the_signature_covers_it(self):
        rule = self.rule('secret = %s' % httpserver.SECRET)
        self.assertTrue(self.call(rule).ok)
        _, _, headers, body = self.server.requests[-1]
        self.assertEqual(CONTEXT, json.loads(body)['context'])
        self.assertTrue(httpserver.verify(httpserver.SECRET, headers, body,
                                          float(headers['X-ESI-Timestamp'])))
        self.assertTrue(self.call(rule, context={}).ok)
        self.assertEqual({}, json.loads(self.server.requests[-1][3])[
            'context'])

    def test_standard_webhooks_carry_it_cloudevents_do_not(self):
        rule = self.rule('format = standard-webhooks\nsecret = %s' % WHSEC)
        self.assertTrue(self.call(rule).ok)
        _, _, headers, body = self.server.requests[-1]
        sent = standardwebhooks.Webhook(WHSEC).verify(body, headers)
        self.assertEqual(CONTEXT, sent['context'])
        for mode in ('binary', 'structured'):
            rule = self.rule('format = cloudevents\ncloudevents_mode = %s'
                             % mode)
            self.assertTrue(self.call(rule).ok)
            self.assertNotIn(b'1234', self.server.requests[-1][3])

    def answered(self, body, status=200, extra=''):
        self.server.statuses.append(json_answer(body, status))
        return self.call(self.rule('context_field = esi_context\n' + extra))

    def test_the_answer_s_field_is_the_update(self):
        result = self.answered(b'{"esi_context": {"fip": "10.0.0.7", '
                               b'"vlan": null}, "other": 1}')
        self.assertEqual(action_base.SUCCESS, result.status, result)
        self.assertEqual({'fip': '10.0.0.7', 'vlan': None}, result.context)
        self.assertIn('10.0.0.7', result.output)
        for body in (b'{"other": 1}', b'{"esi_context": null}', b''):
            result = self.answered(body)
            self.assertEqual((action_base.SUCCESS, None),
                             (result.status, result.context))

    def test_an_answer_without_an_object_there_fails(self):
        for body, reason in [
                (b'{"esi_context": [1]}', 'the answer field esi_context is '
                 'not a JSON object but a list'),
                (b'<html>OK</html>', 'the answer is not JSON'),
                (b'[]', 'the answer is not a JSON object but a list'),
                (b'{"esi_context": {"a": 1}}' + b' ' * (2 << 20),
                 'the answer holds more than 1048576 bytes')]:
            result = self.answered(body)
            self.assertEqual(action_base.FAILURE, result.status)
            self.assertTrue(result.detail.startswith(
                'context not written: ' + reason), result.detail)
            self.assertTrue(result.detail.endswith('(HTTP 200 OK)'))
            self.assertIsNone(result.context)

    def test_only_a_2xx_answer_is_read(self):
        result = self.answered(b'{"esi_context": {"a": 1}}', status=503)
        self.assertEqual((action_base.RETRY, None),
                         (result.status, result.context))
        result = self.answered(b'<html>bad gateway</html>', status=502)
        self.assertEqual(action_base.RETRY, result.status)

    def test_the_output_is_still_within_its_limit(self):
        result = self.answered(b'{"esi_context": {"a": "%s"}}'
                               % (b'x' * 5000),
                               extra='[worker]\noutput_limit = 10')
        self.assertEqual('x' * 5000, result.context['a'])
        self.assertEqual(10, len(result.output))

    def test_without_the_option_the_answer_is_not_parsed(self):
        self.server.statuses.append(json_answer(b'{"esi_context": {"a": 1}}'))
        result = self.call(self.rule())
        self.assertEqual((action_base.SUCCESS, None),
                         (result.status, result.context))

    def test_an_empty_field_name_is_refused_at_load(self):
        self.load('[hook]\nevents = esi_leap.lease.delete.end\n'
                  'action = webhook\nurl = %s\ncontext_field =\n'
                  % self.server.url)
        exc = self.assertRaises(exception.ConfigErrors, ruleloader.load,
                                self.conf)
        self.assertEqual(['context_field'], [e.key for e in exc.errors])


class LogContextTest(base.TestCase):

    def logged(self, level):
        self.load('[log]\nevents = esi_leap.lease.*\naction = log\n'
                  'log_level = %s\nparams = node_name,context.vlan\n'
                  % level)
        rule = ruleloader.load(self.conf).by_name['log']
        evt = lease_event(CONTEXT, node_name='n1')
        self.assertTrue(rule.action.run(evt, rule.params(evt), 1).ok)
        lines = [ln for ln in self.logger.output.splitlines()
                 if ln.startswith('esi-event ')]
        return json.loads(lines[-1][len('esi-event '):])

    def test_nothing_of_it_above_debug(self):
        for level in ('info', 'warning'):
            line = self.logged(level)
            self.assertEqual({'node_name': 'n1', 'context.vlan': '***'},
                             line['params'])
            self.assertNotIn('context', line)
            self.assertNotIn('p-1', json.dumps(line))

    def test_all_of_it_at_debug(self):
        line = self.logged('debug')
        self.assertEqual({'node_name': 'n1', 'context.vlan': '1234'},
                         line['params'])
        self.assertEqual(CONTEXT, line['context'])
