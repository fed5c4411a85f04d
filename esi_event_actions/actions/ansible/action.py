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
"""The ansible action plugin: its options checked, and each run prepared.

The generated inventory and the extra variables are made in
:mod:`inputs`, the options and their checks are in :mod:`options`, and
ansible-runner is run, and its result read, in :mod:`runner`.
"""

import os

from esi_event_actions.actions.ansible import inputs
from esi_event_actions.actions.ansible import jobdirs
from esi_event_actions.actions.ansible import options
from esi_event_actions.actions.ansible import runner
from esi_event_actions.actions import base
from esi_event_actions.actions import environ


class AnsibleAction(base.Action):
    """Run ``ansible-playbook`` through ansible-runner.

    Inventory: by default the run has a one-host inventory, generated per
    event, whose host is the event's node: named after ``node_name`` (or
    the node's uuid when the name is not a plain host name), in the group
    ``esi_node``.  Its variables are ``ansible_host``, the value at the
    ``host_path`` dot path when that is set and the value is there, and
    ``ansible_connection`` when ``connection`` is set (for ``local``, also
    ``ansible_python_interpreter``, so that modules run with the service's
    own Python).  With ``inventory`` the operator's inventory comes first
    and the generated one is added after it: a host of the same name gets
    its variables (``ansible_host``, ``ansible_user``...) from the
    operator's inventory unless the rule sets them, and other hosts may be
    targeted as well.  A playbook that acts on the node alone should use
    ``hosts: esi_node`` (or the rule ``limit = esi_node``), since ``hosts:
    all`` also means every host of the operator's inventory.

    Extra variables: ``esi_event`` (the whole event, as a script receives
    it on standard input), ``esi_params`` ({dot path: text} for
    ``params``), ``esi_rule``, ``esi_attempt``, ``esi_context`` (the
    lease's context as the job started), and one variable per
    ``extra_vars`` entry holding the raw JSON value at its dot path (null
    when missing).  Every string in them that could hold a template is
    marked ``!unsafe``, so a value chosen by a lessee (a lease name such as
    ``{{ lookup('pipe', ...) }}``) is never rendered as one.

    Each job attempt has its own ansible-runner private data directory,
    ``<private_data_dir>/<rule>/<rule>-<event id>-<attempt>``, holding the
    extra variables, the generated inventory and the artifacts (the command
    with its environment, its status and exit status, as ansible-runner
    writes them); only the newest ``keep_artifacts`` of each rule are kept.
    Neither the output nor the events are written there: only the end of
    the output is kept, in memory, as it is read.  The environment is the
    allow-list of :mod:`esi_event_actions.actions.environ` and
    ansible-runner's own variables: nothing else of the service's
    environment reaches the playbook or the disk.
    These directories are private to the service's user.  The playbook
    runs in its own directory, so an ``ansible.cfg`` beside it applies.

    The playbook sets keys of the lease's context with ``set_stats``
    (``data: {esi_context: {...}}``, not per host): they are read from the
    run's statistics, whatever its exit status.

    Exit status 0 is success.  A timeout, an unreachable host or a failed
    task (named in the job's detail) is worth another attempt; so is any
    other non-zero status, since the playbook may be fixed in between.  A
    playbook missing at run time fails the job for good.
    """

    required = options.REQUIRED
    opts = options.OPTS

    def __init__(self, rule):
        super().__init__(rule)
        self.playbook = None
        self.inventory_path = None
        self.data_dir = None
        self.jobs = None
        self._environ = {}

    # Configuration.

    def validate(self):
        self._check('action', runner.check_installed)
        opts = self.options
        self.playbook = self._check('playbook', options.playbook,
                                    self.resolve_path('playbook'))
        if opts.inventory:
            self.inventory_path = self._check(
                'inventory', options.inventory,
                self.resolve_path('inventory'))
        if opts.host_path is not None:
            self._check('host_path', options.dot_path, opts.host_path)
        if opts.connection is not None:
            self._check('connection', options.connection, opts.connection)
        self._check('extra_vars', inputs.check_extra_vars, opts.extra_vars)
        names = opts.environment or []
        self._check('environment', environ.check, names)
        # Taken once, as the script action does.
        self._environ = environ.allowed(names)
        self.data_dir = self._check('private_data_dir', options.data_dir,
                                    self._data_dir())
        self.jobs = jobdirs.JobDirs(self.data_dir, self.context.name,
                                    opts.keep_artifacts)

    def _check(self, key, check, *args):
        """``check(*args)``, its ValueError reported at ``key``."""
        try:
            return check(*args)
        except ValueError as exc:
            raise self.error(key, str(exc))

    def _data_dir(self):
        if self.options.private_data_dir:
            return self.resolve_path('private_data_dir')
        return os.path.join(self.context.state_path, 'ansible')

    def describe(self):
        parts = ['ansible', self.playbook]
        if self.inventory_path:
            parts.append('inventory=%s' % self.inventory_path)
        if self.options.limit:
            parts.append('limit=%s' % self.options.limit)
        names = list(self.options.extra_vars) + [
            '<%s>' % p for p in self.param_paths()]
        if names:
            parts.append('vars=%s' % ','.join(names))
        return ' '.join(parts)

    # What one run receives.

    def inventory(self, event):
        """The generated inventory (a dict), or None without a node.

        :raises ValueError: the address at ``host_path`` is not a host
            name or an IP address.
        """
        return inputs.inventory(event, self.options.host_path,
                                self.options.connection)

    def extra_vars(self, event, params, attempt):
        """The extra variables of one run: {name: JSON-able value}."""
        reserved = {'esi_event': event.to_dict(),
                    'esi_params': self.named_params(params),
                    'esi_rule': self.context.name,
                    'esi_attempt': attempt,
                    'esi_context': event.context or {}}
        return inputs.extra_vars(event, reserved, self.options.extra_vars)

    def preview(self, event, params, attempt=1):
        try:
            inventory = self.inventory(event)
        except ValueError as exc:
            inventory = 'refused: %s' % exc
        return {'playbook': self.playbook,
                'inventory': self.inventory_path or inventory,
                'generated_inventory': inventory,
                'limit': self.options.limit,
                'extra_vars': self.extra_vars(event, params, attempt),
                'timeout': self.options.playbook_timeout}

    def environ(self):
        """The environment of ansible-playbook, but for ansible-runner's."""
        return runner.environment(self._environ)

    # Running.

    def run(self, event, params, attempt=1):
        if not os.path.isfile(self.playbook):
            return base.Result(base.FAILURE, 'no such playbook: %s'
                               % self.playbook)
        if runner.ansible_runner is None:
            return base.Result(base.FAILURE, 'ansible-runner is not '
                               'installed')
        try:
            inventory = self.inventory(event)
        except ValueError as exc:
            return base.Result(base.FAILURE, str(exc))
        if inventory is None and not self.inventory_path:
            return base.Result(base.FAILURE, 'the event names no node to '
                               'make an inventory of, and the rule has no '
                               'inventory')
        ident = jobdirs.job_ident(self.context.name, event.id, attempt)
        try:
            job_dir = self.jobs.new(ident)
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot make a job directory: '
                               '%s' % exc)
        try:
            return self._run(job_dir, inventory,
                             self.extra_vars(event, params, attempt))
        finally:
            self.jobs.release(job_dir)
            self.jobs.prune()

    def _run(self, job_dir, inventory, variables):
        inventories = [self.inventory_path] if self.inventory_path else []
        try:
            generated = jobdirs.write_inputs(job_dir, variables, inventory,
                                             runner.SETTINGS)
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot write the job\'s '
                               'inputs: %s' % exc)
        if generated is not None:
            inventories.append(generated)
        return runner.run(job_dir, self.playbook, inventories,
                          self.options.limit, self.environ(),
                          self.options.playbook_timeout,
                          self.context.output_limit)
