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
"""The ansible action's options, and the checks of their values.

Each check raises ValueError with the reason, which the action reports at
the option's key.
"""

import os
import re

from oslo_config import cfg

from esi_event_actions.actions import base
from esi_event_actions.actions import environ
from esi_event_actions import optiontypes as types

_CONNECTION = re.compile(r'[A-Za-z0-9_.]+\Z')

REQUIRED = ('playbook',)

OPTS = [
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


def _readable(path):
    if not os.access(path, os.R_OK):
        raise ValueError('not readable: %s' % path)
    return path


def playbook(path):
    """``path`` if it is a readable file."""
    if not os.path.isfile(path):
        raise ValueError('no such file: %s' % path)
    return _readable(path)


def inventory(path):
    """``path`` if it is readable: a file, a directory or a script."""
    if not os.path.exists(path):
        raise ValueError('no such file or directory: %s' % path)
    return _readable(path)


def dot_path(text):
    """``text`` if it is a dot path."""
    if not all(text.split('.')):
        raise ValueError('not a dot path: %r' % text)
    return text


def connection(name):
    """``name`` if it may name a connection plugin."""
    if not _CONNECTION.match(name):
        raise ValueError('not a connection plugin name: %r' % name)
    return name


def data_dir(path):
    """``path`` unless something other than a directory is there."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError('not a directory: %s' % path)
    return path
