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
"""The ansible-runner private data directory of each job attempt.

``<private_data_dir>/<rule>/<rule>-<event id>-<attempt>`` holds the
attempt's inputs (extra variables, generated inventory) and the artifacts
ansible-runner writes there.
"""

import os
import re
import shutil
import threading

from oslo_log import log as logging

from esi_event_actions.actions.ansible import safe_yaml
from esi_event_actions import fileutils
from esi_event_actions import safetext

# The package's name, which this action's log lines have always carried
# and operators may have set levels for.
LOG = logging.getLogger(__package__)

_UNSAFE_IDENT = re.compile(r'[^A-Za-z0-9_.-]')
_IDENT_MAX = 200


def safe_name(text):
    """``text`` made safe as one path component (and as a runner ident)."""
    return _UNSAFE_IDENT.sub('_', text).lstrip('.')[:_IDENT_MAX] or '_'


def job_ident(rule_name, event_id, attempt):
    """The name of one job attempt's directory."""
    return safe_name('%s-%s-%s' % (rule_name, event_id, attempt))


def _write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(text)


def write_inputs(job_dir, variables, inventory, settings):
    """Write a run's inputs: the inventory is left out when None.

    :returns: the path of the inventory file written, or None.
    :raises OSError: a file could not be written.
    """
    env_dir = os.path.join(job_dir, 'env')
    os.mkdir(env_dir, 0o700)
    # ansible-runner reads its settings from this file alone when it is
    # told not to write its env files (the environment): the settings
    # argument of init_runner() would be lost.
    _write(os.path.join(env_dir, 'settings'),
           safetext.dumps(settings, sort_keys=True))
    # Written here rather than passed to ansible-runner, which would
    # write plain JSON: see safe_yaml.unsafe_yaml().
    _write(os.path.join(env_dir, 'extravars'),
           safe_yaml.extra_vars_yaml(variables))
    if inventory is None:
        return None
    path = os.path.join(job_dir, 'inventory.json')
    _write(path, safetext.dumps(inventory, sort_keys=True))
    return path


class JobDirs:
    """The job directories of one rule, private to the service's user.

    Only the newest ``keep`` of them are kept, besides those of runs still
    going on in this process.  One instance serves every concurrent run
    of its rule.
    """

    def __init__(self, data_dir, rule_name, keep):
        self.rule_name = rule_name
        self.path = os.path.join(data_dir, safe_name(rule_name))
        self.keep = keep
        self._active = set()
        self._lock = threading.Lock()

    def new(self, ident):
        """Make a new directory for the job attempt ``ident``: its path.

        It counts as in use until :meth:`release`.
        """
        fileutils.make_private_dirs(self.path)
        # A directory left by an interrupted run of the same attempt (or
        # in use by another instance) is never reused.
        for number in range(1, 1000):
            name = ident if number == 1 else '%s.%d' % (ident, number)
            path = os.path.join(self.path, name)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            with self._lock:
                self._active.add(path)
            return path
        raise FileExistsError('no free job directory for %s' % ident)

    def release(self, path):
        """The run using ``path`` is over: it may be pruned."""
        with self._lock:
            self._active.discard(path)

    def prune(self):
        """Delete the job directories of this rule beyond ``keep``.

        Directories of runs still going on in this process are kept.  A
        failure is logged: it must not change the result of the job.
        """
        # One pruning at a time, or one could stat what another deletes.
        with self._lock:
            try:
                self._prune(set(self._active))
            except OSError as exc:
                LOG.warning('Cannot prune the job directories of rule %s: '
                            '%s', self.rule_name, exc)

    def _prune(self, active):
        found = []
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    found.append((entry.stat(follow_symlinks=False).st_mtime,
                                  entry.name, entry.path))
            except FileNotFoundError:
                continue  # deleted meanwhile by another instance
        found.sort(reverse=True)
        for _mtime, _name, path in found[self.keep:]:
            if path not in active:
                shutil.rmtree(path, ignore_errors=True)
