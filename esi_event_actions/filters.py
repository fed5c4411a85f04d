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
"""Rule filters: anchored regular expressions on dot paths."""

import json
import re

from esi_event_actions import event as event_mod


class Filter:
    """The compiled ``filter_params`` of one rule.

    Each key is a dot path into the event data; its value is a pattern that
    must match the whole value, a list of patterns of which one must match,
    or null, which matches only a missing or null value.  Numbers and
    booleans in the payload are matched on their JSON text; so are numbers
    and booleans given as filter values, literally.
    """

    def __init__(self, spec):
        self.spec = dict(spec or {})
        self._checks = [(path, self._compile(path, value))
                        for path, value in self.spec.items()]

    @staticmethod
    def _compile(path, value):
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError('%s: an empty list can never match' % path)
        patterns = []
        for item in values:
            if item is None:
                patterns.append(None)
                continue
            if isinstance(item, (dict, list)):
                raise ValueError('%s: a pattern must be a string, a number, '
                                 'a boolean or null, not %s'
                                 % (path, json.dumps(item)))
            if not isinstance(item, str):
                item = re.escape(json.dumps(item))
            try:
                patterns.append(re.compile(item, re.DOTALL))
            except re.error as exc:
                raise ValueError('%s: invalid regular expression %r: %s'
                                 % (path, item, exc))
        return patterns

    def mismatch(self, event):
        """None when ``event`` passes, else why it does not."""
        for path, patterns in self._checks:
            value = event.lookup(path)
            if not any(self._match(p, value) for p in patterns):
                shown = ('missing' if value is event_mod.MISSING
                         else repr(event_mod.as_text(value)[:80]))
                return '%s is %s, wanted %s' % (
                    path, shown, json.dumps(self.spec[path]))
        return None

    def matches(self, event):
        return self.mismatch(event) is None

    @staticmethod
    def _match(pattern, value):
        if value is event_mod.MISSING or value is None:
            return pattern is None
        if pattern is None:
            return False
        return pattern.fullmatch(event_mod.as_text(value)) is not None
