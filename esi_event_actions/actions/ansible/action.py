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
"""The ansible action plugin: options, the inputs of a run, and the run."""

import ipaddress
import keyword
import os
import re
import shutil
import sys

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions.actions.ansible import jobdirs
from esi_event_actions.actions.ansible import output as output_mod
from esi_event_actions.actions.ansible import watchdog
from esi_event_actions.actions import base
from esi_event_actions.actions import environ
from esi_event_actions import event as event_mod
from esi_event_actions import optiontypes as types

try:
    import ansible_runner
except ImportError:  # the optional "ansible" extra is not installed
    ansible_runner = None

# The package's name, which this action's log lines have always carried
# and operators may have set levels for.
LOG = logging.getLogger(__package__)

PLAYBOOK_COMMAND = 'ansible-playbook'

#: Group of the generated inventory that holds the event's node.
NODE_GROUP = 'esi_node'

#: Extra variables every run receives; extra_vars may not redefine them.
RESERVED_VARS = ('esi_event', 'esi_params', 'esi_rule', 'esi_attempt')

# Ironic's rule for node names (letters, digits and -._~), which also keeps
# every host pattern character ([, :, !, &, *, commas...) out of a host
# name that comes from the event.
_HOST_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._~-]{0,254}\Z')
_DNS_NAME = re.compile(r'[A-Za-z0-9]([A-Za-z0-9._-]{0,252}[A-Za-z0-9])?\Z')
_VAR_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
_CONNECTION = re.compile(r'[A-Za-z0-9_.]+\Z')
_OUTPUT_LIMIT = 4096

#: ansible-runner's settings (env/settings) of every run.
RUNNER_SETTINGS = {
    'suppress_ansible_output': True,
    # No artifacts/<ident>/stdout: the event handler keeps the end.
    'suppress_output_file': True,
    # How often the cancel callback is called.
    'pexpect_timeout': 1,
}


def find_playbook_command():
    """Full path of ansible-playbook, or None.

    The one installed next to the running Python comes first: a service
    run from a virtualenv usually does not have the virtualenv's bin on
    PATH, and the ansible-playbook found on PATH could belong to some
    other Python.
    """
    beside = os.path.join(os.path.dirname(sys.executable), PLAYBOOK_COMMAND)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which(PLAYBOOK_COMMAND)


def _is_host_address(value):
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_DNS_NAME.match(value))


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
    ``params``), ``esi_rule``, ``esi_attempt``, and one variable per
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

    Exit status 0 is success.  A timeout, an unreachable host or a failed
    task (named in the job's detail) is worth another attempt; so is any
    other non-zero status, since the playbook may be fixed in between.  A
    playbook missing at run time fails the job for good.
    """

    required = ('playbook',)
    opts = [
        cfg.Opt('playbook', type=types.String(),
                help='Playbook to run. A relative path is relative to the '
                     'directory of the file that sets it. Required.'),
        cfg.Opt('inventory', type=types.String(),
                help='Inventory (file, directory or script) to use besides '
                     'the generated one-host inventory of the event\'s '
                     'node. A relative path is relative to the directory '
                     'of the file that sets it.'),
        cfg.Opt('host_path', type=types.String(),
                help='Dot path in the lease payload of the node\'s address '
                     '(such as node_properties.ipmi_address), used as '
                     'ansible_host of the node. Unset: the operator\'s '
                     'inventory, or the node name, says how to reach it.'),
        cfg.Opt('connection', type=types.String(),
                help='ansible_connection of the node (local, ssh...). '
                     'Unset: Ansible\'s default or the inventory\'s.'),
        cfg.Opt('limit', type=types.String(),
                help='Host pattern limiting the run (ansible-playbook '
                     '--limit), such as esi_node.'),
        cfg.Opt('extra_vars', type=types.JSONObject(), default={},
                help='JSON object mapping extra variable names to dot '
                     'paths in the lease payload; each variable receives '
                     'the JSON value there, or null.'),
        base.PARAMS_OPT,
        cfg.Opt('playbook_timeout',
                type=types.Integer(min=1, max=types.DAY), default=1800,
                help='Seconds the playbook may run. Then ansible-playbook '
                     'is asked to stop its tasks (SIGTERM), and killed '
                     'with them 10 seconds later.'),
        cfg.Opt('private_data_dir', type=types.String(),
                help='Directory under which each job has its ansible-runner '
                     'private data directory (inputs and artifacts). '
                     'Default: $state_path/ansible.'),
        cfg.Opt('keep_artifacts', type=types.Integer(min=0), default=20,
                help='Job directories kept per rule, newest first; older '
                     'ones are deleted. 0 deletes each one after its run.'),
        environ.OPT,
    ]

    def __init__(self, rule):
        super().__init__(rule)
        self.playbook = None
        self.inventory_path = None
        self.data_dir = None
        self.jobs = None
        self._environ = {}

    # Configuration.

    def validate(self):
        if ansible_runner is None:
            raise self.error('action', 'the ansible action needs '
                             'ansible-runner and ansible-core: install '
                             'esi-event-actions[ansible]')
        if not find_playbook_command():
            raise self.error('action', '%s is found neither next to %s nor '
                             'on PATH' % (PLAYBOOK_COMMAND, sys.executable))
        opts = self.options
        self.playbook = self.resolve_path('playbook')
        if not os.path.isfile(self.playbook):
            raise self.error('playbook', 'no such file: %s' % self.playbook)
        if not os.access(self.playbook, os.R_OK):
            raise self.error('playbook', 'not readable: %s' % self.playbook)
        if opts.inventory:
            path = self.resolve_path('inventory')
            if not os.path.exists(path):
                raise self.error('inventory', 'no such file or directory: '
                                 '%s' % path)
            if not os.access(path, os.R_OK):
                raise self.error('inventory', 'not readable: %s' % path)
            self.inventory_path = path
        if opts.host_path is not None and not all(
                opts.host_path.split('.')):
            raise self.error('host_path', 'not a dot path: %r'
                             % opts.host_path)
        if opts.connection is not None and not _CONNECTION.match(
                opts.connection):
            raise self.error('connection', 'not a connection plugin name: '
                             '%r' % opts.connection)
        self._validate_extra_vars(opts.extra_vars)
        self._validate_environment(opts.environment or [])
        if opts.private_data_dir:
            data_dir = self.resolve_path('private_data_dir')
        else:
            data_dir = os.path.join(self.context.state_path, 'ansible')
        if os.path.exists(data_dir) and not os.path.isdir(data_dir):
            raise self.error('private_data_dir', 'not a directory: %s'
                             % data_dir)
        self.data_dir = data_dir
        self.jobs = jobdirs.JobDirs(data_dir, self.context.name,
                                    opts.keep_artifacts)

    def _validate_extra_vars(self, extra_vars):
        for name, path in extra_vars.items():
            if not _VAR_NAME.match(name) or keyword.iskeyword(name):
                raise self.error('extra_vars', '%r is not a valid variable '
                                 'name' % name)
            if name in RESERVED_VARS:
                raise self.error('extra_vars', '%s is set by the action '
                                 'itself' % name)
            if not isinstance(path, str) or not all(path.split('.')):
                raise self.error('extra_vars', 'the value of %s must be a '
                                 'dot path' % name)

    def _validate_environment(self, names):
        try:
            environ.check(names)
        except ValueError as exc:
            raise self.error('environment', str(exc))
        # Taken once, as the script action does.
        self._environ = environ.allowed(names)

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

    def host_name(self, event):
        """The node's inventory host name, or None if the event has none."""
        name = event.data.get('node_name')
        if isinstance(name, str) and _HOST_NAME.match(name):
            return name
        node = event.node
        if node and _HOST_NAME.match(node):
            return node
        return None

    def inventory(self, event):
        """The generated inventory (a dict), or None without a node.

        :raises ValueError: the address at ``host_path`` is not a host
            name or an IP address.
        """
        name = self.host_name(event)
        if name is None:
            return None
        host_vars = {}
        host_path = self.options.host_path
        if host_path:
            address = event.lookup(host_path)
            if address is not event_mod.MISSING and address not in (
                    None, ''):
                address = event_mod.as_text(address)
                # Checked rather than marked unsafe: it must be a plain
                # address anyway, and inventory values are templates.
                if not _is_host_address(address):
                    raise ValueError('%s: %r is not a host name or an IP '
                                     'address' % (host_path, address[:64]))
                host_vars['ansible_host'] = address
        connection = self.options.connection
        if connection:
            host_vars['ansible_connection'] = connection
            if connection in ('local', 'ansible.builtin.local'):
                host_vars['ansible_python_interpreter'] = (
                    '{{ ansible_playbook_python }}')
        return {NODE_GROUP: {'hosts': {name: host_vars}}}

    def extra_vars(self, event, params, attempt):
        """The extra variables of one run: {name: JSON-able value}."""
        variables = {
            'esi_event': event.to_dict(),
            'esi_params': self.named_params(params),
            'esi_rule': self.context.name,
            'esi_attempt': attempt,
        }
        for name, path in self.options.extra_vars.items():
            value = event.lookup(path)
            variables[name] = None if value is event_mod.MISSING else value
        return variables

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
        env = dict(self._environ)
        env['ANSIBLE_NOCOLOR'] = '1'  # plain text in the journal
        env.update(output_mod.EVENT_DATA_ENV)
        command = find_playbook_command()
        if command:
            # ansible-runner runs "ansible-playbook" as found on PATH.
            env['PATH'] = os.pathsep.join(
                [os.path.dirname(command)] +
                [p for p in env.get('PATH', os.defpath).split(os.pathsep)
                 if p])
        return env

    # Running.

    def run(self, event, params, attempt=1):
        if not os.path.isfile(self.playbook):
            return base.Result(base.FAILURE, 'no such playbook: %s'
                               % self.playbook)
        if ansible_runner is None:
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
                                             RUNNER_SETTINGS)
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot write the job\'s '
                               'inputs: %s' % exc)
        if generated is not None:
            inventories.append(generated)
        watch = watchdog.Watch(
            self.options.playbook_timeout,
            output_limit=self.context.output_limit or _OUTPUT_LIMIT)
        LOG.debug('Running %s in %s', self.playbook, job_dir)
        env = self.environ()
        try:
            runner = ansible_runner.interface.init_runner(
                private_data_dir=job_dir, ident=os.path.basename(job_dir),
                playbook=self.playbook,
                project_dir=os.path.dirname(self.playbook),
                inventory=inventories, limit=self.options.limit or None,
                envvars=env, quiet=True,
                # Nothing of the environment in env/envvars.
                suppress_env_files=True,
                # Plain text output for the journal; the events are read
                # by the event handler, which keeps the end of it.
                json_mode=False,
                passwords=dict(output_mod.DRAIN_PATTERNS),
                # Also keeps ansible-runner from taking over SIGTERM and
                # SIGINT when it runs on the main thread.
                cancel_callback=watch.cancel,
                event_handler=watch)
            _confine(runner.config, env)
            runner.run()
        except (OSError, ansible_runner.AnsibleRunnerException) as exc:
            return base.Result(base.RETRY, 'ansible-runner failed: %s'
                               % exc)
        finally:
            watch.finish()
        return self._result(runner, watch)

    def _result(self, runner, watch):
        output = watch.output.text()
        rc = runner.rc
        if watch.timed_out or runner.status == 'timeout':
            return base.Result(base.RETRY, 'timed out after %ss'
                               % watch.timeout, rc, output)
        if rc == 0 and runner.status == 'successful':
            return base.Result(base.SUCCESS, 'exit status 0: %s'
                               % watch.counts(), 0, output)
        detail = 'exit status %s' % rc
        why = watch.summary() or self._error_line(output)
        if why:
            detail += ': ' + why
        return base.Result(base.RETRY, detail, rc, output)

    @staticmethod
    def _error_line(output):
        for line in output.splitlines():
            if line.startswith(('[ERROR]', 'ERROR!')):
                return line.strip()[:200]
        return ''


def _confine(config, allowed):
    """Keep of the service's environment only what ``allowed`` holds.

    ansible-runner starts from a copy of the service's environment, which
    it passes to ansible-playbook and writes to ``artifacts/<ident>/
    command``; what it adds or changes itself (its callback plugin, the
    artifact directory...) stays.
    """
    service = os.environ
    config.env = {name: value for name, value in config.env.items()
                  if name in allowed or service.get(name) != value}
