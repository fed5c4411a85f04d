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
"""Delivery to an SMTP server, and what its failures mean for the job.

``starttls`` (the default, port 587) upgrades a plain connection before
anything is sent, and fails if the server does not offer it; ``tls``
(port 465) is TLS from the first byte; ``none`` (port 25) is plain text,
and only when a rule says so, never with a password.

What a retry may mend is retried: a refused or dropped connection, a
timeout, a TLS handshake cut short, and any 4xx reply (greylisting, a
full queue, "try again later").  What it cannot is a permanent failure:
a 5xx reply (a refused sender or recipient, a rejected message, wrong
credentials), a server without STARTTLS or AUTH when the rule needs
them, a certificate that does not verify.

The whole delivery is bounded by one deadline, as a webhook's is: the
sockets are shut down when it passes, however slowly the server answers.
"""

import smtplib
import ssl

from esi_event_actions.actions import base
from esi_event_actions.actions import webhook_deadline
from esi_event_actions import safetext

STARTTLS = 'starttls'
TLS = 'tls'
PLAIN = 'none'
SECURITY = (STARTTLS, TLS, PLAIN)
PORTS = {STARTTLS: 587, TLS: 465, PLAIN: 25}

# A server's reply text is someone else's: one bounded line of it.
_REPLY_LIMIT = 200


class _Watched:
    """Shows every socket of the session to the thread's Deadline.

    smtplib sets ``sock`` when it connects and again when STARTTLS wraps
    it: both are watched before the session waits on them.
    """

    deadline = None
    #: (code, text) of the server's answer to the message itself.
    data_reply = None

    @property
    def sock(self):
        return self.__dict__.get('_sock')

    @sock.setter
    def sock(self, sock):
        self.__dict__['_sock'] = sock
        if sock is not None and self.deadline is not None:
            self.deadline.watch(sock)

    def data(self, msg):
        self.data_reply = super().data(msg)
        return self.data_reply


class _SMTP(_Watched, smtplib.SMTP):
    pass


class _SMTPS(_Watched, smtplib.SMTP_SSL):
    pass


def tls_context(verify=True, ca_file=None):
    """The TLS context for the server: verified, unless told otherwise."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Server:
    """Where and how mail goes: one per rule, used by any thread."""

    def __init__(self, host, port=None, security=STARTTLS, user=None,
                 password=None, context=None, connect_timeout=10.0,
                 timeout=60.0, helo=None):
        self.host = host
        self.port = port or PORTS[security]
        self.security = security
        self.user = user
        self.password = password
        self.context = context
        self.connect_timeout = min(connect_timeout, timeout)
        self.timeout = timeout
        self.helo = helo

    def describe(self):
        auth = ' as %s' % self.user if self.user else ''
        return '%s:%d (%s)%s' % (self.host, self.port, self.security, auth)

    def send(self, sender, recipients, data):
        """Send ``data`` (bytes) from ``sender`` to ``recipients``.

        Returns a :class:`base.Result` whatever happens: SUCCESS with the
        server's reply as output, RETRY or FAILURE with the reason.
        """
        with webhook_deadline.Deadline(self.timeout) as deadline:
            try:
                return self._deliver(deadline, sender, recipients, data)
            except (smtplib.SMTPException, OSError, UnicodeError) as exc:
                if deadline.passed:
                    return base.Result(base.RETRY, 'no answer within %gs'
                                       % self.timeout)
                return failed(exc)

    def _connect(self, deadline):
        if self.security == TLS:
            conn = _SMTPS(context=self.context, timeout=self.connect_timeout,
                          local_hostname=self.helo)
        else:
            conn = _SMTP(timeout=self.connect_timeout,
                         local_hostname=self.helo)
        conn.deadline = deadline
        # What TLS checks the certificate against: smtplib's constructor
        # sets it when given the host, and then connects at once, before
        # the deadline could watch the socket.
        conn._host = self.host
        return conn

    def _deliver(self, deadline, sender, recipients, data):
        conn = self._connect(deadline)
        try:
            code, greeting = conn.connect(self.host, self.port)
            if code != 220:
                # 421 busy, 554 go away: what smtplib's constructor says.
                raise smtplib.SMTPConnectError(code, greeting)
            conn.ehlo_or_helo_if_needed()
            if self.security == STARTTLS:
                conn.starttls(context=self.context)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self.password or '')
            refused = conn.sendmail(sender, recipients, data)
        except BaseException:
            conn.close()
            raise
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server has the message: it is sent
        return accepted(conn.data_reply, recipients, refused)


def _reply(code, text):
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return ('%s %s' % (code, safetext.printable(text or '', _REPLY_LIMIT))
            ).strip()


def accepted(reply, recipients, refused):
    """The Result of a message the server took, for some recipients."""
    code, text = reply or (250, b'')
    detail = 'sent to %d recipient%s: %s' % (
        len(recipients) - len(refused),
        '' if len(recipients) - len(refused) == 1 else 's',
        _reply(code, text))
    if refused:
        # Retrying would send the message again to those who have it.
        codes = sorted({c for c, _ in refused.values()})
        detail += '; %d refused (%s)' % (
            len(refused), ', '.join(str(c) for c in codes))
    return base.Result(base.SUCCESS, detail, code, _reply(code, text))


def _by_code(code, what):
    status = base.RETRY if 400 <= code < 500 else base.FAILURE
    return base.Result(status, what, code)


def failed(exc):
    """The Result of a delivery that raised ``exc``."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        first = sorted(codes)[-1] if codes else 550
        # Permanent as soon as one refusal is: a retry would not pass.
        return _by_code(first, 'every recipient refused: %s' % ', '.join(
            _reply(c, t) for c, t in list(exc.recipients.values())[:3]))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _by_code(exc.smtp_code, 'authentication failed: %s'
                        % _reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, '%s: %s' % (
            type(exc).__name__, _reply(exc.smtp_code, exc.smtp_error)))
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return base.Result(base.FAILURE, 'the server cannot: %s'
                           % _text(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return base.Result(base.FAILURE, 'TLS certificate: %s' % _text(exc))
    if isinstance(exc, smtplib.SMTPException) and 'authentication' in str(
            exc).lower():
        # "No suitable authentication method found."
        return base.Result(base.FAILURE, _text(exc))
    if isinstance(exc, UnicodeError):
        # smtplib's AUTH takes ASCII only; its error would quote the
        # password's character.
        return base.Result(base.FAILURE, 'authentication failed: the user '
                           'or the password is not ASCII')
    return base.Result(base.RETRY, '%s: %s' % (type(exc).__name__,
                                               _text(exc)))


def _text(exc):
    return safetext.printable(str(exc), _REPLY_LIMIT)
