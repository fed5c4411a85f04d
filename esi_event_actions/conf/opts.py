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
"""Option listing for oslo-config-generator and the documentation.

The only module of this package that knows the actions: the others only
declare options, and the actions import none of them (their option types
are :mod:`esi_event_actions.optiontypes`).
"""

from oslo_config import cfg
from stevedore import extension

from esi_event_actions.conf import default
from esi_event_actions.conf import email_keystone
from esi_event_actions.conf import esi_leap
from esi_event_actions.conf import journal
from esi_event_actions.conf import listener
from esi_event_actions.conf import metrics
from esi_event_actions.conf import poller
from esi_event_actions.conf import rule
from esi_event_actions.conf import worker

# A finite prefetch keeps one consumer from hoarding a backlog and bounds what
# a crash hands back to the broker.
DEFAULT_PREFETCH = 64


def service_opts():
    """The service's own option groups (rules excluded)."""
    return [
        ('DEFAULT', default.list_opts()),
        (listener.group, listener.list_opts()),
        (worker.group, worker.list_opts()),
        (journal.group, journal.list_opts()),
        (poller.group, poller.list_opts()),
        (metrics.group, metrics.list_opts()),
    ]


def list_opts():
    return service_opts() + [
        # keystoneauth registers the auth plugin's own options only when
        # it loads the plugin, so these are listed but not checked.
        (esi_leap.group, esi_leap.list_opts()),
        (email_keystone.group, email_keystone.list_opts()),
    ] + example_groups()


def set_lib_defaults():
    """Override library defaults that do not suit this service.

    oslo.messaging has no public setter for the prefetch count, and the
    config generator only sees defaults set on the library's own Opt
    objects, so the default is changed there (see oslo_internals).
    """
    # Imported here: oslo_internals imports oslo.messaging, which fixes
    # oslo.service's concurrency backend; listing options must not.
    from esi_event_actions import oslo_internals
    oslo_internals.set_prefetch_default(DEFAULT_PREFETCH)


# Text both in the sample file and in the configuration reference (RST):
# the rules are literal blocks there.
POLICIES_EXAMPLE = '\n'.join([
    'Operators in filter_params and the policies of a rule (see the rules',
    'guide). Paged once per lease whose fulfilment fails, for nodes with',
    'at least 32 CPUs, at most 2 requests at a time and 10 a minute::',
    '',
    '    [page-on-failure]',
    '    events = esi_leap.lease.fulfill.error',
    '    action = webhook',
    '    url = https://pager.example.com/hook',
    '    filter_params = {"node_properties.cpus": {">=": 32},',
    '                     "purpose": {"not": "ci-.*"}}',
    '    once_per = uuid',
    '    max_concurrency = 2',
    '    rate_limit = 10/m',
    '',
    'And a catch-all for the lease ends no other rule takes (not',
    'esi_leap.lease.*: esi-leap sends fulfill.start and fulfill.error',
    'again every minute while a fulfilment fails)::',
    '',
    '    [unhandled]',
    '    events = esi_leap.lease.fulfill.end, esi_leap.lease.delete.end',
    '    action = log',
    '    fallback = true',
])


TIMED_EXAMPLE = '\n'.join([
    'A timed rule (see "Timed rules and watchdogs" in the rules guide):',
    'warn the lessee two days before the lease ends. The job waits in the',
    'journal from the fulfil.end until end_time - 48h, and a delete of',
    'the lease before then cancels it. With [esi_leap] set, the lease is',
    'read again from esi-leap when the job falls due: an extended lease',
    'moves the warning to its new time::',
    '',
    '    [warn-before-expiry]',
    '    events = esi_leap.lease.fulfill.end',
    '    script = /etc/esi-event-actions/warn-lessee.sh',
    '    script_params = uuid, project_id, end_time',
    '    at = end_time - 48h',
    '    at_past = skip',
    '',
    'And a watchdog: a fulfilment that has not ended ten minutes after it',
    'started::',
    '',
    '    [stuck-fulfilment]',
    '    events = esi_leap.lease.fulfill.start',
    '    action = log',
    '    at = event_time + 10m',
    '    cancel_on = esi_leap.lease.fulfill.end, esi_leap.lease.delete.*',
    '    once_per = uuid',
    '',
    'And a counting watchdog: the third fulfill.error of one lease, once',
    '(esi-leap retries a failing fulfilment every minute)::',
    '',
    '    [third-failure]',
    '    events = esi_leap.lease.fulfill.error',
    '    action = log',
    '    on_count = 3',
])


EMAIL_EXAMPLE = '\n'.join([
    'Any section that sets "events" is a rule, named after its section.',
    'This one shows a rule whose action is email: its options go in the',
    'same section. Warn the lessee by mail two days before the lease',
    'ends, at the email attribute of the lease\'s project in Keystone',
    '(see [email_keystone]), with the shipped "lease-ending" message::',
    '',
    '    [mail-before-expiry]',
    '    events = esi_leap.lease.fulfill.end',
    '    action = email',
    '    at = end_time - 48h',
    '    at_past = skip',
    '    smtp_host = smtp.example.com',
    '    smtp_user = esi-notifications',
    '    smtp_password = <secret>',
    '    mail_from = ESI <esi@example.com>',
    '    keystone_recipients = project',
    '    bcc = esi-archive@example.com',
])


def example_groups():
    """(group, options) documenting a rule of each built-in action."""
    # Imported here: the service imports this module to list its own
    # options, and need not load every action (ansible-runner and all).
    from esi_event_actions.actions import ansible
    from esi_event_actions.actions.email import action as email
    from esi_event_actions.actions import log
    from esi_event_actions.actions import script
    from esi_event_actions.actions import webhook
    groups = [_example_group(name, cls) for name, cls in (
        ('script', script.ScriptAction), ('webhook', webhook.WebhookAction),
        ('ansible', ansible.AnsibleAction), ('log', log.LogAction))]
    groups.append(_example_group('email', email.EmailAction,
                                 EMAIL_EXAMPLE))
    groups.append((cfg.OptGroup(
        'example_policies_rule', title='A rule with filters and policies',
        help=POLICIES_EXAMPLE), rule.opts))
    groups.append((cfg.OptGroup(
        'example_timed_rule', title='A timed rule, and watchdogs',
        help=TIMED_EXAMPLE), rule.opts))
    return groups


BUILT_IN = ('script', 'webhook', 'ansible', 'log', 'email')


def _example_group(name, cls, text=None):
    text = text or (
        'Any section that sets "events" is a rule, named after its '
        'section (for example [fulfill]). This one shows a rule whose '
        'action is %s: its options go in the same section.' % name)
    group = cfg.OptGroup(
        'example_%s_rule' % name, title='A rule with the %s action' % name,
        help=text)
    return group, rule.opts + list(cls.opts)


def plugin_groups():
    """Example groups of the action plugins installed here, built-ins aside.

    The ``esi_event_actions.plugins`` namespace of oslo-config-generator:
    the committed sample file lists the built-in actions only, and an
    operator adds ``--namespace esi_event_actions.plugins`` to document the
    plugins of a host.  A plugin that fails to load is left out.
    """
    manager = extension.ExtensionManager('esi_event_actions.actions')
    return [_example_group(ext.name, ext.plugin) for ext in sorted(
        manager, key=lambda ext: ext.name) if ext.name not in BUILT_IN]
