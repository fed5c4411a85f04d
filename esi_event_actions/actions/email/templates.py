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
"""The subject and bodies: Jinja2 templates, rendered in a sandbox.

The operator writes the templates; the lessee writes the lease.  So a
lease's values reach a template only as variables, never as template
source: a lease named ``{{ 7*7 }}`` is shown as those seven characters.
Before that, :func:`inert` makes every string of the lease one line of
printable text of bounded length (control characters, CR and LF among
them, and lone surrogates written as escapes, as in the log), so that a
value can neither forge lines of a text body nor hold megabytes.  The
HTML body's environment escapes every value (autoescape), and both run in
:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: a template cannot
reach Python's internals or change what it is given.

The variables are documented in the actions guide:

``lease``, ``event``, ``rule``, ``context``, ``now``, ``ends_in``.
"""

import datetime
import re

import jinja2
from jinja2 import sandbox

from esi_event_actions import safetext

# Deeper than any lease esi-leap sends: past it, a value is its JSON text.
_DEPTH = 16

# Printable to the log, but not to a mail reader: the line and paragraph
# separators start a line, the bidirectional controls reorder the text
# around them.
_LAYOUT = re.compile('[\u2028\u2029\u202a-\u202e\u2066-\u2069]')


def _finalize(value):
    # A null (fulfill_time of a fulfill.end) shows as nothing, not "None".
    return '' if value is None else value


def environment(html):
    """The sandbox a template runs in; ``html`` escapes every value."""
    return sandbox.ImmutableSandboxedEnvironment(
        autoescape=html, undefined=jinja2.ChainableUndefined,
        finalize=_finalize, keep_trailing_newline=True)


_TEXT = environment(False)
_HTML = environment(True)


def compile_template(source, html=False):
    """A template made from ``source``.

    :raises jinja2.TemplateSyntaxError: with the line at fault.
    """
    return (_HTML if html else _TEXT).from_string(source)


def render(template, variables, limit):
    """(text, whether it was cut): at most ``limit`` characters.

    The output is read as the template makes it and no more of it is
    made past the limit.

    :raises jinja2.TemplateError: (SecurityError among them) when the
        template fails on these variables.
    """
    kept, size = [], 0
    for chunk in template.generate(**variables):
        kept.append(chunk)
        size += len(chunk)
        if size > limit:
            return ''.join(kept)[:limit], True
    return ''.join(kept), False


def inert(value, limit, depth=0):
    """``value`` with every string made one printable, bounded line.

    Dict keys too: a lessee chooses the keys of the lease's properties.
    Numbers, booleans and null stay what they are.
    """
    if isinstance(value, str):
        return _LAYOUT.sub(_escape, safetext.printable(value, limit))
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if depth >= _DEPTH:
        return safetext.printable(safetext.dumps(value, default=str), limit)
    if isinstance(value, dict):
        return {inert(str(key), limit): inert(item, limit, depth + 1)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [inert(item, limit, depth + 1) for item in value]
    return safetext.printable(str(value), limit)


def _escape(match):
    return '\\u%04x' % ord(match.group())


def parse_time(value):
    """An ISO 8601 time of the lease as an aware UTC datetime, or None.

    A time without a zone is UTC, as esi-leap writes them.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(('Z', 'z')):
        text = text[:-1] + '+00:00'
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


def _plural(count, unit):
    return '%d %s%s' % (count, unit, '' if count == 1 else 's')


def duration(seconds):
    """``seconds`` in words: ``2 days``, ``1 day and 5 hours``, ``40 minutes``.

    To the nearest hour past a day and to the nearest minute below: a
    warning sent a second late still says "2 days".
    """
    if seconds >= 86400 - 1800:
        days, hours = divmod(int(round(seconds / 3600.0)), 24)
        if not hours:
            return _plural(days, 'day')
        return '%s and %s' % (_plural(days, 'day'), _plural(hours, 'hour'))
    if seconds >= 3600 - 30:
        hours, minutes = divmod(int(round(seconds / 60.0)), 60)
        if not minutes:
            return _plural(hours, 'hour')
        return '%s and %s' % (_plural(hours, 'hour'),
                              _plural(minutes, 'minute'))
    if seconds >= 30:
        return _plural(int(round(seconds / 60.0)), 'minute')
    return 'less than a minute'


def variables(event, rule, limit, now=None):
    """What a template sees of ``event``, for rule ``rule``.

    ``now`` (an aware UTC datetime; default: the time of the call) is
    when the mail is made; ``ends_in`` is the time from then to the
    lease's ``end_time`` in words, or None when the lease has ended or
    says no end.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    end = parse_time(event.data.get('end_time'))
    left = (end - now).total_seconds() if end else None
    when = event.time
    return {
        'lease': inert(event.data, limit),
        'event': inert({'type': event.event_type, 'id': event.id,
                        'source': event.source,
                        'time': when.isoformat() + 'Z' if when else None},
                       limit),
        'rule': inert(rule, limit),
        # The lease's context, once the service gives events one.
        'context': inert(getattr(event, 'context', None) or {}, limit),
        'now': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'ends_in': duration(left) if left is not None and left > 0
        else None,
    }
