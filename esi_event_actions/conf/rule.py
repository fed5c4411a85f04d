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
"""Options of a rule section.

Rules have no fixed group name: every section that sets ``events`` is a rule
named after its section.  The chosen action registers its own options in the
same section.  The ``example_*_rule`` groups only document them in the
sample file.
"""

from oslo_config import cfg

from esi_event_actions.conf import types

opts = [
    cfg.Opt('events', type=types.List(item_type=types.String()),
            help='Event types this rule acts on, such as '
                 'esi_leap.lease.fulfill.end. Shell-style wildcards are '
                 'allowed (esi_leap.lease.*.end). Required.'),
    cfg.Opt('action', type=types.String(),
            help='Name of the action plugin (entry point in '
                 'esi_event_actions.actions). Defaults to "script" when '
                 'the script option is set.'),
    cfg.Opt('filter_params', type=types.JSONObjectOrList(), default={},
            help='JSON object mapping dot paths in the lease payload to '
                 'filter values, all of which must hold: a regular '
                 'expression that must match the whole value; a list, '
                 'any of; null, a missing or null value; or an operator '
                 'object such as {">=": 32}, {"exists": true}, {"in": '
                 '[...]}, {"not": ...} or {"regex": "...", "ignore_case": '
                 'true}. A JSON list of such objects holds when one of '
                 'them does.'),
    cfg.Opt('fallback', type=types.Boolean(), default=False,
            help='Act on an event only when no rule without fallback '
                 'matches it (by events and filters).'),
    cfg.Opt('max_concurrency', type=types.Integer(min=1),
            help='At most this many jobs of this rule run at once, across '
                 'every instance sharing the journal. The others wait, '
                 'and hold back the later jobs of their node. Default: no '
                 'limit.'),
    cfg.Opt('rate_limit', type=types.Rate(),
            help='At most N starts of this rule\'s jobs (retries '
                 'included) per second, minute or hour, in each instance: '
                 'N/s, N/m or N/h, with a burst of N. Jobs over it wait. '
                 'Default: no limit.'),
    cfg.Opt('once_per', type=types.String(),
            help='A dot path (uuid, for the lease): act at most once for '
                 'each value found there, whatever the event. Later '
                 'events with a value already acted on are journalled as '
                 'skipped jobs. A missing or null value is never seen; a '
                 'dead job does not count.'),
    cfg.Opt('once_per_window', type=types.Float(min=0, max=10 * types.YEAR),
            default=0.0,
            help='Seconds after which once_per forgets a value, counted '
                 'from the job that acted on it. 0: never.'),
    cfg.Opt('max_attempts', type=types.Integer(min=1, max=1000),
            help='Attempts before a failing job of this rule is dead. '
                 'Default: [worker] max_attempts.'),
    cfg.Opt('retry_base_delay', type=types.Float(min=0, max=types.DAY),
            help='Seconds before the first retry. Default: [worker] '
                 'retry_base_delay.'),
    cfg.Opt('retry_max_delay', type=types.Float(min=0, max=types.WEEK),
            help='Longest wait between attempts. Default: [worker] '
                 'retry_max_delay.'),
]


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


def example_groups():
    """(group, options) documenting a rule of each built-in action."""
    # Imported here: the actions import this package's option types.
    from esi_event_actions.actions import ansible
    from esi_event_actions.actions import log
    from esi_event_actions.actions import script
    from esi_event_actions.actions import webhook
    groups = [_example_group(name, cls) for name, cls in (
        ('script', script.ScriptAction), ('webhook', webhook.WebhookAction),
        ('ansible', ansible.AnsibleAction), ('log', log.LogAction))]
    groups.append((cfg.OptGroup(
        'example_policies_rule', title='A rule with filters and policies',
        help=POLICIES_EXAMPLE), opts))
    return groups


BUILT_IN = ('script', 'webhook', 'ansible', 'log')


def _example_group(name, cls):
    group = cfg.OptGroup(
        'example_%s_rule' % name, title='A rule with the %s action' % name,
        help='Any section that sets "events" is a rule, named after its '
             'section (for example [fulfill]). This one shows a rule whose '
             'action is %s: its options go in the same section.' % name)
    return group, opts + list(cls.opts)


def plugin_groups():
    """Example groups of the action plugins installed here, built-ins aside.

    The ``esi_event_actions.plugins`` namespace of oslo-config-generator:
    the committed sample file lists the built-in actions only, and an
    operator adds ``--namespace esi_event_actions.plugins`` to document the
    plugins of a host.  A plugin that fails to load is left out.
    """
    from stevedore import extension
    manager = extension.ExtensionManager('esi_event_actions.actions')
    return [_example_group(ext.name, ext.plugin) for ext in sorted(
        manager, key=lambda ext: ext.name) if ext.name not in BUILT_IN]


def list_opts():
    return opts
