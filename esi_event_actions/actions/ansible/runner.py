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
"""One ansible-playbook run through ansible-runner, and its result.

ansible-runner is optional (the ``ansible`` extra): without it this
module still imports, and :data:`ansible_runner` is None.
"""

import os
import shutil
import sys

from oslo_log import log as logging

from esi_event_actions.actions.ansible import output
from esi_event_actions.actions.ansible import watchdog
from esi_event_actions.actions import base
from esi_event_actions.actions import context_io

try:
    import ansible_runner
except ImportError:  # the optional "ansible" extra is not installed
    ansible_runner = None

# The package's name, which this action's log lines have always carried
# and operators may have set levels for.
LOG = logging.getLogger(__package__)

PLAYBOOK_COMMAND = 'ansible-playbook'

#: The ``set_stats`` key whose value is the context updates.
CONTEXT_STATS = 'esi_context'

#: ansible-runner's settings (env/settings) of every run.
SETTINGS = {
    'suppress_ansible_output': True,
    # No artifacts/<ident>/stdout: the event handler keeps the end.
    'suppress_output_file': True,
    # How often the cancel callback is called.
    'pexpect_timeout': 1,
}

_ERROR_PREFIXES = ('[ERROR]', 'ERROR!')
_ERROR_LINE_LIMIT = 200


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


def check_installed():
    """Raise ValueError unless ansible-runner and ansible-playbook are."""
    if ansible_runner is None:
        raise ValueError('the ansible action needs ansible-runner and '
                         'ansible-core: install esi-event-actions[ansible]')
    if not find_playbook_command():
        raise ValueError('%s is found neither next to %s nor on PATH'
                         % (PLAYBOOK_COMMAND, sys.executable))


def environment(allowed):
    """The environment of ansible-playbook, but for ansible-runner's.

    :param allowed: what the action passes on of the service's.
    """
    env = dict(allowed)
    env['ANSIBLE_NOCOLOR'] = '1'  # plain text in the journal
    env.update(output.EVENT_DATA_ENV)
    command = find_playbook_command()
    if command:
        # ansible-runner runs "ansible-playbook" as found on PATH.
        env['PATH'] = os.pathsep.join(
            [os.path.dirname(command)] +
            [p for p in env.get('PATH', os.defpath).split(os.pathsep) if p])
    return env


def run(job_dir, playbook, inventories, limit, env, timeout,
        output_limit=None):
    """Run ``playbook`` in ``job_dir``, whose inputs are written: a Result.

    :param inventories: the inventory paths, in order.
    :param limit: the host pattern limiting the run, or None.
    :param env: the whole environment of ansible-playbook.
    :param timeout: seconds the playbook may run.
    :param output_limit: characters of the end of the output kept.
    """
    watch = watchdog.Watch(
        timeout, output_limit=output_limit or watchdog.OUTPUT_LIMIT)
    LOG.debug('Running %s in %s', playbook, job_dir)
    try:
        runner = ansible_runner.interface.init_runner(
            private_data_dir=job_dir, ident=os.path.basename(job_dir),
            playbook=playbook, project_dir=os.path.dirname(playbook),
            inventory=inventories, limit=limit or None,
            envvars=env, quiet=True,
            # Nothing of the environment in env/envvars.
            suppress_env_files=True,
            # Plain text output for the journal; the events are read by
            # the event handler, which keeps the end of it.
            json_mode=False,
            passwords=dict(output.DRAIN_PATTERNS),
            # Also keeps ansible-runner from taking over SIGTERM and
            # SIGINT when it runs on the main thread.
            cancel_callback=watch.cancel,
            event_handler=watch)
        _confine(runner.config, env)
        runner.run()
    except (OSError, ansible_runner.AnsibleRunnerException) as exc:
        return base.Result(base.RETRY, 'ansible-runner failed: %s' % exc)
    finally:
        watch.finish()
    return context_io.with_updates(_result(runner, watch),
                                   lambda: _context(watch.stats))


def _context(stats):
    """The updates a playbook gave with ``set_stats``, or None."""
    data = stats.get('artifact_data')
    if not isinstance(data, dict):
        return None
    return context_io.checked(data.get(CONTEXT_STATS),
                              'set_stats ' + CONTEXT_STATS)


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


def _result(runner, watch):
    """The Result of a run that ansible-runner saw to its end."""
    text = watch.output.text()
    rc = runner.rc
    if watch.timed_out or runner.status == 'timeout':
        return base.Result(base.RETRY, 'timed out after %ss'
                           % watch.timeout, rc, text)
    if rc == 0 and runner.status == 'successful':
        return base.Result(base.SUCCESS, 'exit status 0: %s'
                           % watch.counts(), 0, text)
    detail = 'exit status %s' % rc
    why = watch.summary() or _error_line(text)
    if why:
        detail += ': ' + why
    # Even a status no failure explains may be a playbook fixed meanwhile.
    return base.Result(base.RETRY, detail, rc, text)


def _error_line(text):
    for line in text.splitlines():
        if line.startswith(_ERROR_PREFIXES):
            return line.strip()[:_ERROR_LINE_LIMIT]
    return ''
