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
"""The ``email`` action: a mail about the lease, to its lessee or anyone.

Registered as the ``email`` entry point.  What it sends, to whom and how
is in the actions guide; how, in the modules of this package.
"""

import jinja2
from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions.actions.email import addresses
from esi_event_actions.actions.email import keystone
from esi_event_actions.actions.email import loading
from esi_event_actions.actions.email import message
from esi_event_actions.actions.email import options
from esi_event_actions.actions.email import recipients as recipients_mod
from esi_event_actions.actions.email import templates
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

_SKIP = 'skip'


class EmailAction(base.Action):
    """Send a mail, rendered from Jinja2 templates, over SMTP.

    Recipients come from the rule, a lease field or Keystone; the subject
    and bodies from the shipped templates (lease started, ending, ended)
    or the rule's own, rendered in a sandbox with the lease as data.
    Every attempt at a job sends the same Message-ID.  A 4xx reply, a
    refused connection or a timeout is retried; a 5xx reply, failed
    authentication or no recipient is a permanent failure.
    """

    required = ('mail_from',)
    opts = options.OPTS

    def __init__(self, context):
        super().__init__(context)
        self.server = None
        self.recipients = None
        self.sender = None
        self.parts = {}

    def validate(self):
        opts = self.options
        try:
            self.sender = addresses.sender(opts.mail_from)
        except addresses.Invalid as exc:
            raise self.error('mail_from', str(exc))
        if opts.reply_to:
            loading.check_addresses(self, 'reply_to', [opts.reply_to])
        self.server = loading.server(self)
        self.recipients = loading.recipients(self)
        self.parts = loading.templates(self)

    def describe(self):
        where = self.server.describe() if self.server else (
            self.options.smtp_host)
        who = self.recipients.describe() if self.recipients else ''
        return 'email via %s to %s' % (where, who)

    def message_id(self, event):
        domain = (self.options.message_id_domain or
                  self.sender[1].rpartition('@')[2])
        return message.message_id(event.id, self.context.name, domain)

    def render(self, event, now=None):
        """(subject, text body, HTML body or None) for ``event``."""
        opts = self.options
        variables = templates.variables(event, self.context.name,
                                        opts.value_limit, now)
        subject, _ = templates.render(self.parts['subject_template'],
                                      variables, 4 * opts.subject_limit)
        bodies = []
        for key in ('body_template', 'html_template_file'):
            if key not in self.parts:
                bodies.append(None)
                continue
            body, cut = templates.render(self.parts[key], variables,
                                         opts.body_limit)
            if cut:
                LOG.info('Rule %s: the %s of a mail was cut to %d '
                         'characters (body_limit)', self.context.name,
                         'HTML body' if bodies else 'text body',
                         opts.body_limit)
            bodies.append(body)
        return (message.one_line(subject, opts.subject_limit),) + tuple(
            bodies)

    def compose(self, event, to, now=None):
        """The EmailMessage for ``event``, to the addresses ``to``."""
        subject, text, html = self.render(event, now)
        return message.build(self.sender, to, subject, text, html,
                             self.message_id(event), self.options.reply_to)

    def run(self, event, params, attempt=1):
        try:
            found = self.recipients.resolve(event)
        except keystone.LookupFailed as exc:
            return base.Result(base.RETRY if exc.retryable else base.FAILURE,
                               str(exc))
        except recipients_mod.TooMany as exc:
            return base.Result(base.FAILURE, str(exc))
        if not found.to:
            return self._nobody(found)
        try:
            msg = self.compose(event, found.to)
            data = msg.as_bytes()
        except jinja2.TemplateError as exc:
            return base.Result(base.FAILURE, 'template: %s: %s' % (
                type(exc).__name__, safetext.printable(str(exc), 300)))
        except ValueError as exc:
            # The policy refused a header: a template put a line break
            # where no value can.
            return base.Result(base.FAILURE, 'message: %s' % exc)
        LOG.debug('Rule %s: mail %s to %s', self.context.name,
                  msg['Message-ID'], ', '.join(found.to + found.bcc))
        return self.server.send(self.sender[1], found.to + found.bcc, data)

    def _nobody(self, found):
        why = '; '.join(found.notes) or 'no address'
        if self.options.no_recipient == _SKIP:
            return base.Result(base.SUCCESS, 'not sent, no recipient: %s'
                               % why)
        return base.Result(base.FAILURE, 'no recipient: %s' % why)

    def preview(self, event, params, attempt=1):
        """What would be sent; Keystone is not asked, nor the server."""
        notes = []
        to = addresses.unique(self.recipients.to +
                              self.recipients.from_lease(event, notes))
        subject, text, html = self.render(event)
        return {
            'smtp': self.server.describe(),
            'from': self.options.mail_from, 'to': to,
            'keystone': self.recipients.source, 'bcc': self.recipients.bcc,
            'notes': notes, 'message_id': self.message_id(event),
            'subject': subject, 'text': text, 'html': html,
        }
