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
"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

With ``tls_dir`` it has a self-signed certificate for 127.0.0.1 (see
:func:`httpserver.self_signed_cert`): ``security = 'starttls'`` requires
STARTTLS before any mail, ``'tls'`` is TLS from the first byte.  With
``users`` ({user: password}) it requires AUTH (PLAIN or LOGIN), over
TLS.  ``replies`` queues answers to the next messages (``'451 4.3.0 try
later'``) and ``refuse`` answers RCPT for some addresses.  ``received``
lists the messages accepted, ``offered`` every message sent, accepted
or not.
"""

import collections
import email
import email.policy
import ssl
import threading

from aiosmtpd import controller
from aiosmtpd import smtp as aiosmtp
import fixtures

from esi_event_actions.tests.common import httpserver


class Received:
    """One message the server accepted, parsed."""

    def __init__(self, envelope, session, tls):
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.data = envelope.original_content or envelope.content
        self.message = email.message_from_bytes(self.data,
                                                policy=email.policy.default)
        self.authenticated = bool(session.authenticated)
        self.tls = tls

    def text(self):
        """The text body, its lines ended as Python's are."""
        return self._body('plain')

    def html(self):
        """The HTML body, or None."""
        return self._body('html')

    def _body(self, kind):
        body = self.message.get_body((kind,))
        if body is None:
            return None
        # As sent on the wire: CRLF.
        return body.get_content().replace('\r\n', '\n')


class _Handler:

    def __init__(self, owner):
        self.owner = owner

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        reply = self.owner.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        owner = self.owner
        tls = server.transport.get_extra_info('ssl_object') is not None
        got = Received(envelope, session, tls)
        with owner.lock:
            reply = owner.replies.popleft() if owner.replies else None
            owner.offered.append(got)
            if reply is None:
                owner.received.append(got)
        return reply or '250 2.0.0 OK queued as 42'


class _Controller(controller.Controller):
    """aiosmtpd's, on a port the system chose (port 0)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SMTPServer(fixtures.Fixture):
    """A threaded aiosmtpd server; ``received`` lists what it accepted."""

    def __init__(self, tls_dir=None, security='none', users=None):
        super().__init__()
        self.tls_dir = tls_dir
        self.security = security
        self.users = users
        self.received = []
        self.offered = []
        self.replies = collections.deque()
        self.refuse = {}
        self.logins = []
        self.lock = threading.Lock()
        self.cert_file = None

    def _authenticate(self, server, session, envelope, mechanism, data):
        login = data.login.decode() if data.login else None
        password = data.password.decode() if data.password else None
        with self.lock:
            self.logins.append((mechanism, login))
        ok = self.users.get(login) == password
        return aiosmtp.AuthResult(success=ok, handled=False)

    def _setUp(self):
        kwargs = {}
        if self.tls_dir:
            self.cert_file, key = httpserver.self_signed_cert(self.tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file, key)
            if self.security == 'tls':
                kwargs['ssl_context'] = context
            else:
                kwargs.update(tls_context=context,
                              require_starttls=self.security == 'starttls')
        if self.users is not None:
            # aiosmtpd knows STARTTLS's TLS only: on an implicit TLS port
            # it would never offer AUTH if told to wait for TLS, and warns
            # of AUTH without TLS when told not to.
            implicit = self.security == 'tls'
            kwargs.update(authenticator=self._authenticate,
                          auth_required=True, auth_require_tls=not implicit)
            if implicit:
                self.useFixture(fixtures.WarningsFilter([{
                    'action': 'ignore', 'category': UserWarning,
                    'message': 'Requiring AUTH while not requiring TLS'}]))
        self.controller = _Controller(_Handler(self), hostname='127.0.0.1',
                                      port=0, **kwargs)
        self.controller.start()
        self.addCleanup(self.controller.stop)
        self.port = self.controller.port
