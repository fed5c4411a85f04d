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
    cfg.Opt('filter_params', type=types.JSONObject(), default={},
            help='JSON object mapping dot paths in the lease payload to '
                 'regular expressions. A rule acts only when every '
                 'pattern matches the whole value; a list means any of; '
                 'null matches a missing or null value.'),
    cfg.Opt('max_attempts', type=types.Integer(min=1),
            help='Attempts before a failing job of this rule is dead. '
                 'Default: [worker] max_attempts.'),
    cfg.Opt('retry_base_delay', type=types.Float(min=0),
            help='Seconds before the first retry. Default: [worker] '
                 'retry_base_delay.'),
    cfg.Opt('retry_max_delay', type=types.Float(min=0),
            help='Longest wait between attempts. Default: [worker] '
                 'retry_max_delay.'),
]


def example_groups():
    """(group, options) documenting a rule of each built-in action."""
    # Imported here: the actions import this package's option types.
    from esi_event_actions.actions import ansible
    from esi_event_actions.actions import log
    from esi_event_actions.actions import script
    from esi_event_actions.actions import webhook
    groups = []
    for name, cls in (('script', script.ScriptAction),
                      ('webhook', webhook.WebhookAction),
                      ('ansible', ansible.AnsibleAction),
                      ('log', log.LogAction)):
        group = cfg.OptGroup(
            'example_%s_rule' % name, title='A rule with the %s action' % name,
            help='Any section that sets "events" is a rule, named after its '
                 'section (for example [fulfill]). This one shows a rule '
                 'whose action is %s: its options go in the same '
                 'section.' % name)
        groups.append((group, opts + cls.opts))
    return groups


def list_opts():
    return opts
