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
"""The esi-event-actions service: the bus listener and the pipeline."""

import threading

from oslo_log import log as logging
from oslo_service import service

from esi_event_actions import config
from esi_event_actions import journal as journal_mod
from esi_event_actions import listener as listener_mod
from esi_event_actions import pipeline as pipeline_mod
from esi_event_actions import workers

LOG = logging.getLogger(__name__)


class ListenerService(service.Service):
    """Consume esi-leap notifications and run the actions they call for.

    Everything that opens a connection or a thread is built in
    :meth:`start`, which runs in the launcher's worker process.
    """

    def __init__(self, conf, ruleset):
        super().__init__()
        self.conf = conf
        self.ruleset = ruleset
        self.journal = None
        self.pipeline = None
        self.transport = None
        self.listener = None
        self._stopped = threading.Event()

    def start(self):
        super().start()
        conf = self.conf
        self.journal = journal_mod.Journal(
            conf.journal.connection, conf.journal.sqlite_synchronous)
        self.pipeline = pipeline_mod.Pipeline(
            self.ruleset, self.journal, **workers.pool_options(conf))
        self.pipeline.start()
        self.transport = config.notification_transport(conf)
        self.listener = listener_mod.build(conf, self.transport,
                                           self.pipeline)
        self.listener.start()
        LOG.info('Listening on %(topics)s (exchange %(exchange)s) with '
                 '%(rules)d rule(s)',
                 {'topics': ', '.join(listener_mod.topics(conf)),
                  'exchange': conf.listener.exchange,
                  'rules': len(self.ruleset)})

    def stop(self, graceful=False):
        # Stop taking messages first: what is already journalled is safe,
        # and what is not yet acked goes back to the broker.
        if self.listener is not None:
            self.listener.stop()
            self.listener.wait()
        if self.pipeline is not None:
            finished = self.pipeline.stop(
                self.conf.graceful_shutdown_timeout or None)
            if not finished:
                LOG.warning('Actions still running at shutdown will run '
                            'again at the next start')
        if self.transport is not None:
            self.transport.cleanup()
        if self.journal is not None:
            self.journal.close()
        self._stopped.set()
        super().stop(graceful)

    def wait(self):
        self._stopped.wait()
