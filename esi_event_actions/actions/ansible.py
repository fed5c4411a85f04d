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
"""Run an Ansible playbook about the event's node with ansible-runner.

Needs the optional ``ansible`` extra (ansible-runner and ansible-core):
``pip install 'esi-event-actions[ansible]'``.  Without it this module still
imports, so that the other actions work, and a rule using it is rejected at
start.
"""

import ipaddress
import json
import keyword
import os
import re
import shutil
import signal
import sys
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions.conf import types
from esi_event_actions import event as event_mod

try:
    import ansible_runner
except ImportError:  # the optional "ansible" extra is not installed
    ansible_runner = None

LOG = logging.getLogger(__name__)

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
_UNSAFE_IDENT = re.compile(r'[^A-Za-z0-9_.-]')
# Everything but printable ASCII is written as an escape: YAML readers
# reject some control characters even inside quoted strings.
_NOT_PRINTABLE = re.compile(r'[^\x20-\x7e]')
_IDENT_MAX = 200
_OUTPUT_LIMIT = 4096
# Seconds ansible-playbook has to stop its workers after SIGTERM.
_TERM_GRACE = 10.0


def _yaml_escape(match):
    code = ord(match.group())
    return '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code


def _yaml_string(text):
    # A lone surrogate (possible in decoded JSON) cannot be written as
    # UTF-8 or escaped in YAML: make it U+FFFD; keep valid pairs whole.
    text = text.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')
    quoted = _NOT_PRINTABLE.sub(_yaml_escape,
                                json.dumps(text, ensure_ascii=False))
    # Every Jinja2 delimiter starts with "{".  Only such strings are
    # tagged: ansible-core 2.19 reads "!unsafe" values as if unquoted, so
    # "!unsafe '42'" would become a number.
    return '!unsafe ' + quoted if '{' in text else quoted


def unsafe_yaml(value):
    """``value`` as YAML text in which no string is a template.

    Ansible renders a Jinja2 template found in a variable's value when the
    variable is used, so a lease name such as ``{{ lookup('pipe', ...) }}``
    would run commands on this host.  Strings that could hold a template
    (dictionary keys too) are tagged ``!unsafe``, which makes Ansible
    treat them as plain text.  The text is JSON with tags, in one line of
    printable ASCII.
    """
    if isinstance(value, str):
        return _yaml_string(value)
    if isinstance(value, dict):
        return '{%s}' % ', '.join(
            '%s: %s' % (_yaml_string(str(k)), unsafe_yaml(v))
            for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return '[%s]' % ', '.join(unsafe_yaml(v) for v in value)
    return json.dumps(value)


def extra_vars_yaml(variables):
    """The ``-e @file`` text for {variable name: value}.

    Variable names stay plain: Ansible must see them as names.
    """
    return '{%s}\n' % ', '.join(
        '%s: %s' % (json.dumps(name), unsafe_yaml(value))
        for name, value in variables.items())


def safe_name(text):
    """``text`` made safe as one path component (and as a runner ident)."""
    return _UNSAFE_IDENT.sub('_', text).lstrip('.')[:_IDENT_MAX] or '_'


def job_ident(rule_name, event_id, attempt):
    """The name of one job attempt's directory."""
    return safe_name('%s-%s-%s' % (rule_name, event_id, attempt))


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


class _Watch:
    """Event handler and cancel callback of one ansible-runner run.

    It keeps what the job's detail needs, and enforces the timeout itself:
    ansible-runner's own timeout sends SIGKILL to ansible-playbook's
    process group only, while ansible-core's workers lead sessions of
    their own, so the task running at that moment (and whatever it
    started) would survive.  On SIGTERM ansible-playbook terminates its
    workers' process groups; SIGKILL follows if it has not ended in time.
    """

    def __init__(self, timeout, grace=_TERM_GRACE, clock=time.monotonic):
        self.timeout = timeout
        self.grace = grace
        self._clock = clock
        self._deadline = clock() + timeout
        self._term_sent = None
        self.timed_out = False
        self.pid = None
        self.failed = []
        self.stats = {}

    def __call__(self, runner_event):
        """ansible-runner's event handler."""
        if self.pid is None and isinstance(runner_event.get('pid'), int):
            # ansible-playbook's own pid: every event comes from it.
            self.pid = runner_event['pid']
        kind = runner_event.get('event')
        data = runner_event.get('event_data') or {}
        if kind == 'runner_on_failed' and not data.get('ignore_errors'):
            self.failed.append(('failed', data.get('task'),
                                data.get('host')))
        elif kind == 'runner_on_unreachable' and not data.get(
                'ignore_unreachable'):
            self.failed.append(('unreachable', data.get('task'),
                                data.get('host')))
        elif kind == 'playbook_on_stats':
            self.stats = data
        return True  # let ansible-runner keep the event in its artifacts

    def cancel(self):
        """ansible-runner's cancel callback: True to kill the run now."""
        now = self._clock()
        if now < self._deadline:
            return False
        self.timed_out = True
        if self.pid is None:
            return True
        if self._term_sent is None:
            self._term_sent = now
            try:
                os.kill(self.pid, signal.SIGTERM)
            except OSError:
                return True
            return False
        return now - self._term_sent >= self.grace

    def summary(self):
        """What went wrong, naming the task and host but no result."""
        if not self.failed:
            return ''
        # The last failure is the one that stopped the play; earlier ones
        # may have been rescued.
        how, task, host = self.failed[-1]
        if how == 'unreachable':
            text = 'host %s unreachable at task "%s"' % (host, task)
        else:
            text = 'task "%s" failed on %s' % (task, host)
        if len(self.failed) > 1:
            text += ' (and %d more)' % (len(self.failed) - 1)
        return text

    def counts(self):
        return ' '.join('%s=%d' % (key, sum((self.stats.get(key) or
                                             {}).values()))
                        for key in ('ok', 'changed'))


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
    extra variables, the generated inventory and the artifacts (output,
    events, and the command with its environment, as ansible-runner writes
    them); only the newest ``keep_artifacts`` of each rule are kept.
    These directories are private to the service's user.  The playbook
    runs in its own directory, so an ``ansible.cfg`` beside it applies.

    Exit status 0 is success.  A timeout, an unreachable host or a failed
    task (named in the job's detail) is worth another attempt; so is any
    other non-zero status, since the playbook may be fixed in between.  A
    playbook missing at run time fails the job for good.
    """

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
        cfg.Opt('playbook_timeout', type=types.Integer(min=1), default=1800,
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
    ]

    def __init__(self, rule):
        super().__init__(rule)
        self.playbook = None
        self.inventory_path = None
        self.data_dir = None
        self._active = set()
        self._lock = threading.Lock()

    # Configuration.

    def _conf(self):
        return self.rule.conf

    def validate(self):
        if ansible_runner is None:
            raise self.error('action', 'the ansible action needs '
                             'ansible-runner and ansible-core: install '
                             'esi-event-actions[ansible]')
        if not find_playbook_command():
            raise self.error('action', '%s is found neither next to %s nor '
                             'on PATH' % (PLAYBOOK_COMMAND, sys.executable))
        opts = self.options
        if not opts.playbook:
            raise self.error('playbook', 'the ansible action needs a '
                             'playbook')
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
        if opts.private_data_dir:
            data_dir = self.resolve_path('private_data_dir')
        else:
            data_dir = os.path.join(self._conf().state_path, 'ansible')
        if os.path.exists(data_dir) and not os.path.isdir(data_dir):
            raise self.error('private_data_dir', 'not a directory: %s'
                             % data_dir)
        self.data_dir = data_dir

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
            'esi_rule': self.rule.name,
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
        """Variables ansible-runner adds to the service's environment."""
        env = {'ANSIBLE_NOCOLOR': '1'}  # plain text in the journal
        command = find_playbook_command()
        if command:
            # ansible-runner runs "ansible-playbook" as found on PATH.
            env['PATH'] = os.pathsep.join(
                [os.path.dirname(command)] +
                [p for p in os.environ.get('PATH', os.defpath).split(
                    os.pathsep) if p])
        return env

    # Job directories.

    def rule_dir(self):
        return os.path.join(self.data_dir, safe_name(self.rule.name))

    def _new_job_dir(self, ident):
        rule_dir = self.rule_dir()
        os.makedirs(rule_dir, mode=0o700, exist_ok=True)
        # A directory left by an interrupted run of the same attempt (or
        # in use by another instance) is never reused.
        for number in range(1, 1000):
            name = ident if number == 1 else '%s.%d' % (ident, number)
            path = os.path.join(rule_dir, name)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            with self._lock:
                self._active.add(path)
            return path
        raise FileExistsError('no free job directory for %s' % ident)

    def prune(self):
        """Delete the job directories of this rule beyond keep_artifacts.

        Directories of runs still going on in this process are kept.  A
        failure is logged: it must not change the result of the job.
        """
        # One pruning at a time, or one could stat what another deletes.
        with self._lock:
            try:
                self._prune(set(self._active))
            except OSError as exc:
                LOG.warning('Cannot prune the job directories of rule %s: '
                            '%s', self.rule.name, exc)

    def _prune(self, active):
        found = []
        try:
            entries = list(os.scandir(self.rule_dir()))
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
        for _mtime, _name, path in found[self.options.keep_artifacts:]:
            if path not in active:
                shutil.rmtree(path, ignore_errors=True)

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
        ident = job_ident(self.rule.name, event.id, attempt)
        try:
            job_dir = self._new_job_dir(ident)
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot make a job directory: '
                               '%s' % exc)
        try:
            return self._run(job_dir, inventory,
                             self.extra_vars(event, params, attempt))
        finally:
            with self._lock:
                self._active.discard(job_dir)
            self.prune()

    def _run(self, job_dir, inventory, variables):
        inventories = [self.inventory_path] if self.inventory_path else []
        try:
            env_dir = os.path.join(job_dir, 'env')
            os.mkdir(env_dir, 0o700)
            # Written here rather than passed to ansible-runner, which
            # would write plain JSON: see unsafe_yaml().
            self._write(os.path.join(env_dir, 'extravars'),
                        extra_vars_yaml(variables))
            if inventory is not None:
                path = os.path.join(job_dir, 'inventory.json')
                self._write(path, json.dumps(inventory, sort_keys=True))
                inventories.append(path)
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot write the job\'s '
                               'inputs: %s' % exc)
        watch = _Watch(self.options.playbook_timeout)
        LOG.debug('Running %s in %s', self.playbook, job_dir)
        try:
            runner = ansible_runner.run(
                private_data_dir=job_dir, ident=os.path.basename(job_dir),
                playbook=self.playbook,
                project_dir=os.path.dirname(self.playbook),
                inventory=inventories, limit=self.options.limit or None,
                envvars=self.environ(), quiet=True,
                # Plain text output for the journal; the events are read
                # by the event handler.
                json_mode=False,
                settings={'suppress_ansible_output': True,
                          # How often the cancel callback is called.
                          'pexpect_timeout': 1},
                # Also keeps ansible-runner from taking over SIGTERM and
                # SIGINT when it runs on the main thread.
                cancel_callback=watch.cancel,
                event_handler=watch)
        except (OSError, ansible_runner.AnsibleRunnerException) as exc:
            return base.Result(base.RETRY, 'ansible-runner failed: %s'
                               % exc)
        return self._result(runner, watch)

    @staticmethod
    def _write(path, text):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)

    def _result(self, runner, watch):
        output = self._output(runner)
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

    def _output(self, runner):
        """The end of what ansible-playbook printed, whole lines."""
        try:
            with runner.stdout as f:
                text = f.read()
        except (OSError, ansible_runner.AnsibleRunnerException):
            return ''
        text = text.replace('\r\n', '\n')
        limit = getattr(getattr(self._conf(), 'worker', None),
                        'output_limit', None) or _OUTPUT_LIMIT
        if len(text) > limit:
            text = text[-limit:]
            text = text[text.find('\n') + 1:] or text
        return text

    @staticmethod
    def _error_line(output):
        for line in output.splitlines():
            if line.startswith(('[ERROR]', 'ERROR!')):
                return line.strip()[:200]
        return ''
