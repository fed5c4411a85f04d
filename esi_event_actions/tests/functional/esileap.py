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

"""The real esi-leap 1.0 API and manager as a peer for functional tests.

esi-leap runs from PyPI (``esi-leap==1.0.0``) in a virtualenv of its own
(:mod:`.esileap_venv`), because its requirements clash with ours. To
build it ahead of a run::

    python -m esi_event_actions.tests.functional.esileap install

Each :class:`~.esileap_server.EsiLeap` runs ``esi-leap-api`` and
``esi-leap-manager`` (the latter with a short periodic interval) on
loopback, with a SQLite database, ``dummy_node`` resources described by
JSON files (:mod:`.esileap_data`), no Keystone and no Ironic (a stub
answers for both, see :mod:`.esileap_stub`) and notifications on a
RabbitMQ, by default the process-wide :func:`.broker.shared_broker`.
Tests drive it over REST as owner or lessee (:mod:`.esileap_client`),
which makes esi-leap emit genuine ``esi_leap.lease.*`` notifications and
a genuine event history (``GET /v1/events``).

Every instance publishes on its own topic
(:attr:`~.esileap_server.EsiLeap.topic`) unless told otherwise, so that
test workers sharing one broker never consume each other's
notifications. For a manual look::

    python -m esi_event_actions.tests.functional.esileap run
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

import fixtures

from esi_event_actions.tests.functional import broker
from esi_event_actions.tests.functional import esileap_server
from esi_event_actions.tests.functional import esileap_venv
from esi_event_actions.tests.functional import shared


def _start_shared():
    server = esileap_server.EsiLeap(broker.shared_broker().transport_url)
    server.start()
    return server


_SHARED = shared.ProcessWide(_start_shared)


def shared_esi_leap():
    """Return the esi-leap shared by all tests of this process.

    It publishes on :func:`broker.shared_broker` and is started on first
    use and stopped at interpreter exit. Tests sharing it must keep to
    their own nodes and projects
    (:meth:`~.esileap_server.EsiLeap.add_node`,
    :meth:`~.esileap_server.EsiLeap.add_project`) and filter what they
    read by them.
    """
    return _SHARED.get()


class EsiLeapFixture(fixtures.Fixture):
    """Provide a running esi-leap to a test.

    By default this is the process-wide :func:`shared_esi_leap`. Pass
    ``private=True`` (and any :class:`~.esileap_server.EsiLeap` argument)
    for a dedicated one, stopped at cleanup, e.g. on a private broker or a
    given topic.

    :ivar esi_leap: the :class:`~.esileap_server.EsiLeap`
    :ivar api_url: its API's root URL
    :ivar topic: the topic its notifications go to
    """

    def __init__(self, private=False, transport_url=None, **kwargs):
        super(EsiLeapFixture, self).__init__()
        if kwargs and not private:
            raise ValueError('options need private=True')
        self.private = private
        self.transport_url = transport_url
        self.kwargs = kwargs
        self.esi_leap = None
        self.api_url = None
        self.topic = None

    def _setUp(self):
        if self.private:
            url = self.transport_url or broker.shared_broker().transport_url
            self.esi_leap = esileap_server.EsiLeap(url, **self.kwargs)
            self.addCleanup(self.esi_leap.stop)
            self.esi_leap.start()
        else:
            self.esi_leap = shared_esi_leap()
        self.transport_url = self.esi_leap.transport_url
        self.api_url = self.esi_leap.api_url
        self.topic = self.esi_leap.topic


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m esi_event_actions.tests.functional.esileap',
        description='Install, or run in the foreground, esi-leap %s for '
                    'tests.' % esileap_venv.ESI_LEAP_VERSION)
    sub = parser.add_subparsers(dest='action', required=True)
    sub.add_parser('install', help='build the virtualenv if needed and '
                   'print its path')
    run = sub.add_parser('run', help='run esi-leap until interrupted')
    run.add_argument('--transport-url',
                     help='RabbitMQ to publish on (default: $%s, else a '
                     'private broker)' % broker.TRANSPORT_URL_ENV)
    run.add_argument('--topic', default=esileap_server.TOPIC)
    run.add_argument('--event-interval', type=float,
                     default=esileap_server.EVENT_INTERVAL)
    args = parser.parse_args(argv)

    if args.action == 'install':
        begin = time.monotonic()
        path = esileap_venv.ensure_venv()
        sys.stderr.write('ready in %.1fs\n' % (time.monotonic() - begin))
        print(path)
        return 0

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rabbit = None
    url = args.transport_url or os.environ.get(broker.TRANSPORT_URL_ENV)
    server = None
    try:
        if not url:
            rabbit = broker.PrivateBroker().start()
            url = rabbit.transport_url
        server = esileap_server.EsiLeap(url, topic=args.topic,
                                        event_interval=args.event_interval)
        server.start()
        print(json.dumps(dict(server.state(), timings=server.timings),
                         indent=2, sort_keys=True), flush=True)
        while not stop.wait(1):
            if not server.running:
                sys.stderr.write(server.log_tail())
                return 1
    finally:
        if server is not None:
            server.stop()
        if rabbit is not None:
            rabbit.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
