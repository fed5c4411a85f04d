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

"""Install, or run in the foreground, the real esi-leap for tests.

::

    python -m esi_event_actions.tests.functional.harness.real_esi_leap install
    python -m esi_event_actions.tests.functional.harness.real_esi_leap run
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

from esi_event_actions.tests.functional.harness import broker
from esi_event_actions.tests.functional.harness.real_esi_leap import server
from esi_event_actions.tests.functional.harness.real_esi_leap import venv

PROG = 'python -m esi_event_actions.tests.functional.harness.real_esi_leap'


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, description='Install, or run in the foreground, '
        'esi-leap %s for tests.' % venv.ESI_LEAP_VERSION)
    sub = parser.add_subparsers(dest='action', required=True)
    sub.add_parser('install', help='build the virtualenv if needed and '
                   'print its path')
    run = sub.add_parser('run', help='run esi-leap until interrupted')
    run.add_argument('--transport-url',
                     help='RabbitMQ to publish on (default: $%s, else a '
                     'private broker)' % broker.TRANSPORT_URL_ENV)
    run.add_argument('--topic', default=server.TOPIC)
    run.add_argument('--event-interval', type=float,
                     default=server.EVENT_INTERVAL)
    return parser.parse_args(argv)


def install():
    begin = time.monotonic()
    path = venv.ensure_venv()
    sys.stderr.write('ready in %.1fs\n' % (time.monotonic() - begin))
    print(path)
    return 0


def run(args):
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rabbit = None
    url = args.transport_url or os.environ.get(broker.TRANSPORT_URL_ENV)
    esi_leap = None
    try:
        if not url:
            rabbit = broker.PrivateBroker().start()
            url = rabbit.transport_url
        esi_leap = server.EsiLeap(url, topic=args.topic,
                                  event_interval=args.event_interval)
        esi_leap.start()
        print(json.dumps(dict(esi_leap.state(), timings=esi_leap.timings),
                         indent=2, sort_keys=True), flush=True)
        while not stop.wait(1):
            if not esi_leap.running:
                sys.stderr.write(esi_leap.log_tail())
                return 1
    finally:
        if esi_leap is not None:
            esi_leap.stop()
        if rabbit is not None:
            rabbit.stop()
    return 0


def main(argv=None):
    args = parse_args(argv)
    return install() if args.action == 'install' else run(args)


if __name__ == '__main__':
    sys.exit(main())
