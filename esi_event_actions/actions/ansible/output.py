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
"""What ansible-playbook prints, kept within the output limit.

A playbook may print gigabytes, and ansible-runner would keep all of it:
in ``artifacts/<ident>/stdout``, in one ``job_events`` file per event,
and in pexpect's buffer of what it read.  The options here keep none of
it; only the end of the output is kept, in memory, as the events go by.
"""

# A password prompt pattern for ansible-runner, with None for "answer
# nothing".  pexpect holds everything read since the last pattern matched,
# and ansible-runner's own patterns (timeout, end of file) never match
# while the playbook prints: this one matches whatever was read, so that
# each read lets go of what the one before kept.
DRAIN_PATTERNS = {r'(?s).+': None}

# Environment of ansible-playbook: its callback leaves an event's result
# longer than this out of the event data, which it writes to a file that
# ansible-runner reads back, for every event.  This action reads other
# event data only (task, host, statistics).
EVENT_DATA_ENV = {'MAX_EVENT_RES': '0'}


class Tail:
    """The end of a text, at most ``limit`` characters, in whole lines.

    Added to piece by piece, it never holds more than ``limit`` characters
    of it (and a piece, while it is being added).
    """

    def __init__(self, limit):
        self.limit = limit
        self._text = ''
        self._cut = False

    def add(self, text):
        """Append ``text``, dropping what goes beyond the limit."""
        # Twice the limit: a \r\n cut in two leaves a lone \n.
        piece = text[max(0, len(text) - 2 * self.limit):]
        kept = self._text + piece.replace('\r\n', '\n')
        if len(piece) < len(text) or len(kept) > self.limit:
            self._cut = True
            kept = kept[len(kept) - self.limit:]
        self._text = kept

    def text(self):
        """What is kept; a line cut at the start is left out."""
        if not self._cut:
            return self._text
        return self._text[self._text.find('\n') + 1:] or self._text
