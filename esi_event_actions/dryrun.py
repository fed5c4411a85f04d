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
"""What the rules would do with an event, without the bus or the journal.

Reads a notification in any of the shapes an operator will paste: the raw
bus body (with ``oslo.message``), the decoded message, a row of
``openstack esi event list -f json`` or of esi-leap's ``/v1/events``, or
only the payload (with an event type given separately); a JSON list of
any of these is several events.
"""

import json
import uuid

from esi_event_actions import event as event_mod
from esi_event_actions import history
from esi_event_actions import journal
from esi_event_actions import notification
from esi_event_actions import policies

# Column titles of "openstack esi event list -f json" -> API field names.
_CLI_COLUMNS = {
    'ID': 'id', 'Event Type': 'event_type', 'Event Time': 'event_time',
    'Object Type': 'object_type', 'Object UUID': 'object_uuid',
    'Resource Type': 'resource_type', 'Resource UUID': 'resource_uuid',
    'Lessee ID': 'lessee_id', 'Owner ID': 'owner_id',
}


class InputError(Exception):
    """The input is none of the shapes test-rule understands."""


def read_events(text, event_type=None):
    """The Events described by ``text`` (a JSON document)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError('not JSON: %s' % exc)
    items = doc if isinstance(doc, list) else [doc]
    return [_event(item, event_type) for item in items]


def _event(item, event_type):
    if not isinstance(item, dict):
        raise InputError('expected a JSON object, got %s'
                         % type(item).__name__)
    if isinstance(item.get('oslo.message'), str):
        try:
            item = json.loads(item['oslo.message'])
        except ValueError as exc:
            raise InputError('oslo.message is not JSON: %s' % exc)
    if 'Event Type' in item:
        item = {_CLI_COLUMNS.get(k, k): v for k, v in item.items()}
    try:
        if 'object_uuid' in item and 'event_type' in item:
            return history.to_event(item)
        if 'event_type' in item and 'payload' in item:
            return notification.to_event(_message(item), _priority(item))
        if not event_type:
            raise InputError('a bare payload needs --event-type')
        return event_mod.Event(event_type=event_type,
                               data=notification.payload_data(item),
                               id='test-rule', source='test-rule')
    except notification.BadMessage as exc:
        raise InputError(str(exc))


def _message(item):
    """A listener-style message dict from a decoded bus message."""
    metadata = item.get('metadata') or {
        'message_id': item.get('message_id'),
        'timestamp': item.get('timestamp')}
    return dict(item, metadata=metadata)


def _priority(item):
    priority = item.get('priority')
    return priority.lower() if isinstance(priority, str) else None


def evaluate(ruleset, event, acted=None, now=None):
    """For each rule: does it act on ``event``, why not, what it would do.

    :param acted: for a sequence of events, a dict shared by the calls:
        it models ``once_per`` across them (the first event with a value
        acts, the later ones are skipped).  The journal's history is not
        consulted, and ``once_per_window`` is taken as never ending.
    :param now: naive UTC, as if ``event`` were journalled then: when a
        timed rule's job would run, and whether its time has passed.
    """
    now = now or journal.utcnow()
    results = []
    for rule, why in ruleset.evaluate(event):
        result = {'rule': rule.name, 'action': rule.action_name,
                  'matched': why is None}
        if why is not None:
            result['reason'] = why
        else:
            result['would'] = rule.action.preview(event, rule.params(event))
            shown = rule.policies()
            if shown:
                result['policies'] = shown
            if rule.timer is not None:
                result['timer'] = _timer(rule.timer, event, now)
            if rule.filter.reads_context:
                result['checked_at_start'] = [
                    path for path in rule.filter.paths
                    if path.startswith(event_mod.CONTEXT + '.')]
            skipped = _once(rule, event, acted)
            if skipped:
                result['skipped'] = skipped
        results.append(result)
    return results


def _once(rule, event, acted):
    """Why ``rule`` would skip ``event`` for its once_per, or None."""
    policy = rule.once_per
    if acted is None or policy is None:
        return None
    value = event.lookup(policy.path)
    if value is None or value is event_mod.MISSING:
        return None
    key = (rule.name, event_mod.as_text(value))
    if key in acted:
        return 'once_per %s=%s: event %s acted on it' % (
            policy.path, key[1][:80], acted[key])
    acted[key] = event.id
    return None


def _timer(timer, event, now):
    """When a timed rule's job would run, as the journal decides it."""
    state, due, why = timer.decide(event, now)
    shown = {'state': state, 'due': None, 'from_now': None,
             'cancel_on': list(timer.cancel_on)}
    if due is not None:
        shown['due'] = due.isoformat(timespec='seconds') + 'Z'
        shown['from_now'] = _from_now(due, now)
    if why:
        shown['reason'] = why
    return shown


def _from_now(due, now):
    """``in 1d 23h 59m`` or ``2h 3m ago``: seconds only under a minute."""
    seconds = (due - now).total_seconds()
    span = int(abs(seconds))
    days, span = divmod(span, 86400)
    hours, span = divmod(span, 3600)
    minutes, span = divmod(span, 60)
    parts = [(days, 'd'), (hours, 'h'), (minutes, 'm')]
    text = ' '.join('%d%s' % part for part in parts if part[0])
    text = text or '%ds' % span
    return 'in %s' % text if seconds > 0 else '%s ago' % text


def _timer_text(timer):
    """The line of format_text that says when a timed job would run."""
    if timer['due'] is None:
        return 'skipped: %s' % timer['reason']
    done = {policies.SCHEDULED: 'scheduled for then',
            policies.RUN: 'past, runs at once',
            policies.SKIP: 'past, skipped (at_past = skip)'}[timer['state']]
    return '%s (%s): %s' % (timer['due'], timer['from_now'], done)


def replayed(event):
    """A copy of ``event`` with a new id, marked as a replay."""
    return event_mod.Event(
        event_type=event.event_type, data=event.data,
        id='replay:%s:%s' % (uuid.uuid4().hex[:12], event.id),
        source='replay', publisher_id=event.publisher_id,
        priority=event.priority, timestamp=event.timestamp)


def format_text(event, results):
    """The human-readable report of :func:`evaluate`."""
    lines = ['%s %s (%s) node %s lease %s' % (
        event.event_type, event.id, event.source, event.node, event.lease)]
    for result in results:
        if not result['matched']:
            lines.append('  [%s] no: %s' % (result['rule'],
                                            result['reason']))
            continue
        lines.append('  [%s] MATCH -> %s' % (result['rule'],
                                             result['action']))
        if result.get('skipped'):
            lines.append('      SKIPPED: %s' % result['skipped'])
        if result.get('policies'):
            lines.append('      policies: %s' % ' '.join(
                result['policies']))
        if result.get('timer'):
            lines.append('      at: %s' % _timer_text(result['timer']))
            lines.append('      cancel_on: %s' % (', '.join(
                result['timer']['cancel_on']) or 'nothing'))
        if result.get('checked_at_start'):
            lines.append('      checked when the job starts, with the '
                         'lease\'s context: %s' % ', '.join(
                             result['checked_at_start']))
        for key, value in result['would'].items():
            text = value if isinstance(value, str) else json.dumps(
                value, sort_keys=True)
            lines.append('      %s: %s' % (key, text))
        if 'result' in result:
            lines.append('      result: %s' % result['result'])
    return '\n'.join(lines)
