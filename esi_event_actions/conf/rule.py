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

from esi_event_actions import optiontypes as types

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
    cfg.Opt('on_count', type=types.Integer(min=1, max=1000),
            help='Act on the Nth event of the same lease that this rule '
                 'matches, once: on_count = 3 with events = '
                 'esi_leap.lease.fulfill.error acts on the third failed '
                 'fulfilment of a lease. The events before it and after '
                 'it are journalled as skipped jobs. The count is of the '
                 'jobs the journal keeps: pruned ones no longer count. An '
                 'event without a lease is skipped. Default: act on every '
                 'event.'),
    cfg.Opt('at', type=types.String(),
            help='Run this rule\'s jobs at a time computed from the event '
                 'that starts them, not at once: a dot path of a time in '
                 'the lease (end_time, start_time), or event_time, the '
                 'event\'s own, then + or - a duration with a unit: s, '
                 'm, h, d or w. "end_time - 48h" runs two days before the '
                 'lease ends. The job waits in the journal, survives '
                 'restarts, and is cancelled by a cancel_on event of the '
                 'same lease. Default: at once.'),
    cfg.Opt('at_past', type=types.String(choices=['run', 'skip']),
            default='run',
            help='What a timed job does when its time has passed by the '
                 'time it is journalled: run at once, or skip (journalled '
                 'as skipped, with the time it missed).'),
    cfg.Opt('cancel_on', type=types.List(item_type=types.String()),
            default=['esi_leap.lease.delete.*'],
            help='Event types that cancel this rule\'s timed jobs of the '
                 'same lease, still waiting for their time: the lease '
                 'ended first. With at = event_time + 10m and cancel_on = '
                 'esi_leap.lease.fulfill.end on fulfill.start, a watchdog '
                 'for a fulfilment that never ends. Shell-style '
                 'wildcards are allowed. Only used with at.'),
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


def list_opts():
    return opts
