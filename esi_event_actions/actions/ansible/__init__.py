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
``pip install 'esi-event-actions[ansible]'``.  Without it this package
still imports, so that the other actions work, and a rule using it is
rejected at start.

Its modules:

``action``
    :class:`AnsibleAction`, the plugin: it checks its options and
    prepares each run.
``options``
    The options, and the checks of their values.
``inputs``
    What a run receives: the generated inventory of the event's node and
    the extra variables.
``runner``
    One run through ansible-runner, its environment and its result.
``safe_yaml``
    The extra variables file, written so that no string from the event is
    ever rendered as a Jinja2 template.
``watchdog``
    ansible-runner's event handler and cancel callback: the failures the
    job's detail names, and the timeout, enforced on ansible-playbook and
    its workers.
``jobdirs``
    Each job attempt's private data directory: its name, its inputs, and
    the pruning of old ones.
``output``
    The end of the output, all that is kept of it.
"""

from esi_event_actions.actions.ansible import action

# The entry point (setup.cfg) and the configuration reference name it here.
AnsibleAction = action.AnsibleAction

__all__ = ['AnsibleAction']
