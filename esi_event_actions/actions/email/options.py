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
"""The options of an email rule (documented in the actions guide)."""

from oslo_config import cfg
from oslo_config import types as oslo_types

from esi_event_actions.actions.email import defaults
from esi_event_actions.actions.email import keystone
from esi_event_actions.actions.email import smtp
from esi_event_actions import optiontypes as types

_ADDRESSES = types.List(item_type=types.String())
# A template's own text: a " #" in it ("ticket #42") is not a comment.
_TEMPLATE = oslo_types.String()

SERVER = [
    cfg.Opt('smtp_host', type=types.String(), default='localhost',
            help='The SMTP server (a relay or a submission server).'),
    cfg.Opt('smtp_port', type=types.Integer(min=1, max=65535),
            help='Its port. Default: 587 for starttls, 465 for tls, 25 '
                 'for none.'),
    cfg.Opt('smtp_security', type=types.String(choices=smtp.SECURITY),
            default=smtp.STARTTLS,
            help='"starttls": upgrade the connection to TLS before '
                 'anything is sent, and fail if the server cannot; "tls": '
                 'TLS from the start (SMTPS); "none": plain text, only '
                 'for a relay on the same host or network, never with '
                 'a password.'),
    cfg.Opt('smtp_user', type=types.String(),
            help='User to authenticate as (SMTP AUTH). Needs TLS and '
                 'smtp_password.'),
    cfg.Opt('smtp_password', type=types.String(), secret=True,
            help='Password of smtp_user. Secret: never shown or logged.'),
    cfg.Opt('verify', type=types.Boolean(), default=True,
            help='Verify the server\'s TLS certificate and name.'),
    cfg.Opt('ca_file', type=types.String(),
            help='CA bundle to verify the server\'s certificate with, '
                 'instead of the system\'s. A relative path is relative '
                 'to the directory of the file that sets it.'),
    cfg.Opt('connect_timeout', type=types.Float(min=0.1, max=types.HOUR),
            default=10.0,
            help='Seconds to connect, and to wait for any one answer of '
                 'the server.'),
    cfg.Opt('timeout', type=types.Float(min=0.1, max=types.HOUR),
            default=60.0,
            help='Seconds the whole delivery may take, from connecting to '
                 'the server\'s last answer. Past it the attempt is '
                 'retried, however slowly the server answers.'),
    cfg.Opt('helo_name', type=types.String(),
            help='The name this host gives in EHLO. Default: its fully '
                 'qualified domain name.'),
]

ENVELOPE = [
    cfg.Opt('mail_from', type=types.String(),
            help='The sender: an address, or "Name <address>". Required.'),
    cfg.Opt('reply_to', type=types.String(),
            help='An address for the lessee\'s replies (Reply-To).'),
    cfg.Opt('recipients', type=_ADDRESSES, default=[],
            help='Addresses every mail of the rule goes to (To).'),
    cfg.Opt('recipient_path', type=types.String(),
            help='A dot path in the lease (properties.contact_email) '
                 'whose value is an address, or a list of them, to send '
                 'to. A value that is not a plain address is refused '
                 'and logged.'),
    cfg.Opt('keystone_recipients',
            type=types.String(choices=keystone.SOURCES),
            help='Find the lessee in Keystone, with the [email_keystone] '
                 'options: "project", the email attribute of the lease\'s '
                 'project; "users", the email of each user with a role '
                 'on it.'),
    cfg.Opt('keystone_roles', type=types.List(item_type=types.String()),
            default=[],
            help='With keystone_recipients = users: only users with one '
                 'of these roles (names). Default: any role.'),
    cfg.Opt('bcc', type=_ADDRESSES, default=[],
            help='Addresses that receive a hidden copy of every mail the '
                 'rule sends (an operators\' archive).'),
    cfg.Opt('max_recipients', type=types.Integer(min=1, max=1000),
            default=50,
            help='Most recipients of one mail, bcc included: more fails '
                 'the job rather than mail a crowd.'),
    cfg.Opt('no_recipient', type=types.String(choices=['fail', 'skip']),
            default='fail',
            help='When no address is found for a lease: "fail" the job '
                 '(dead, with the reason, for an operator to see), or '
                 '"skip" it (done, sending nothing).'),
    cfg.Opt('message_id_domain', type=types.String(),
            help='The domain of the Message-ID. Default: that of '
                 'mail_from.'),
]

CONTENT = [
    cfg.Opt('template',
            type=types.String(choices=(defaults.AUTO,) + defaults.NAMES),
            default=defaults.AUTO,
            help='The shipped message: lease-started, lease-ending or '
                 'lease-ended. "auto": lease-ending for a rule with at, '
                 'lease-started for fulfill.end, lease-ended for '
                 'delete.end. The options below replace its parts.'),
    cfg.Opt('subject_template', type=_TEMPLATE,
            help='The subject, a Jinja2 template (one line).'),
    cfg.Opt('body_template', type=_TEMPLATE,
            help='The text body, a Jinja2 template (indent the lines '
                 'after the first).'),
    cfg.Opt('body_template_file', type=types.String(),
            help='A file holding the text body\'s template, instead. A '
                 'relative path is relative to the directory of the file '
                 'that sets it.'),
    cfg.Opt('html_template_file', type=types.String(),
            help='A file holding an HTML body\'s template, sent as an '
                 'alternative to the text, every value escaped. Default: '
                 'the shipped one with the shipped text, none with a '
                 'text body of your own.'),
    cfg.Opt('subject_limit', type=types.Integer(min=10, max=900),
            default=200,
            help='Characters of the subject, at most; the rest is cut.'),
    cfg.Opt('body_limit', type=types.Integer(min=100, max=10000000),
            default=100000,
            help='Characters of each body, at most; the rest is cut.'),
    cfg.Opt('value_limit', type=types.Integer(min=16, max=100000),
            default=1000,
            help='Characters of any one lease value a template sees, at '
                 'most: a lessee\'s megabyte name is cut to it.'),
]

OPTS = SERVER + ENVELOPE + CONTENT
