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

"""Run esi-leap 1.0's API or manager with two test-friendly changes.

This file runs as a script under the Python of esi-leap's own virtualenv
(see :mod:`.server`), never inside the esi-event-actions process: it
imports nothing of this project::

    python -I launcher.py api --config-file F [--log-file L]
    python -I launcher.py manager --config-file F \\
        --event-interval 2 --ready-file R [--log-file L]

It does what ``esi-leap-api`` and ``esi-leap-manager`` do, plus:

* ``esi_leap.resource_objects.dummy_node`` reads ``[dummy_node]
  dummy_node_dir`` when first imported, before the configuration is
  parsed, so both services would look in the default directory; it is
  read again after ``prepare_service``;
* the manager's periodic jobs (fulfil, expire, cancel) run every
  ``esi_leap.manager.service.EVENT_INTERVAL`` seconds, a module constant
  of 60; ``--event-interval`` sets it;
* ``--ready-file`` is created once the manager's jobs are scheduled;
* with ``--parent-pid``, the service stops itself (as on SIGTERM) once
  that process is no longer its parent, so that a test process killed
  with SIGKILL leaves no esi-leap behind.

Every other argument goes to oslo.config unchanged.
"""

import argparse
import os
import signal
import sys
import time


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog='launcher.py',
        description='Run the esi-leap API or manager for tests.')
    parser.add_argument('service', choices=('api', 'manager'))
    parser.add_argument('--event-interval', type=float,
                        help='seconds between the manager periodic jobs')
    parser.add_argument('--ready-file',
                        help='file to create once the manager has started')
    parser.add_argument('--parent-pid', type=int,
                        help='stop when no longer a child of this process')
    return parser.parse_known_args(argv)


def _watch_parent(parent_pid, interval=1.0):
    # Runs as a green thread: eventlet has patched time.sleep.
    me = os.getpid()
    while True:
        time.sleep(interval)
        if os.getpid() != me:
            # The API's worker, forked with this thread: its launcher
            # watches for it.
            return
        if os.getppid() != parent_pid:
            os.kill(me, signal.SIGTERM)
            return


def _touch(path):
    tmp = '%s.tmp' % path
    with open(tmp, 'w') as f:
        f.write('%d\n' % os.getpid())
    os.replace(tmp, path)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, oslo_args = _parse(argv)

    # Deferred imports: esi-leap exists only in its own virtualenv, and
    # esi_leap.cmd monkey-patches with eventlet, which must come first.
    import esi_leap.cmd  # noqa: F401
    import eventlet
    from oslo_service import service

    from esi_leap.common import service as esi_leap_service
    import esi_leap.conf
    from esi_leap.resource_objects import dummy_node

    conf = esi_leap.conf.CONF
    esi_leap_service.prepare_service([sys.argv[0]] + oslo_args)
    dummy_node.DUMMY_NODE_DIR = conf.dummy_node.dummy_node_dir
    if args.parent_pid:
        eventlet.spawn_n(_watch_parent, args.parent_pid)

    if args.service == 'api':
        from esi_leap.api import service as wsgi_service

        launcher = service.ProcessLauncher(conf, restart_method='mutate')
        server = wsgi_service.WSGIService('esi_leap_api')
        launcher.launch_service(server, workers=server.workers)
        launcher.wait()
        return 0

    from esi_leap.manager import service as manager_service

    if args.event_interval is not None:
        manager_service.EVENT_INTERVAL = args.event_interval

    class ManagerService(manager_service.ManagerService):
        def start(self):
            super(ManagerService, self).start()
            if args.ready_file:
                _touch(args.ready_file)

    service.launch(conf, ManagerService(), restart_method='mutate').wait()
    return 0


if __name__ == '__main__':
    sys.exit(main())
