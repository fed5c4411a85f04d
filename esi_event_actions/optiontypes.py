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
"""Option types that accept the legacy listener's inline comments.

The original listener read its file with Python's configparser, where
``key = value   # remark`` was common in the sample.  oslo.config keeps the
remark as part of the value, so the types below strip it.  A ``#`` only starts
a comment when white space precedes it, so ``/opt/run#1.sh`` is kept whole,
and a JSON value is decoded first so a ``#`` inside a JSON string is kept.
"""

import json
import math
import re

from oslo_config import types

from esi_event_actions import policies

_INLINE_COMMENT = re.compile(r'\s+#.*\Z', re.DOTALL)


def strip_inline_comment(value):
    """Return ``value`` without a trailing `` # comment``."""
    if not isinstance(value, str):
        return value
    return _INLINE_COMMENT.sub('', value).strip()


class String(types.String):
    """A string option that ignores an inline comment."""

    def __call__(self, value):
        return super().__call__(strip_inline_comment(value))


class List(types.List):
    """A comma separated list option that ignores an inline comment."""

    def __call__(self, value):
        return super().__call__(strip_inline_comment(value))


class Integer(types.Integer):
    """An integer option that ignores an inline comment."""

    def __call__(self, value):
        return super().__call__(strip_inline_comment(value))


#: Upper bounds of durations, in seconds: long enough for any real use,
#: short enough that no date computed from them overflows.
HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
YEAR = 365 * DAY


class Float(types.Float):
    """A finite float option that ignores an inline comment.

    ``nan`` and ``inf`` are refused: every comparison with a bound is
    false for NaN, so oslo's own range check lets it through.
    """

    def __call__(self, value):
        value = super().__call__(strip_inline_comment(value))
        if not math.isfinite(value):
            raise ValueError('%s is not a finite number' % value)
        return value


class Boolean(types.Boolean):
    """A boolean option that ignores an inline comment."""

    def __call__(self, value):
        return super().__call__(strip_inline_comment(value))


class ChoiceOrId(types.ConfigType):
    """One of some words, or a non-negative integer, as lower-case text.

    The integer is at most what a 64-bit column (a checkpoint) holds.
    """

    def __init__(self, words, type_name='choice or id value'):
        super().__init__(type_name=type_name)
        self.words = tuple(words)

    def __call__(self, value):
        text = strip_inline_comment(str(value)).lower()
        if text in self.words or (text.isdigit() and text.isascii() and
                                  int(text) < 2 ** 63):
            return text
        raise ValueError('expected %s or an event id, not %r' % (
            ' or '.join('"%s"' % c for c in self.words), value))

    def __repr__(self):
        return 'ChoiceOrId%r' % (self.words,)

    def _formatter(self, value):
        return str(value)

    def __eq__(self, other):
        return (self.__class__ == other.__class__ and
                self.words == other.words)


class JSONObject(types.ConfigType):
    """A JSON object, optionally followed by an inline comment.

    Anything else after the object (the legacy sample's stray ``}``, say) is
    an error that names the offending text and its column.
    """

    #: The JSON types accepted, and how an error names them.
    kinds = (dict,)
    wanted = 'a JSON object ({...})'

    def __init__(self, type_name='JSON object value'):
        super().__init__(type_name=type_name)

    def __call__(self, value):
        if isinstance(value, self.kinds):
            return value
        text = value.strip()
        if not text:
            return {}
        try:
            obj, end = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError as exc:
            raise ValueError('not valid JSON: %s' % exc)
        rest = text[end:]
        extra = strip_inline_comment(rest)
        if extra:
            raise ValueError(
                'unexpected %r after the JSON object at column %d '
                '(a stray bracket?)' % (extra[:20], end + 1))
        if not isinstance(obj, self.kinds):
            raise ValueError('expected %s, got %s'
                             % (self.wanted, type(obj).__name__))
        return obj

    def __repr__(self):
        return type(self).__name__

    def __eq__(self, other):
        return self.__class__ == other.__class__

    def _formatter(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True)


class JSONObjectOrList(JSONObject):
    """A JSON object or a JSON list (of objects, for filter_params)."""

    kinds = (dict, list)
    wanted = 'a JSON object ({...}) or a list of them ([{...}, ...])'

    def __init__(self, type_name='JSON object or list value'):
        super().__init__(type_name=type_name)


class Rate(types.ConfigType):
    """At most N per second, minute or hour: ``N/s``, ``N/m``, ``N/h``."""

    def __init__(self, type_name='rate value'):
        super().__init__(type_name=type_name)

    def __call__(self, value):
        text = strip_inline_comment(str(value))
        policies.parse_rate(text)
        return text.replace(' ', '')

    def __repr__(self):
        return 'Rate'

    def __eq__(self, other):
        return self.__class__ == other.__class__

    def _formatter(self, value):
        return str(value)
