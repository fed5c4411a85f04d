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
"""The one boundary for text that someone else chose.

A lessee chooses a lease's name, purpose and properties; a publisher the
message ids; an action what it prints.  Any of them may hold a NUL byte
(which PostgreSQL's text types refuse), a lone surrogate (which no UTF-8
encoder takes), terminal escape sequences, numbers JSON cannot write, or
megabytes.  Everything on its way to a database, a terminal, a log line or
a JSON document goes through one of these functions:

:func:`storable`
    free text (a detail, an output) that any journal can store.
:func:`identifier`
    a key that must stay distinct and short (an event id, a node, a
    ``once_per`` value): unchanged when it is already safe, else a hash.
:func:`printable`
    text for a terminal or a log line, control characters escaped.
:func:`finite`, :func:`dumps`
    strict JSON: NaN and the infinities become strings.
"""

import hashlib
import json
import math
import re

#: What the journal's identifier columns hold at most.
IDENTIFIER_LIMIT = 255

_HASH_PREFIX = 'sha256:'

# NUL, and the surrogate code points, which only a lone surrogate can put
# in a str: both have no place in a database's text.
_UNSTORABLE = re.compile('[\x00\ud800-\udfff]')

# C0 and C1 controls and DEL, and the lone surrogates: what a terminal acts
# on, or cannot show.  Tab and newline are controls too, so that one value
# stays on one line of a table or a log.
_UNPRINTABLE = re.compile('[\x00-\x1f\x7f-\x9f\ud800-\udfff]')

# What printable() escapes: the above, and the backslash, so that escaped
# text cannot be mistaken for what it replaced.
_ESCAPED = re.compile('[\\\\\x00-\x1f\x7f-\x9f\ud800-\udfff]')

_ESCAPES = {'\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\'}

_NON_FINITE = {'nan': 'NaN', 'inf': 'Infinity', '-inf': '-Infinity'}


def storable(text):
    """``text`` with NUL and lone surrogates replaced by U+FFFD."""
    if text is None or not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub('\ufffd', text)


def identifier(value, limit=IDENTIFIER_LIMIT):
    """``value`` if it is storable and at most ``limit`` characters long.

    Otherwise ``sha256:`` and the hex digest of its code points: still one
    value per input, so two distinct keys never merge, and short enough
    for any column.
    """
    if value is None:
        return None
    if len(value) <= limit and not _UNSTORABLE.search(value):
        return value
    digest = hashlib.sha256(value.encode('utf-8', 'surrogatepass'))
    return _HASH_PREFIX + digest.hexdigest()


def _escape(match):
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return '\\x%02x' % code if code < 0x100 else '\\u%04x' % code


def printable(text, limit=None):
    """``text`` with control characters and lone surrogates escaped.

    Backslashes are doubled only where something else was escaped, so
    ordinary text (paths, Windows-style names) reads as it is, and escaped
    text cannot be mistaken for what it replaced.  With ``limit``, the
    text is cut to that many characters first (a value someone else chose
    may be megabytes).
    """
    if text is None:
        return text
    if not isinstance(text, str):
        text = str(text)
    if limit is not None:
        text = text[:limit]
    if not _UNPRINTABLE.search(text):
        return text
    return _ESCAPED.sub(_escape, text)


def finite(value):
    """``value`` with every NaN or infinite float made a string.

    Python's JSON decoder accepts ``NaN``, ``Infinity`` and ``1e400``; its
    encoder writes them back out, which no strict JSON parser accepts.
    Returns ``value`` itself when nothing had to change.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return _NON_FINITE[repr(value)]
    if isinstance(value, dict):
        items = [(k, finite(v)) for k, v in value.items()]
        if all(new is value[k] for k, new in items):
            return value
        return dict(items)
    if isinstance(value, (list, tuple)):
        items = [finite(v) for v in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return items
    return value


def dumps(value, **kwargs):
    """``value`` as strict JSON text (see :func:`finite`)."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False, **kwargs)
