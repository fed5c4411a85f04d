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
"""Who a mail goes to: the rule's addresses, the lease's, Keystone's.

Every source a rule sets is asked, and their addresses are sent to
together, each once.  An address from the lease or from Keystone is
checked as strictly as the rule's (:mod:`.addresses`); one that is not a
plain address is left out, and the log says which source gave it.
"""

import dataclasses

from oslo_log import log as logging

from esi_event_actions.actions.email import addresses
from esi_event_actions.actions.email import keystone
from esi_event_actions import event as event_mod
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)


class TooMany(Exception):
    """More recipients than the rule allows."""


@dataclasses.dataclass
class Found:
    """The addresses for one mail, and why some source gave none."""

    to: list
    bcc: list
    #: One line per source that gave nothing, or refused a value.
    notes: list


class Recipients:
    """The sources of one rule's recipients.

    ``directory`` is a :class:`keystone.Directory`, with ``source`` one
    of :data:`keystone.SOURCES`.
    """

    def __init__(self, to=(), bcc=(), path=None, source=None, roles=(),
                 limit=50, directory=None):
        self.to = list(to)
        self.bcc = list(bcc)
        self.path = path
        self.source = source
        self.roles = list(roles)
        self.limit = limit
        self.directory = directory

    def describe(self):
        """The sources, in words: ``2 addresses, properties.x, keystone``."""
        parts = []
        if self.to:
            parts.append(', '.join(self.to))
        if self.path:
            parts.append('lease %s' % self.path)
        if self.source:
            parts.append('keystone %s' % self.source)
        return ' + '.join(parts)

    def from_lease(self, event, notes):
        """The addresses at ``path`` in the lease (or its context)."""
        if not self.path:
            return []
        value = event.lookup(self.path)
        if value is event_mod.MISSING or value in (None, '', []):
            notes.append('the lease has no %s' % self.path)
            return []
        try:
            return addresses.of_value(value)
        except addresses.Invalid as exc:
            notes.append('%s refused: %s' % (self.path, exc))
            return []

    def from_keystone(self, event, notes):
        """The addresses Keystone has for the lease's project.

        :raises keystone.LookupFailed: Keystone could not say.
        """
        if not self.source:
            return []
        project = event.data.get('project_id')
        if not isinstance(project, str) or not project:
            notes.append('the lease names no project_id')
            return []
        if self.source == keystone.PROJECT:
            values = self.directory.project_email(project)
        else:
            values = self.directory.user_emails(project, self.roles,
                                                self.limit)
        found = []
        for value in values:
            try:
                found.append(addresses.check(value))
            except addresses.Invalid as exc:
                notes.append('keystone %s of project %s refused: %s' % (
                    self.source, safetext.printable(project, 64), exc))
        if not found:
            notes.append('keystone has no %s email for project %s' % (
                self.source, safetext.printable(project, 64)))
        return found

    def resolve(self, event):
        """The :class:`Found` addresses for ``event``.

        :raises keystone.LookupFailed: Keystone could not say.
        :raises TooMany: more than the rule's ``max_recipients``.
        """
        notes = []
        to = addresses.unique(self.to + self.from_lease(event, notes) +
                              self.from_keystone(event, notes))
        wanted = {addr.lower() for addr in to}
        bcc = [addr for addr in addresses.unique(self.bcc)
               if addr.lower() not in wanted]
        if len(to) + len(bcc) > self.limit:
            raise TooMany('%d recipients, more than max_recipients (%d)'
                          % (len(to) + len(bcc), self.limit))
        for note in notes:
            LOG.warning('Recipients of a mail: %s', note)
        return Found(to, bcc, notes)
