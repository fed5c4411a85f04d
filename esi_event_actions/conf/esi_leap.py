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
"""[esi_leap] options: how the service reaches esi-leap's API.

The usual keystoneauth session, auth and adapter options, as every
OpenStack service has for the services it calls: the tenant-mode poller
reads the event history with them, and the service reads a timed job's
lease again when it falls due.  ``--os-cloud`` (or the
``OS_*`` environment variables) take their place for a tenant who already
has a clouds.yaml for the ``openstack`` command.
"""

from oslo_config import cfg

from esi_event_actions.conf import keystoneauth

GROUP = 'esi_leap'


def _group():
    return cfg.OptGroup(GROUP, title='esi-leap API options',
                        help='Authentication and endpoint of the esi-leap '
                             'API (service type "lease"), for the '
                             'tenant-mode poller, and for the service to '
                             'read a lease again when a timed job falls '
                             'due.')


group = _group()

SERVICE_TYPE = 'lease'
_DEFAULTS = {'service_type': SERVICE_TYPE, 'valid_interfaces': ['public']}


def register_opts(conf):
    # A group of its own for each ConfigOpts: oslo.config keeps a group's
    # options on the OptGroup object, and keystoneauth adds the auth
    # plugin's options when it loads them.
    keystoneauth.register(conf, _group(), _DEFAULTS)


def list_opts():
    return keystoneauth.list_opts(_DEFAULTS)
