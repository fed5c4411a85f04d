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
"""Test cases on the real journal, pipeline and listener.

Each class gives its tests a working part of the service; the test
modules subclass them.  :class:`JournalTestCase` and
:class:`PipelineTestCase` take their database from :meth:`journal_url`,
which the functional tests override to run the same tests on PostgreSQL.
"""

import os
import shlex
import sys
import time

import oslo_messaging

from esi_event_actions.actions import base as action_base
from esi_event_actions import bootstrap
from esi_event_actions import journal
from esi_event_actions import listener
from esi_event_actions import pipeline
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import samples

# What an action returns, for jobs a test ends itself.
OK = action_base.Result(action_base.SUCCESS, 'ok', 0, 'output')
FAIL = action_base.Result(action_base.RETRY, 'exit status 1', 1, '')

# Prints the lease name it reads from the event on standard input, which
# carries any value (argv cannot carry a NUL), and exits with the lease's
# properties.exit.
_ECHO_NAME = '''\
import json, sys
data = json.load(sys.stdin)["data"]
out = "%s|%s" % (data["name"], sys.argv[1])
out = out.encode("utf-8", "surrogatepass")
sys.stdout.buffer.write(out)
err = str(data["purpose"]).encode("utf-8", "surrogatepass")
sys.stderr.buffer.write(err)
sys.exit(int(data["properties"].get("exit", 0)))'''

_PIPELINE_RULES = '''
[DEFAULT]
transport_url = fake://
[journal]
connection = %s
[act]
events = esi_leap.lease.fulfill.end
script = act.sh
script_params = purpose
max_attempts = 1
[once]
events = esi_leap.lease.fulfill.end
filter_params = {"resource_type": "dummy_node"}
once_per = name
action = log
[filtered]
events = esi_leap.lease.fulfill.end
filter_params = {"node_properties.cpus": {">=": 8}, "name": {"!=": "x"}}
action = log
'''


def wait_counts(store, done, timeout, interval):
    """Poll a journal's counts until ``done(counts)``; None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = store.counts()
        if done(counts):
            return counts
        time.sleep(interval)
    return None


class JournalTestCase(base.TestCase):
    """A test with a journal of its own, ``self.journal``."""

    def setUp(self):
        super().setUp()
        self.url = self.journal_url()
        self.journal = self.open()

    def journal_url(self):
        return 'sqlite:///%s' % os.path.join(self.dir, 'sub', 'j.sqlite')

    def open(self):
        store = journal.Journal(self.url)
        self.addCleanup(store.close)
        return store

    def add(self, *specs):
        """Add one job per (message id, node) spec, rule "r"."""
        return self.journal.add([(fake_esi_leap.lease_event(m, n), ['r'])
                                 for m, n in specs])


class PipelineTestCase(base.TestCase):
    """The real endpoint, rules, journal, workers and script action."""

    journal_class = journal.Journal

    def journal_url(self):
        return 'sqlite:///%s' % os.path.join(self.dir, 'journal.sqlite')

    def setUp(self):
        super().setUp()
        self.script('act.sh', '%s -S -c %s "$@"' % (
            sys.executable, shlex.quote(_ECHO_NAME)))
        self.load(_PIPELINE_RULES % self.journal_url())
        self.ruleset = bootstrap.check(self.conf)
        self.journal = self.journal_class(self.conf.journal.connection)
        self.addCleanup(self.journal.close)
        self.pipeline = pipeline.Pipeline(self.ruleset, self.journal, 2)
        self.pipeline.start()
        self.addCleanup(self.pipeline.stop, 10)
        self.endpoint = listener.FulfillEndpoint(self.pipeline,
                                                 requeue_delay=0)

    def deliver(self, *messages):
        return self.endpoint.info(list(messages))

    def wait_final(self, count, timeout=30):
        counts = wait_counts(self.journal, lambda counts: sum(
            counts[s] for s in journal.FINAL_STATES) >= count, timeout, 0.02)
        if counts is None:
            self.fail('jobs did not end: %s' % self.journal.counts())
        return counts

    def job_rows(self, rule):
        return sorted((r for r in self.journal.rows() if r['rule'] == rule),
                      key=lambda r: r['id'])


class ListenerTestCase(base.TestCase):
    """The real batch listener and pipeline on the in-memory transport."""

    def setUp(self):
        super().setUp()
        self.out = os.path.join(self.dir, 'out')
        for name in ('fulfill.sh', 'delete.sh'):
            self.script(name, '{ printf "%s "; printf "[%%s]" "$@"; echo; '
                        '} >> %s' % (name, self.out))
        self.load(samples.SEED_FIXED + '''
[DEFAULT]
transport_url = fake://
[journal]
connection = sqlite:///%s/journal.sqlite
''' % self.dir)
        self.ruleset = bootstrap.check(self.conf)
        self.journal = journal.Journal(self.conf.journal.connection)
        self.addCleanup(self.journal.close)
        self.pipeline = pipeline.Pipeline(self.ruleset, self.journal, 2)
        self.pipeline.start()
        self.addCleanup(self.pipeline.stop, 10)
        self.transport = oslo_messaging.get_notification_transport(
            self.conf, url='fake://')
        self.addCleanup(self.transport.cleanup)
        self.esi_leap = fake_esi_leap.Notifier(self.transport)

    def start_listener(self, server=None):
        """Start ``server``, or one built on this test's pipeline."""
        if server is None:
            server = listener.build(self.conf, self.transport,
                                    self.pipeline)
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        return server

    def wait_jobs(self, count, timeout=20):
        counts = wait_counts(self.journal, lambda counts: counts[
            journal.DONE] + counts[journal.DEAD] >= count, timeout, 0.05)
        if counts is None:
            self.fail('jobs did not finish: %s' % self.journal.counts())
        return counts

    def output(self):
        with open(self.out) as f:
            return sorted(f.read().splitlines())
