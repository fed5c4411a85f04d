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
"""Run an executable with values from the event, never through a shell."""

import json
import os
import signal
import subprocess

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions.conf import types

LOG = logging.getLogger(__name__)

_STDERR_LINES = 5


class ScriptAction(base.Action):
    """Run ``[script, *params]`` with the event as JSON on standard input.

    Each param is the value at one ``script_params`` dot path: a string as
    it is, a null or missing value as an empty argument, anything else as
    its JSON text.  The environment adds ESI_EVENT_TYPE, ESI_EVENT_ID,
    ESI_RULE and ESI_ATTEMPT.  Exit status 0 is success.
    """

    opts = [
        cfg.Opt('script', type=types.String(),
                help='Executable to run. A relative path is relative to '
                     'the directory of the file that sets it.'),
        cfg.Opt('script_params', type=types.List(item_type=types.String()),
                default=[],
                help='Dot paths in the lease payload whose values are '
                     'passed as arguments, in order.'),
        cfg.Opt('script_timeout', type=types.Integer(min=1), default=600,
                help='Seconds the script may run before it and every '
                     'process it started are killed.'),
    ]

    def __init__(self, rule):
        super().__init__(rule)
        self.path = None

    def validate(self):
        script = self.options.script
        if not script:
            raise self.error('script', 'the script action needs a script')
        path = self.resolve_path('script')
        if not os.path.isfile(path):
            raise self.error('script', 'no such file: %s' % path)
        if not os.access(path, os.X_OK):
            raise self.error('script', 'not executable: %s' % path)
        self.path = path

    def param_paths(self):
        return list(self.options.script_params or [])

    def describe(self):
        return 'script %s' % ' '.join([self.path] + [
            '<%s>' % p for p in self.param_paths()])

    def argv(self, params):
        return [self.path] + list(params)

    def environ(self, event, attempt):
        env = dict(os.environ)
        env.update(ESI_EVENT_TYPE=event.event_type,
                   ESI_EVENT_ID=event.id,
                   ESI_RULE=self.rule.name,
                   ESI_ATTEMPT=str(attempt))
        return env

    @staticmethod
    def stdin(event):
        return json.dumps(event.to_dict(), sort_keys=True).encode()

    def preview(self, event, params, attempt=1):
        env = self.environ(event, attempt)
        return {'argv': self.argv(params),
                'environment': {k: v for k, v in env.items()
                                if k.startswith('ESI_')},
                'stdin': self.stdin(event).decode(),
                'timeout': self.options.script_timeout}

    def run(self, event, params, attempt=1):
        argv = self.argv(params)
        stdin = self.stdin(event)
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=self.environ(event, attempt),
                close_fds=True, start_new_session=True)
        except (OSError, ValueError) as exc:
            # ValueError: an argument with a NUL byte cannot be passed.
            return base.Result(base.FAILURE, 'cannot run %s: %s'
                               % (self.path, exc))
        timeout = self.options.script_timeout
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group(proc)
            out, err = proc.communicate()
            return base.Result(
                base.RETRY, 'timed out after %ss' % timeout,
                output=self._text(out))
        if proc.returncode == 0:
            return base.Result(base.SUCCESS, 'exit status 0', 0,
                               self._text(out))
        lines = self._text(err).splitlines()[:_STDERR_LINES]
        detail = 'exit status %d' % proc.returncode
        if lines:
            detail += ': ' + ' | '.join(lines)
        return base.Result(base.RETRY, detail, proc.returncode,
                           self._text(out + err))

    @staticmethod
    def _kill_group(proc):
        # The script leads its own session, so its group holds everything it
        # started; killing only the script would orphan its children.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @staticmethod
    def _text(data):
        return data.decode('utf-8', 'replace') if data else ''
