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
"""What one ansible-runner run reports, and the timeout it must keep."""

import os
import signal
import time

from esi_event_actions.actions.ansible import output
from esi_event_actions.actions import proctree

# Seconds ansible-playbook has to stop its workers after SIGTERM.
_TERM_GRACE = 10.0
#: Characters of the end of the output kept when the caller sets none.
OUTPUT_LIMIT = 4096


class Watch:
    """Event handler and cancel callback of one ansible-runner run.

    It keeps what the job's detail needs and the end of the output, and
    enforces the timeout itself:
    ansible-runner's own timeout sends SIGKILL to ansible-playbook's
    process group only, while ansible-core's workers lead sessions of
    their own, so the task running at that moment (and whatever it
    started) would survive.  On SIGTERM ansible-playbook terminates its
    workers' process groups; SIGKILL follows if it has not ended in time.
    """

    def __init__(self, timeout, grace=_TERM_GRACE, clock=time.monotonic,
                 output_limit=OUTPUT_LIMIT):
        self.timeout = timeout
        self.grace = grace
        self._clock = clock
        self._deadline = clock() + timeout
        self._term_sent = None
        self._tree = None
        self.timed_out = False
        self.pid = None
        self.output = output.Tail(output_limit)
        self.last_failure = None
        self.failures = 0
        self.stats = {}

    def __call__(self, runner_event):
        """ansible-runner's event handler.

        False: ansible-runner writes no ``job_events`` file of the event,
        which would hold its output, and its result.
        """
        if self.pid is None and isinstance(runner_event.get('pid'), int):
            # ansible-playbook's own pid: every event comes from it.
            self.pid = runner_event['pid']
        kind = runner_event.get('event')
        data = runner_event.get('event_data') or {}
        if kind == 'runner_on_failed' and not data.get('ignore_errors'):
            self._failed('failed', data)
        elif kind == 'runner_on_unreachable' and not data.get(
                'ignore_unreachable'):
            self._failed('unreachable', data)
        elif kind == 'playbook_on_stats':
            self.stats = data
        text = runner_event.get('stdout')
        if text:
            # As ansible-runner's stdout file has it.
            self.output.add(text + '\n')
        return False

    def _failed(self, how, data):
        # The last one only: a rescued failure may happen any number of
        # times.
        self.last_failure = (how, data.get('task'), data.get('host'))
        self.failures += 1

    def cancel(self):
        """ansible-runner's cancel callback: True to kill the run now."""
        now = self._clock()
        if now < self._deadline:
            return False
        self.timed_out = True
        if self.pid is None:
            return True
        if self._term_sent is None:
            self._term_sent = now
            # Before the SIGTERM: a task's process whose parent dies of it
            # can no longer be told from any other.
            self._tree = proctree.ProcessTree(self.pid)
            try:
                os.kill(self.pid, signal.SIGTERM)
            except OSError:
                self.finish()
                return True
            return False
        if now - self._term_sent < self.grace:
            self._tree.update()
            return False
        self.finish()
        return True

    def finish(self):
        """Kill what is left of the run after a timeout.

        Called when ansible-runner returns: ansible-playbook may have
        ended on SIGTERM before the grace period did, leaving behind the
        processes that ignore it.
        """
        if self._tree is not None:
            self._tree.kill()

    def summary(self):
        """What went wrong, naming the task and host but no result."""
        if not self.failures:
            return ''
        # The last failure is the one that stopped the play; earlier ones
        # may have been rescued.
        how, task, host = self.last_failure
        if how == 'unreachable':
            text = 'host %s unreachable at task "%s"' % (host, task)
        else:
            text = 'task "%s" failed on %s' % (task, host)
        if self.failures > 1:
            text += ' (and %d more)' % (self.failures - 1)
        return text

    def counts(self):
        return ' '.join('%s=%d' % (key, sum((self.stats.get(key) or
                                             {}).values()))
                        for key in ('ok', 'changed'))
