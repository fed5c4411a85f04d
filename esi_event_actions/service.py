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

import abc
import threading

from oslo_log import log as logging
from oslo_service import service

from esi_event_actions import bootstrap
from esi_event_actions.conf import legacy
from esi_event_actions import exception
from esi_event_actions import history
from esi_event_actions import listener as listener_mod
from esi_event_actions import metrics as metrics_mod
from esi_event_actions import oslo_internals
from esi_event_actions import pipeline as pipeline_mod
from esi_event_actions import retries

LOG = logging.getLogger(__name__)


class _PipelineService(service.Service):
    """A service feeding the pipeline from one source.

    Everything that opens a connection or a thread is built in
    :meth:`start`, which runs in the launcher's worker process.
    """

    #: The ``source`` label of its metrics.
    source_name = None
    #: What reads leases from esi-leap's API, if the source has one.
    client = None

    def __init__(self, conf, ruleset):
        super().__init__()
        self.conf = conf
        self.ruleset = ruleset
        self.journal = None
        self.pipeline = None
        self.status_server = None
        self.status_socket = None
        self._stopped = threading.Event()

    def start(self):
        super().start()
        conf = self.conf
        metrics = metrics_mod.NO_METRICS
        if conf.metrics.enabled:
            metrics = metrics_mod.Metrics(
                self.source_name, conf.metrics.expected_event_interval)
        self.pipeline = pipeline_mod.build(conf, self.ruleset, metrics,
                                           client=self.client)
        self.journal = self.pipeline.journal
        if conf.metrics.enabled:
            metrics.watch(self.journal, self)
        self.pipeline.start()
        self.start_source()
        if conf.metrics.enabled:
            self.status_server = metrics_mod.StatusServer(
                self.status_socket, metrics, self.journal, self)
            self.status_server.start()

    @abc.abstractmethod
    def consuming(self):
        """Whether the source is taking events in."""

    @abc.abstractmethod
    def connected(self):
        """Whether the source's server answers; None if unknown."""

    def reload_rules(self):
        """Load the rules again after the configuration was re-read.

        Runs in the launcher's parent process on SIGHUP, before the worker
        restarts from it: a configuration with an error is refused and
        the rules in force stay.
        """
        try:
            ruleset = bootstrap.check(self.conf)
        except Exception as exc:
            LOG.error('SIGHUP: the new configuration is refused, the rules '
                      'in force stay:\n%s', exc)
            return
        self.ruleset = ruleset
        LOG.info('SIGHUP: configuration reloaded, %d rule(s): %s',
                 len(ruleset), ', '.join(r.name for r in ruleset.rules))

    @abc.abstractmethod
    def start_source(self):
        """Start feeding the pipeline."""

    @abc.abstractmethod
    def stop_source(self):
        """Stop feeding the pipeline; return when nothing more comes."""

    def stop(self, graceful=False):
        # Stop taking input first: what is already journalled is safe, and
        # what is not yet acknowledged will be offered again.
        self.stop_source()
        if self.status_server is not None:
            self.status_server.stop()
        if self.pipeline is not None:
            if not self.pipeline.stop(_drain_time(self.conf)):
                LOG.warning('Actions still running at shutdown will run '
                            'again at the next start')
        if self.pipeline is not None:
            self.pipeline.close()
        self._stopped.set()
        super().stop(graceful)

    def wait(self):
        self._stopped.wait()


def launch(conf, svc):
    """Launch ``svc``; SIGHUP re-reads the configuration and the rules.

    :raises ConfigErrors: the metrics port cannot be listened on.

    The launcher mutates the configuration in its parent process, then
    restarts the worker, which forks from the parent: loading the rules
    there, between the two, is what the worker then runs with.
    """
    if conf.metrics.enabled:
        svc.status_socket = metrics_mod.listen(conf.metrics.bind_host,
                                               conf.metrics.port)
    launcher = service.launch(conf, svc, restart_method='mutate')
    oslo_internals.on_reload(launcher, svc.reload_rules)
    return launcher


def run(conf, svc, prog):
    """Launch ``svc`` and wait for it; the exit status."""
    try:
        launcher = launch(conf, svc)
    except exception.ConfigErrors as exc:
        bootstrap.config_error(prog, exc)
        return 1
    return launcher.wait()


def _drain_time(conf):
    # The launcher kills the worker when graceful_shutdown_timeout runs
    # out; leave it time to log and close the journal before that.
    timeout = conf.graceful_shutdown_timeout
    return max(1.0, timeout * 0.8) if timeout else None


class ListenerService(_PipelineService):
    """Consume esi-leap notifications and run the actions they call for."""

    source_name = 'listener'
    transport = None
    listener = None
    _listening = False

    def start_source(self):
        conf = self.conf
        self.transport = bootstrap.notification_transport(conf)
        self.listener = listener_mod.build(conf, self.transport,
                                           self.pipeline)
        self.listener.start()
        self._listening = True
        LOG.info('Listening on %(topics)s (exchange %(exchange)s) with '
                 '%(rules)d rule(s)',
                 {'topics': ', '.join(legacy.topics(conf)),
                  'exchange': conf.listener.exchange,
                  'rules': len(self.ruleset)})

    def consuming(self):
        return (self._listening and self.listener.consuming() and
                self.connected() is not False)

    def connected(self):
        return self.listener.connected() if self.listener else None

    def stop_source(self):
        self._listening = False
        if self.listener is not None:
            self.listener.stop()
            self.listener.wait()
        if self.transport is not None:
            self.transport.cleanup()


class PollerService(_PipelineService):
    """Poll esi-leap's event history and run the actions it calls for."""

    source_name = 'poller'
    poller = None
    _thread = None
    _last_poll_ok = None

    def __init__(self, conf, ruleset, client):
        super().__init__(conf, ruleset)
        self.client = client
        self._halt = threading.Event()

    def start_source(self):
        self.poller = history.HistoryPoller(self.client, self.pipeline,
                                            self.conf.poller)
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name='esi-history-poller')
        self._thread.start()
        LOG.info('Polling esi-leap\'s event history every %ss with '
                 '%d rule(s)', self.conf.poller.poll_interval,
                 len(self.ruleset))

    def _loop(self):
        failures = 0
        while not self._halt.is_set():
            try:
                self.poller.poll()
                self._last_poll_ok = True
                failures = 0
                wait = self.conf.poller.poll_interval
            except Exception as exc:
                self._last_poll_ok = False
                self.pipeline.metrics.poll_failed()
                failures += 1
                wait = poll_backoff(self.conf.poller, failures)
                LOG.warning('Event history poll failed (%s); next try in '
                            '%.0fs', exc, wait)
            self._halt.wait(wait)

    def consuming(self):
        return bool(self._thread and self._thread.is_alive() and
                    self._last_poll_ok is not False)

    def connected(self):
        return self._last_poll_ok

    def stop_source(self):
        self._halt.set()
        if self._thread is not None:
            self._thread.join()


def poll_backoff(options, failures):
    """Seconds to wait after ``failures`` failed polls in a row."""
    policy = retries.RetryPolicy(base_delay=min(options.poll_interval, 5.0),
                                 max_delay=options.max_backoff)
    return policy.delay(failures)
