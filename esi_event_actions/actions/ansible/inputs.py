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
"""What one run receives: the generated inventory and the extra variables.

Both are made of values from the event, which a lessee may choose: host
names and addresses are checked, and :mod:`safe_yaml` writes the extra
variables so that none of their strings is a template.
"""

import ipaddress
import keyword
import re

from esi_event_actions import event as event_mod

#: Group of the generated inventory that holds the event's node.
NODE_GROUP = 'esi_node'

#: Extra variables every run receives; extra_vars may not redefine them.
RESERVED_VARS = ('esi_event', 'esi_params', 'esi_rule', 'esi_attempt',
                 'esi_context')

# Ironic's rule for node names (letters, digits and -._~), which also keeps
# every host pattern character ([, :, !, &, *, commas...) out of a host
# name that comes from the event.
_HOST_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._~-]{0,254}\Z')
_DNS_NAME = re.compile(r'[A-Za-z0-9]([A-Za-z0-9._-]{0,252}[A-Za-z0-9])?\Z')
_VAR_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')

_LOCAL_CONNECTIONS = ('local', 'ansible.builtin.local')


def check_extra_vars(extra_vars):
    """Raise ValueError unless ``extra_vars`` maps names to dot paths."""
    for name, path in extra_vars.items():
        if not _VAR_NAME.match(name) or keyword.iskeyword(name):
            raise ValueError('%r is not a valid variable name' % name)
        if name in RESERVED_VARS:
            raise ValueError('%s is set by the action itself' % name)
        if not isinstance(path, str) or not all(path.split('.')):
            raise ValueError('the value of %s must be a dot path' % name)


def _is_host_address(value):
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_DNS_NAME.match(value))


def host_name(event):
    """The node's inventory host name, or None if the event has none."""
    name = event.data.get('node_name')
    if isinstance(name, str) and _HOST_NAME.match(name):
        return name
    node = event.node
    if node and _HOST_NAME.match(node):
        return node
    return None


def _host_address(event, host_path):
    """The text at ``host_path``, or None when it is missing or empty.

    :raises ValueError: it is not a host name or an IP address.
    """
    address = event.lookup(host_path)
    if address is event_mod.MISSING or address in (None, ''):
        return None
    address = event_mod.as_text(address)
    # Checked rather than marked unsafe: it must be a plain address
    # anyway, and inventory values are templates.
    if not _is_host_address(address):
        raise ValueError('%s: %r is not a host name or an IP address'
                         % (host_path, address[:64]))
    return address


def inventory(event, host_path=None, connection=None):
    """The generated inventory (a dict), or None without a node.

    :param host_path: dot path of the node's ``ansible_host``, if any.
    :param connection: the node's ``ansible_connection``, if any.
    :raises ValueError: the address at ``host_path`` is not a host name
        or an IP address.
    """
    name = host_name(event)
    if name is None:
        return None
    host_vars = {}
    address = _host_address(event, host_path) if host_path else None
    if address is not None:
        host_vars['ansible_host'] = address
    if connection:
        host_vars['ansible_connection'] = connection
        if connection in _LOCAL_CONNECTIONS:
            # Modules then run with the service's own Python.
            host_vars['ansible_python_interpreter'] = (
                '{{ ansible_playbook_python }}')
    return {NODE_GROUP: {'hosts': {name: host_vars}}}


def extra_vars(event, reserved, paths):
    """The extra variables of one run: {name: JSON-able value}.

    :param reserved: the values of :data:`RESERVED_VARS`, by name.
    :param paths: {variable name: dot path}; a missing value is None.
    """
    variables = dict(reserved)
    for name, path in paths.items():
        value = event.lookup(path)
        variables[name] = None if value is event_mod.MISSING else value
    return variables
