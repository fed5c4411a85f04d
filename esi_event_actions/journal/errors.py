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
"""What goes wrong with a journal, and whether retrying can help."""

import sqlalchemy as sa

from esi_event_actions import safetext

#: Characters kept of the reason an event or an end could not be stored.
REASON_LIMIT = 500


class JournalError(Exception):
    """The journal cannot be used as configured."""


def permanent(exc):
    """Whether ``exc`` came from the values written, not from an outage.

    A value the database cannot store (invalid text, a number out of
    range, a string too long for its column) fails the same way however
    often it is tried; a lost connection, a lock timeout or a deadlock may
    pass.  Retrying the first kind for ever would hold up everything
    behind it.
    """
    if isinstance(exc, sa.exc.DBAPIError):
        return (isinstance(exc, sa.exc.DataError) and
                not exc.connection_invalidated)
    if isinstance(exc, sa.exc.StatementError):
        # Raised before the database saw the statement: binding a value.
        exc = exc.orig
    return isinstance(exc, (UnicodeError, ValueError, TypeError,
                            OverflowError))


def reason(exc):
    """A one-line, storable account of ``exc``, without the statement."""
    cause = getattr(exc, 'orig', None) or exc
    lines = str(cause).strip().splitlines() or ['']
    text = '%s: %s' % (type(cause).__name__, lines[0])
    return safetext.storable(text[:REASON_LIMIT])
