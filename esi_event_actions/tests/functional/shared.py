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
"""One instance of a test server per test process."""

import atexit
import os
import threading


class ProcessWide:
    """A server started on first use and stopped at interpreter exit.

    Only the process that started it stops it: a forked child inherits
    the exit hook but must leave its parent's server alone.

    :param start: callable returning a started server (with ``stop()``).
    """

    def __init__(self, start):
        self._start = start
        self._server = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._server is None:
                self._server = self._start()
                atexit.register(self._stop, os.getpid())
            return self._server

    def _stop(self, owner_pid):
        if os.getpid() == owner_pid:
            self._server.stop()
