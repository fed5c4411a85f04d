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
"""Helpers to run esi-event-actions for real against a private RabbitMQ."""

import os
import signal
import subprocess
import sys
import textwrap
import uuid

import fixtures
from oslo_config import cfg
import oslo_messaging
import testtools
from testtools import content

from esi_event_actions import journal
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.functional.harness import broker
from esi_event_actions.tests.functional.harness import postgres
from esi_event_actions.tests.functional.harness import procs


def _command(name, module):
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(script):
        return [script]
    return [sys.executable, '-m', module]


SERVICE = _command('esi-event-actions', 'esi_event_actions.cmd.listener')
MANAGE = _command('esi-event-actions-manage', 'esi_event_actions.cmd.manage')
POLLER = _command('esi-event-actions-poller', 'esi_event_actions.cmd.poller')


def wait_for(predicate, timeout, what, interval=0.1):
    value = procs.wait_until(predicate, timeout, interval)
    if not value:
        raise AssertionError('timed out after %ss waiting for %s'
                             % (timeout, what))
    return value


# Records each call as one line: the event id, the rule, then every
# argument hex-encoded, so any byte survives the round trip.
RECORDER = '''#!/bin/sh
%s
line="$ESI_EVENT_ID $ESI_RULE"
for arg in "$@"; do
  line="$line $(printf '%%s' "$arg" | od -An -v -tx1 | tr -d ' \\n')."
done
# One write, so a kill -9 never leaves half a line.
printf '%%s\\n' "$line" >> %s
'''  # noqa: E501


class Calls:
    """The calls a RECORDER script logged."""

    def __init__(self, path):
        self.path = path

    def read(self):
        if not os.path.exists(self.path):
            return []
        calls = []
        with open(self.path) as f:
            for line in f.read().splitlines():
                parts = line.split(' ')
                args = [bytes.fromhex(p.rstrip('.')).decode()
                        for p in parts[2:]]
                calls.append((parts[0], parts[1], args))
        return calls


class ServiceProcess(fixtures.Fixture):
    """One esi-event-actions process (and its launcher's worker)."""

    def __init__(self, config_file, log_file, command=SERVICE,
                 ready='Listening on'):
        super().__init__()
        self.config_file = config_file
        self.log_file = log_file
        self.command = command
        self.ready = ready
        self.proc = None

    def _setUp(self):
        self.start()
        self.addCleanup(self.stop)

    def start(self):
        self._log = open(self.log_file, 'ab')
        # Its own session, so that kill() reaches the launcher, its worker
        # and every script they run, as a host crash would.
        self.proc = subprocess.Popen(
            self.command + ['--config-file', self.config_file],
            stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def log(self):
        with open(self.log_file, errors='replace') as f:
            return f.read()

    def wait_listening(self, timeout=60):
        wait_for(lambda: self.ready in self.log() or
                 self.proc.poll() is not None, timeout, 'the service')
        if self.proc.poll() is not None:
            raise AssertionError('service exited %s:\n%s'
                                 % (self.proc.returncode, self.log()))

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self._log.close()
            return self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        finally:
            self._log.close()


class FunctionalTestCase(testtools.TestCase):
    """A test with its own topic on the shared private broker."""

    #: Whether the test needs a broker of its own (it restarts it).
    private_broker = False

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(level='INFO'))
        self.broker = self.useFixture(
            broker.BrokerFixture(private=self.private_broker))
        self.transport_url = self.broker.transport_url
        self.dir = self.useFixture(fixtures.TempDir()).path
        # A topic of its own: parallel tests never consume each other's
        # notifications.
        self.topic = 'esi_ft_%s' % uuid.uuid4().hex[:12]
        # The listener pool of the instances a test starts: oslo.messaging
        # names the queue after the pool alone, so a pool name that two
        # tests share would have each consume the other's notifications.
        self.pool = self.topic + '_pool'
        self.journal_url = 'sqlite:///%s' % os.path.join(self.dir,
                                                         'journal.sqlite')
        self.esi_leap = self.publisher()

    def publisher(self, durable=False):
        """An esi-leap notifier on this test's broker and topic."""
        conf = cfg.ConfigOpts()
        files = []
        if durable:
            files = [self.write('esi-leap.conf', '[oslo_messaging_rabbit]\n'
                                'amqp_durable_queues = true\n')]
        conf(['--config-file=%s' % f for f in files],
             project='esi-event-actions-tests', default_config_files=[])
        transport = oslo_messaging.get_notification_transport(
            conf, url=self.transport_url)
        self.addCleanup(transport.cleanup)
        return fake_esi_leap.Notifier(transport, topic=self.topic)

    def write(self, name, text, mode=None):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text))
        if mode:
            os.chmod(path, mode)
        return path

    def config(self, rules, extra='', name='service.conf'):
        """A config file for this test's broker, topic and journal."""
        return self.write(name, '''\
[DEFAULT]
transport_url = %s
state_path = %s
[listener]
topics = %s
[journal]
connection = %s
sqlite_synchronous = NORMAL
%s
%s''' % (self.transport_url, self.dir, self.topic, self.journal_url,
         textwrap.dedent(extra), textwrap.dedent(rules)))

    def recorder(self, name, before=''):
        """An executable that logs its calls; ``before`` runs first."""
        calls = os.path.join(self.dir, name + '.calls')
        self.write(name, RECORDER % (before, calls), 0o755)
        return Calls(calls)

    def service(self, config_file, name='service', **kwargs):
        svc = self.useFixture(ServiceProcess(
            config_file, os.path.join(self.dir, name + '.log'), **kwargs))
        # Registered after the temporary directory's cleanup, so it runs
        # first, while the log still exists.
        self.addCleanup(lambda: self.addDetail(
            name + '-log', content.text_content(svc.log())))
        return svc

    def shared_journal(self, worker=''):
        """Instances of this test on one PostgreSQL journal, in one pool.

        :param worker: more ``[worker]`` options.
        :returns: the configuration text each instance adds.
        """
        self.journal_url = self.useFixture(postgres.PostgresFixture()).url
        return '''
[listener]
pool = %s
[worker]
poll_interval = 0.2
%s''' % (self.pool, textwrap.dedent(worker))

    def journal_rows(self, **where):
        store = journal.Journal(self.journal_url)
        try:
            return store.rows(**where)
        finally:
            store.close()
