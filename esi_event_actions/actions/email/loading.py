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
"""How an email rule's options become its parts, when the rule is loaded.

Each function raises the action's ConfigError, naming the file, the
section and the key at fault, for the first thing wrong.
"""

import os

import jinja2

from esi_event_actions.actions.email import addresses
from esi_event_actions.actions.email import defaults
from esi_event_actions.actions.email import keystone
from esi_event_actions.actions.email import recipients as recipients_mod
from esi_event_actions.actions.email import smtp
from esi_event_actions.actions.email import templates as templates_mod

# A template file is the operator's, but a wrong path could name anything.
_TEMPLATE_FILE_LIMIT = 1 << 20


def check_addresses(action, key, values):
    """Raise a ConfigError at ``key`` for the first value not an address."""
    for position, value in enumerate(values, 1):
        try:
            addresses.check(value)
        except addresses.Invalid as exc:
            raise action.error(key, 'address %d: %s' % (position, exc))


def server(action):
    """The :class:`smtp.Server` of the rule's options."""
    opts = action.options
    if opts.smtp_user and opts.smtp_security == smtp.PLAIN:
        raise action.error('smtp_user', 'smtp_security = none would send '
                           'the password in clear: use starttls or tls')
    for key, other in (('smtp_user', 'smtp_password'),
                       ('smtp_password', 'smtp_user')):
        if opts[key] and not opts[other]:
            raise action.error(key, 'needs %s too' % other)
    ca_file = None
    if opts.ca_file:
        ca_file = action.resolve_path('ca_file')
        if not os.path.isfile(ca_file):
            raise action.error('ca_file', 'no such file: %s' % ca_file)
    try:
        context = smtp.tls_context(opts.verify, ca_file)
    except (OSError, ValueError) as exc:
        raise action.error('ca_file', 'not a CA bundle: %s' % exc)
    return smtp.Server(
        opts.smtp_host, opts.smtp_port, opts.smtp_security,
        opts.smtp_user, opts.smtp_password, context,
        opts.connect_timeout, opts.timeout, opts.helo_name)


def recipients(action):
    """The :class:`recipients.Recipients` of the rule's options."""
    opts = action.options
    check_addresses(action, 'recipients', opts.recipients)
    check_addresses(action, 'bcc', opts.bcc)
    if not (opts.recipients or opts.recipient_path or
            opts.keystone_recipients):
        raise action.error('recipients', 'set recipients, recipient_path '
                           'or keystone_recipients: nobody would get the '
                           'mail')
    if opts.keystone_roles and opts.keystone_recipients != keystone.USERS:
        raise action.error('keystone_roles', 'only used with '
                           'keystone_recipients = users')
    directory = None
    if opts.keystone_recipients:
        directory = _directory(action)
    return recipients_mod.Recipients(
        opts.recipients, opts.bcc, opts.recipient_path,
        opts.keystone_recipients, opts.keystone_roles,
        opts.max_recipients, directory)


def _directory(action):
    conf = action.context.conf
    why = keystone.configured(conf)
    if why:
        raise action.error('keystone_recipients', why)
    directory = keystone.Directory(conf)
    try:
        directory.check()
    except Exception as exc:
        # keystoneauth's own errors: a missing auth_url, an unknown
        # auth_type...
        raise action.error('keystone_recipients', '[%s]: %s' % (
            keystone.GROUP, exc))
    return directory


def templates(action):
    """{key: compiled template} for the subject, text and HTML bodies."""
    opts = action.options
    name = opts.template
    if name == defaults.AUTO:
        name = defaults.choose(opts.get('events'), bool(opts.get('at')))
    own_text = opts.body_template or opts.body_template_file
    if opts.body_template and opts.body_template_file:
        raise action.error('body_template_file', 'set body_template or '
                           'body_template_file, not both')
    if name is None and not (opts.subject_template and own_text):
        raise action.error('template', 'the rule\'s events do not say '
                           'which message to send: set template (%s), or '
                           'subject_template and body_template'
                           % ', '.join(defaults.NAMES))
    sources = {
        'subject_template': opts.subject_template or
        defaults.SUBJECTS[name],
        'body_template': opts.body_template or
        _read(action, 'body_template_file') or defaults.text_body(name),
    }
    html = _read(action, 'html_template_file')
    if html is None and not own_text:
        html = defaults.html_body(name)
    if html is not None:
        sources['html_template_file'] = html
    return {key: _compile(action, key, source)
            for key, source in sources.items()}


def _read(action, key):
    if not action.options[key]:
        return None
    path = action.resolve_path(key)
    try:
        with open(path, 'rb') as f:
            data = f.read(_TEMPLATE_FILE_LIMIT + 1)
    except OSError as exc:
        raise action.error(key, 'cannot read %s: %s' % (path, exc.strerror))
    if len(data) > _TEMPLATE_FILE_LIMIT:
        raise action.error(key, '%s is over %d bytes' % (
            path, _TEMPLATE_FILE_LIMIT))
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise action.error(key, '%s is not UTF-8: %s' % (path, exc))


def _compile(action, key, source):
    try:
        return templates_mod.compile_template(
            source, html=key == 'html_template_file')
    except jinja2.TemplateSyntaxError as exc:
        where = action.options[key] if key.endswith('_file') else None
        raise action.error(key, '%sline %s: %s' % (
            '%s, ' % where if where else '', exc.lineno, exc.message))
