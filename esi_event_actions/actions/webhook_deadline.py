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
"""One wall-clock deadline for a whole HTTP delivery.

requests bounds each socket operation, not their sum; :class:`Deadline`
bounds the sum, through the sockets of the sessions that mount
:class:`Adapter`.
"""

import socket
import threading
import time

from requests import adapters
from urllib3 import connection as urllib3_connection
from urllib3 import connectionpool
from urllib3 import poolmanager


# The Deadline of the delivery this thread is making, if any.
_DELIVERY = threading.local()


class Deadline:
    """One wall-clock limit for a whole delivery: connect, send, answer.

    requests' timeout bounds each socket operation, not their sum: a
    receiver sending a byte a second never lets one read wait long.  So a
    timer shuts down, at the deadline, every socket the delivery uses
    (:class:`_WatchedSocket` tells it which): a read blocked in the
    worker's thread then ends at once.  shutdown(), not close(): closing
    does not wake a blocked reader and frees the descriptor for reuse
    while it is still being read.  A socket the delivery only gets after
    the deadline (a slow connect) is shut as soon as it is known.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.expired = False
        self._sockets = []
        self._over = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        _DELIVERY.deadline = self
        self._end = time.monotonic() + self.seconds
        self._timer.start()
        return self

    @property
    def passed(self):
        """Whether the deadline has come, whether or not the timer ran."""
        return self.expired or time.monotonic() >= self._end

    def __exit__(self, *exc_info):
        _DELIVERY.deadline = None
        with self._lock:
            self._over = True
        self._timer.cancel()

    def watch(self, sock):
        """Shut ``sock`` down at the deadline (now, if it has passed)."""
        with self._lock:
            if any(known is sock for known in self._sockets):
                return
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self):
        with self._lock:
            if self._over:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock):
    # The plain socket's shutdown, even for TLS: SSLSocket's own also
    # drops its TLS state under the thread that is reading it.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass


class _WatchedSocket:
    """Shows each socket of an urllib3 connection to the thread's Deadline.

    Every use of the socket reads the connection's ``sock`` (http.client
    sends with ``self.sock.sendall`` and reads the answer from
    ``self.sock``), and urllib3 sets it as soon as the TCP connection is
    up, before any TLS handshake: new or reused from the pool, a socket
    is watched before the delivery waits on it.
    """

    @property
    def sock(self):
        return _watched(self.__dict__.get('_watched_sock'))

    @sock.setter
    def sock(self, sock):
        self.__dict__['_watched_sock'] = _watched(sock)


def _watched(sock):
    deadline = getattr(_DELIVERY, 'deadline', None)
    if sock is not None and deadline is not None:
        deadline.watch(sock)
    return sock


class _HTTPConnection(_WatchedSocket, urllib3_connection.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedSocket, urllib3_connection.HTTPSConnection):
    pass


class _HTTPPool(connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {'http': _HTTPPool, 'https': _HTTPSPool}


class Adapter(adapters.HTTPAdapter):
    """requests' adapter, with connections a Deadline can watch."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        # Not a SOCKS proxy's: its pools are of classes of their own.
        if isinstance(manager, poolmanager.ProxyManager):
            manager.pool_classes_by_scheme = _POOLS
        return manager
