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
"""What the kernel says of the processes measured: CPU and memory."""

import os
import resource
import threading

HZ = os.sysconf('SC_CLK_TCK')
MB = 1024 * 1024


def _field_kb(pid, name, key):
    """A kB field of /proc/<pid>/<name>, in bytes, or None."""
    try:
        with open('/proc/%d/%s' % (pid, name)) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def status(pid, key):
    """A field of /proc/<pid>/status, such as VmHWM, in bytes, or None."""
    return _field_kb(pid, 'status', key)


def pss(pid):
    """The proportional set size of a process, in bytes, or None."""
    return _field_kb(pid, 'smaps_rollup', 'Pss')


def stat(pid):
    """The numeric fields of /proc/<pid>/stat after the command name.

    [11] utime, [12] stime, [13] cutime, [14] cstime, in clock ticks.
    """
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read()
    except OSError:
        return [0] * 20
    # The command name may hold spaces and parentheses.
    fields = data[data.rindex(b')') + 2:].split()
    return [0, 0] + [int(f) for f in fields[2:]]


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    fields = stat(pid)
    return fields[11] + fields[12]


def children(pid):
    """The pids of a process's children."""
    found = []
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                found.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return found


def rusage_cpu(who):
    """User plus system seconds of this process, or of its reaped children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss():
    """The largest resident set of this process so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakSampler:
    """The largest of the values ``sample()`` returns, while in the block.

    Sampled every ``interval`` seconds in a thread; None values (a
    process not up yet) are ignored.
    """

    def __init__(self, sample, interval):
        self.sample = sample
        self.interval = interval
        self.peak = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        while True:
            for value in self.sample():
                if value is not None and (self.peak is None
                                          or value > self.peak):
                    self.peak = value
            if self._stop.wait(self.interval):
                return
