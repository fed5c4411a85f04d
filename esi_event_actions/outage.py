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
"""Logging what a part of the service meets while the journal is down."""

import threading


class Outage:
    """Logs what one part of the service meets while the journal is down.

    One WARNING line per failed attempt, the traceback with the first of
    an outage only (at DEBUG after that), and one line when the journal
    answers again.
    """

    def __init__(self, logger, what):
        self._log = logger
        self._what = what
        self._failures = 0
        self._lock = threading.Lock()

    def failed(self, exc):
        with self._lock:
            self._failures += 1
            count = self._failures
        self._log.warning('%s failed (attempt %d): %s', self._what, count,
                          exc, exc_info=count == 1)
        if count > 1:
            self._log.debug('%s failed', self._what, exc_info=True)

    def succeeded(self):
        with self._lock:
            count, self._failures = self._failures, 0
        if count:
            self._log.info('The journal is back: %s again after %d failed '
                           'attempt(s)', self._what.lower(), count)
