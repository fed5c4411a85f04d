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
"""What a mail address may be, wherever it comes from.

Only a plain ``local@domain`` in ASCII, with a dot-atom local part and a
host name for domain (RFC 5321): no display name, no comment, no quoted
local part, no address literal, no white space.  That is every address
a person actually uses, and nothing that could carry a second address,
a header or a command: a lessee's ``"a@b.example\\r\\nBcc: x@y.example"``
or ``"a@b.example, x@y.example"`` is refused whole.
"""

import re

from esi_event_actions import safetext

# RFC 5321 4.5.3.1: 64 octets of local part; a path of 256, so an address
# of 254.
_LOCAL_LIMIT = 64
_LIMIT = 254

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = re.compile(r'%s+(?:\.%s+)*\Z' % (_ATEXT, _ATEXT))
_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_DOMAIN = re.compile(r'%s(?:\.%s)*\Z' % (_LABEL, _LABEL))

# What a display name may not hold: a control character ends a header.
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]')


class Invalid(ValueError):
    """Not an address this action sends to."""


def check(value):
    """``value`` if it is a plain address; else raise :class:`Invalid`.

    The message says what is wrong without repeating a value someone
    else chose beyond a short, escaped start of it.
    """
    if not isinstance(value, str):
        raise Invalid('not a string but %s' % type(value).__name__)
    shown = safetext.printable(value, 60)
    if len(value) > _LIMIT:
        raise Invalid('longer than %d characters: %s...' % (_LIMIT, shown))
    local, at, domain = value.rpartition('@')
    if not at or not local:
        raise Invalid('not a local@domain address: %r' % shown)
    if len(local) > _LOCAL_LIMIT or not _LOCAL.match(local):
        raise Invalid('not a plain local part (letters, digits, dots and '
                      'a few signs, no space): %r' % shown)
    if not _DOMAIN.match(domain):
        raise Invalid('not a host name after the @: %r' % shown)
    return value


def of_value(value):
    """The addresses of a value: one address, or a list of them.

    A string is one address, never a list to split: each is checked, and
    the first that is not an address raises :class:`Invalid`.
    """
    if isinstance(value, str):
        return [check(value.strip())]
    if isinstance(value, list):
        return [check(item.strip() if isinstance(item, str) else item)
                for item in value]
    raise Invalid('neither a string nor a list but %s'
                  % type(value).__name__)


def sender(value):
    """(display name, address) of a From such as ``ESI <esi@example.com>``.

    :raises Invalid: unless the address is plain and the name one line
        of text with no quote or angle bracket.
    """
    match = _SENDER.match(value or '')
    if not match:
        raise Invalid('not an address, or "Name <address>": %r'
                      % safetext.printable(value, 60))
    name = (match.group('name') or '').strip()
    if _CONTROL.search(name):
        raise Invalid('the name holds a control character')
    return name, check(match.group('addr') or match.group('bare'))


_SENDER = re.compile(r'\s*(?:(?P<name>[^<>"]*)<(?P<addr>[^<>]*)>'
                     r'|(?P<bare>[^<>"\s]+))\s*\Z')


def unique(addresses):
    """``addresses`` in order, each once: the domain's case ignored."""
    seen, kept = set(), []
    for addr in addresses:
        local, _, domain = addr.rpartition('@')
        key = (local, domain.lower())
        if key not in seen:
            seen.add(key)
            kept.append(addr)
    return kept
