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
"""Configuration files and playbooks that several test modules use."""

# The "Monitoring RabbitMQ" example of the original user document, verbatim,
# including its inline comments and the stray brace in [delete].
SEED = '''\
# used to connect to RabbitMQ and monitor specific queues
[DEFAULT]
user = <user in transport_url>
password = <password in transport_url>
host = <host in transport_url>
port = <port in transport_url>
queues = esi_leap_versioned_notifications.info,esi_leap_versioned_notifications.error

# a section that specifies a script to run whenever the specified event is caught
[fulfill]
events = esi_leap.lease.fulfill.end
script = fulfill.sh
script_params = node_name,fulfill_time                           # values from the event payload to be passed into the script
filter_params = {"purpose": "test", "properties.vendor": "foo"}  # filters on the event payload that must be fulfilled for the script to run

# a section that specifies a script to run whenever the specified event is caught
[delete]
events = esi_leap.lease.delete.end
script = delete.sh
script_params = node_name,expire_time                             # values from the event payload to be passed into the script
filter_params = {"purpose": "test", "properties.vendor": "foo"}}  # filters on the event payload that must be fulfilled for the script to run
'''  # noqa: E501

SEED_FIXED = SEED.replace('<port in transport_url>', '5672').replace(
    '"foo"}}', '"foo"}')

# Writes what the playbook received next to itself, as JSON.
DUMP_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Write what the playbook received
      ansible.builtin.copy:
        dest: "{{ playbook_dir }}/received.json"
        content: "{{ {'esi_event': esi_event, 'esi_params': esi_params,
                      'esi_rule': esi_rule, 'esi_attempt': esi_attempt,
                      'vendor': vendor, 'cpus': cpus, 'nope': nope,
                      'host': inventory_hostname,
                      'connection': ansible_connection} | to_json }}"
'''

FAIL_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Tolerated failure
      ansible.builtin.command: /bin/false
      ignore_errors: true
    - name: Fail on purpose
      ansible.builtin.fail:
        msg: not this time
'''

ENV_PLAYBOOK = '''\
- hosts: esi_node
  gather_facts: false
  tasks:
    - name: Dump the environment
      ansible.builtin.shell: env > "{{ playbook_dir }}/env.txt"
'''

# Why a test that runs Ansible skips.
ANSIBLE_MISSING = ('the optional "ansible" extra (ansible-runner and '
                   'ansible-core) is not installed')
