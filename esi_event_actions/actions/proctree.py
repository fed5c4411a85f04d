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
"""Find and kill every process an action started, whatever it did.

Used by the script action's timeout and the ansible action's watchdog.
"""

import collections
import os
import signal


class ProcessTree:
    """A process and every process descending from it, through /proc.

    A process that calls setsid() leaves its parent's process group, so
    killpg() misses it; its parent link (while its parent lives) does
    not.  Members are known with their start time, so that a pid reused
    by an unrelated process is never signalled; and a member whose parent
    has died stays known, so take the tree before asking anything to
    stop.  A process whose parent died before it was seen cannot be
    found: a double-forked daemon escapes.
    """

    def __init__(self, root):
        self.members = {}
        table = _process_table()
        if root in table:
            self.members[root] = table[root][1]
        self._grow(table)

    def update(self):
        """Forget the members that ended; add their new descendants."""
        self._grow(_process_table())

    def _grow(self, table):
        self.members = {pid: start for pid, start in self.members.items()
                        if pid in table and table[pid][1] == start}
        children = collections.defaultdict(list)
        for pid, (ppid, _start) in table.items():
            children[ppid].append(pid)
        todo = list(self.members)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in self.members:
                    self.members[child] = table[child][1]
                    todo.append(child)

    def kill(self):
        """SIGKILL every member.

        Each is stopped first, so that none can start one more meanwhile.
        """
        stopped = set()
        while True:
            self.update()
            new = set(self.members) - stopped
            if not new:
                break
            for pid in new:
                self._signal(pid, signal.SIGSTOP)
            stopped |= new
        for pid in stopped:
            self._signal(pid, signal.SIGKILL)

    def _signal(self, pid, signum):
        if _start_time(pid) != self.members.get(pid):
            return
        try:
            os.kill(pid, signum)
        except OSError:
            pass  # ended meanwhile, or not ours to signal


def kill_tree(pid, group=False):
    """SIGKILL ``pid`` and its descendants (see :class:`ProcessTree`).

    With ``group``, also the process group ``pid`` leads: it holds the
    processes whose parent died before they could be seen.
    """
    ProcessTree(pid).kill()
    if group:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name, or None."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            text = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold any byte.
    return text.rsplit(b')', 1)[-1].split()


def _start_time(pid):
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def _process_table():
    """{pid: (parent pid, start time)} of every process, from /proc."""
    table = {}
    try:
        names = os.listdir('/proc')
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields and len(fields) > 19:
            table[int(name)] = (int(fields[1]), int(fields[19]))
    return table
