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
"""The normalised event every source produces and every rule reads."""

import dataclasses
import datetime
import functools
import json
import re

from esi_event_actions import safetext

#: The first part of the dot paths that read a lease's context.
CONTEXT = 'context'

# Returned by Event.lookup for a path that is not in the data; unlike None it
# can never be confused with a JSON null.
MISSING = object()

# The lease event types esi-leap sends, declared here once: the listener's
# endpoints and the check of a rule's "events" derive from them.
_PREFIX = 'esi_leap.lease.'
#: Event families (one listener endpoint each) and their stages.
FAMILIES = {'fulfill': ('start', 'end', 'error'),
            'delete': ('start', 'end', 'error')}
EVENT_TYPES = tuple('%s%s.%s' % (_PREFIX, family, stage)
                    for family, stages in FAMILIES.items()
                    for stage in stages)


def family_pattern(family):
    """A regular expression for the event types of one family."""
    return '^' + re.escape('%s%s.' % (_PREFIX, family))


def other_pattern():
    """A regular expression for every event type of no family."""
    return '^(?!%s(%s)\\.)' % (re.escape(_PREFIX), '|'.join(
        re.escape(family) for family in FAMILIES))


@dataclasses.dataclass(frozen=True)
class Event:
    """One lease event, whatever its source.

    ``data`` is the lease object as esi-leap describes it (for bus messages
    the dict under ``esi_leap_object.data``).  ``id`` identifies the
    occurrence at its source (the notification's message id, or
    ``history:<n>`` for an event history row) and is the journal's
    de-duplication key together with the rule name.

    ``context`` is the lease's context (see
    :mod:`esi_event_actions.journal.contexts`) as it stood when the job
    started: None until then, and never journalled with the event.  Dot
    paths under ``context.`` read it.

    The id and the event type become keys of the journal: one that a
    column cannot hold (a NUL, a lone surrogate, over 255 characters) is
    replaced by its digest (:func:`safetext.identifier`).  ``data`` is kept
    as it came, for the actions.
    """

    event_type: str
    data: dict
    id: str
    source: str = 'notification'
    publisher_id: str = None
    priority: str = None
    timestamp: str = None
    context: dict = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        for field in ('id', 'event_type'):
            value = getattr(self, field)
            if isinstance(value, str):
                safe = safetext.identifier(value)
                if safe is not value:
                    object.__setattr__(self, field, safe)

    def lookup(self, path):
        """Value at a dot path in ``data`` (or the context), or MISSING."""
        value = self.data
        parts = path.split('.')
        if parts[0] == CONTEXT and len(parts) > 1:
            value, parts = self.context or {}, parts[1:]
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
        return value

    @functools.cached_property
    def node(self):
        """The leased node's uuid, which orders this event's jobs.

        Read for every job of the event, and ``data`` never changes: it
        is worked out once.
        """
        for key in ('resource_uuid', 'node_uuid'):
            value = self.data.get(key)
            if isinstance(value, str) and value:
                return safetext.identifier(value)
        return None

    @property
    def time(self):
        """When the event happened (naive UTC datetime), or None."""
        if not isinstance(self.timestamp, str):
            return None
        text = self.timestamp.strip().replace('T', ' ').rstrip('Z')
        try:
            value = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(
                tzinfo=None)
        return value

    def with_context(self, context):
        """This event as a job sees it: with its lease's context."""
        return dataclasses.replace(self, context=context)

    def with_data(self, fields):
        """This event with ``fields`` laid over its data: a fresher lease."""
        return dataclasses.replace(self, data={**self.data, **fields})

    def log_fields(self):
        """Its type, id, node and lease, escaped for one log line."""
        return {'type': safetext.printable(self.event_type),
                'event': safetext.printable(self.id),
                'node': safetext.printable(self.node),
                'lease': safetext.printable(self.lease)}

    @property
    def lease(self):
        value = self.data.get('uuid')
        return value if isinstance(value, str) else None

    def to_dict(self):
        """The fields as a dict; ``data`` is shared, not copied.

        The context is there once a job started, never in the journal.
        """
        fields = {field: getattr(self, field) for field in _FIELDS}
        if self.context is not None:
            fields[CONTEXT] = self.context
        return fields

    def to_json(self):
        """Strict JSON in ASCII: any journal can store it as it is."""
        return safetext.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


_FIELDS = tuple(field.name for field in dataclasses.fields(Event)
                if field.name != CONTEXT)


def as_text(value):
    """The text a filter matches and a script receives for a value.

    Strings are used as they are; a null or missing value is the empty
    string; anything else is its JSON text (``16``, ``true``, ``{...}``).
    """
    if value is MISSING or value is None:
        return ''
    if isinstance(value, str):
        return value
    return safetext.dumps(value, sort_keys=True)
