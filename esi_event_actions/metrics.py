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
"""Prometheus metrics and a health check, served over HTTP.

The pipeline reports what happens through a :class:`Metrics` (or the
no-op :data:`NO_METRICS`); the journal's own figures are read when scraped.
"""

import json
import socket
import threading
import time
from wsgiref import simple_server

from oslo_log import log as logging

from esi_event_actions import exception
from esi_event_actions import journal as journal_mod

try:
    import prometheus_client
    from prometheus_client import core as prometheus_core
except ImportError:  # an optional extra
    prometheus_client = None

LOG = logging.getLogger(__name__)

PREFIX = 'esi_event_actions'

#: The values of the ``source`` label: which service took the events in.
SOURCES = ('listener', 'poller')


class NoMetrics:
    """Metrics nobody collects."""

    def received(self, event):
        pass

    def matched(self, rule):
        pass

    def finished(self, rule, state, duration):
        pass

    def poll_failed(self):
        pass

    def rejected(self, event):
        pass

    def scheduled(self, rule):
        pass

    def fired(self, rule, count):
        pass

    def cancelled(self, rule):
        pass


NO_METRICS = NoMetrics()


class Metrics(NoMetrics):
    """Counters and histograms of the pipeline, in their own registry.

    :param source: what takes the events in, one of :data:`SOURCES`.
    :param expected_event_interval: ``[metrics] expected_event_interval``,
        exported for the alert on a silent source; 0 turns it off.
    """

    def __init__(self, source, expected_event_interval=0.0):
        if prometheus_client is None:
            raise RuntimeError('[metrics] enabled needs the '
                               'prometheus_client library')
        if source not in SOURCES:
            raise ValueError('source %r is not one of %s'
                             % (source, ', '.join(SOURCES)))
        self.source = source
        self.registry = prometheus_client.CollectorRegistry()
        make = dict(registry=self.registry)
        self._received = prometheus_client.Counter(
            PREFIX + '_notifications_received', 'Events received, by type '
            'and source (listener or poller).', ['event_type', 'source'],
            **make)
        self._poll_failures = prometheus_client.Counter(
            PREFIX + '_poll_failures', 'Polls for events that failed, by '
            'source (listener or poller).', ['source'], **make)
        # Exported at 0 from the start: increase() misses the first
        # failure of a counter that appears at 1.
        self._poll_failures.labels(source)
        self._rejected = prometheus_client.Counter(
            PREFIX + '_events_rejected', 'Events the journal could not '
            'store, kept among the rejected events, by source.',
            ['source'], **make)
        self._rejected.labels(source)
        prometheus_client.Gauge(
            PREFIX + '_start_time_seconds', 'When this instance started, '
            'in seconds since the Unix epoch.',
            **make).set_to_current_time()
        prometheus_client.Gauge(
            PREFIX + '_expected_event_interval_seconds', 'Longest silence '
            'expected between two events ([metrics] '
            'expected_event_interval); 0: no expectation.',
            **make).set(expected_event_interval)
        self._matched = prometheus_client.Counter(
            PREFIX + '_rule_matches', 'Events a rule acted on.', ['rule'],
            **make)
        self._finished = prometheus_client.Counter(
            PREFIX + '_job_attempts', 'Job attempts by rule and the state '
            'they left the job in (done, retry, dead).', ['rule', 'state'],
            **make)
        self._duration = prometheus_client.Histogram(
            PREFIX + '_action_duration_seconds', 'Time an action took.',
            ['rule'], buckets=(.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 1800),
            **make)
        self._scheduled = prometheus_client.Counter(
            PREFIX + '_timers_scheduled', 'Timed jobs journalled to wait '
            'for their time, by rule.', ['rule'], **make)
        self._fired = prometheus_client.Counter(
            PREFIX + '_timers_fired', 'Timed jobs made pending when their '
            'time came, by rule.', ['rule'], **make)
        self._cancelled = prometheus_client.Counter(
            PREFIX + '_timers_cancelled', 'Timed jobs an event cancelled '
            'before their time, by rule.', ['rule'], **make)
        self.last_event = None

    def received(self, event):
        self._received.labels(event.event_type, self.source).inc()
        self.last_event = time.time()

    def poll_failed(self):
        self._poll_failures.labels(self.source).inc()

    def rejected(self, event):
        self._rejected.labels(self.source).inc()

    def matched(self, rule):
        self._matched.labels(rule).inc()

    def finished(self, rule, state, duration):
        self._finished.labels(rule, state).inc()
        self._duration.labels(rule).observe(duration)

    def scheduled(self, rule):
        self._scheduled.labels(rule).inc()

    def fired(self, rule, count):
        self._fired.labels(rule).inc(count)

    def cancelled(self, rule):
        self._cancelled.labels(rule).inc()

    def watch(self, journal, source):
        """Report the journal's figures and ``source``'s state on scrape."""
        self.registry.register(_StateCollector(journal, source, self))


class _StateCollector:
    """Gauges read when scraped: the journal and the event source."""

    def __init__(self, journal, source, metrics):
        self.journal = journal
        self.source = source
        self.metrics = metrics

    def collect(self):
        gauge = prometheus_core.GaugeMetricFamily
        # What /healthz calls consuming: a dead polling thread, polls that
        # keep failing and a lost broker connection all make it 0.
        up = gauge(PREFIX + '_consumer_up', 'Whether the event source '
                   'is taking events in (1) or not (0), by source.',
                   labels=['source'])
        up.add_metric([self.metrics.source],
                      1 if self.source.consuming() else 0)
        yield up
        depth = gauge(PREFIX + '_journal_jobs', 'Jobs in the journal by '
                      'state.', labels=['state'])
        try:
            status = self.journal.status()
            due = self.journal.next_timer()
        except Exception:
            LOG.exception('Cannot read the journal for metrics')
            status = None
        if status is not None:
            for state, count in status['jobs'].items():
                depth.add_metric([state], count)
            yield depth
            oldest = status['oldest_unfinished']
            age = ((journal_mod.utcnow() - oldest).total_seconds()
                   if oldest else 0.0)
            yield gauge(PREFIX + '_oldest_unfinished_job_age_seconds',
                        'Age of the oldest job not done or dead.',
                        value=age)
            # Due in the future is not late: 0, as with none scheduled.
            late = (max(0.0, (journal_mod.utcnow() - due).total_seconds())
                    if due else 0.0)
            yield gauge(PREFIX + '_timer_overdue_seconds', 'How long '
                        'ago the time of the most overdue scheduled job '
                        'came; 0 when none is overdue.', value=late)
        if self.metrics.last_event is not None:
            yield gauge(PREFIX + '_seconds_since_last_event',
                        'Seconds since this instance last received an '
                        'event.', value=time.time() -
                        self.metrics.last_event)
        connected = self.source.connected()
        if connected is not None:
            yield gauge(PREFIX + '_source_connected', 'Whether the event '
                        'source (the broker, or esi-leap\'s API) answers.',
                        value=1 if connected else 0)


def health(journal, source):
    """(ok, details) of this instance: consuming, and journal writable."""
    details = {'consuming': bool(source.consuming()),
               'source_connected': source.connected()}
    try:
        journal.check_writable()
        details['journal_writable'] = True
    except Exception as exc:
        details['journal_writable'] = False
        details['journal_error'] = type(exc).__name__
    ok = details['consuming'] and details['journal_writable']
    return ok, details


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def listen(host, port):
    """The status server's listening socket.

    Made in the launcher's process, before it forks the worker, so that a
    port in use stops the service at start instead of making the worker
    crash again and again; the worker, and every worker after a reload,
    serves on the socket it inherits.

    :raises ConfigErrors: naming ``[metrics] port``.
    """
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise exception.ConfigErrors([exception.ConfigError(
            'cannot listen on %s:%d: %s' % (host, port, exc.strerror),
            section='metrics', key='port')])
    sock.set_inheritable(True)
    return sock


class _Server(simple_server.WSGIServer):
    """A WSGI server on a socket bound before the launcher forked."""

    def __init__(self, sock):
        super().__init__(sock.getsockname()[:2], _QuietHandler,
                         bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()[:2]
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]
        self.setup_environ()


class StatusServer:
    """Serves /metrics (Prometheus) and /healthz (JSON) in a thread.

    :param sock: the listening socket, from :func:`listen`.
    """

    def __init__(self, sock, metrics, journal, source):
        self.metrics = metrics
        self.journal = journal
        self.source = source
        self._metrics_app = prometheus_client.make_wsgi_app(
            metrics.registry)
        self.httpd = _Server(sock)
        self.httpd.set_app(self._app)
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        daemon=True, name='esi-metrics')

    @property
    def port(self):
        return self.httpd.server_port

    def start(self):
        self._thread.start()
        LOG.info('Serving /metrics and /healthz on %s:%d',
                 *self.httpd.server_address[:2])

    def stop(self):
        # The socket stays open: it is the launcher's, for the next worker.
        self.httpd.shutdown()

    def _app(self, environ, start_response):
        if environ.get('PATH_INFO') == '/healthz':
            ok, details = health(self.journal, self.source)
            body = json.dumps(details, sort_keys=True).encode()
            start_response('200 OK' if ok else '503 Service Unavailable',
                           [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))])
            return [body]
        return self._metrics_app(environ, start_response)
