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
"""[esi_leap] options: how the tenant-mode poller reaches esi-leap's API.

The usual keystoneauth session, auth and adapter options, as every
OpenStack service has for the services it calls.  ``--os-cloud`` (or the
``OS_*`` environment variables) take their place for a tenant who already
has a clouds.yaml for the ``openstack`` command.
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = 'esi_leap'


def _group():
    return cfg.OptGroup(GROUP, title='esi-leap API options',
                        help='Authentication and endpoint of the esi-leap '
                             'API (service type "lease"), for the '
                             'tenant-mode poller.')


group = _group()

SERVICE_TYPE = 'lease'


def register_opts(conf):
    # A group of its own for each ConfigOpts: oslo.config keeps a group's
    # options on the OptGroup object, and keystoneauth adds the auth
    # plugin's options when it loads them.
    conf.register_group(_group())
    ks_loading.register_session_conf_options(conf, GROUP)
    ks_loading.register_auth_conf_options(conf, GROUP)
    ks_loading.register_adapter_conf_options(conf, GROUP)
    conf.set_default('service_type', SERVICE_TYPE, group=GROUP)
    conf.set_default('valid_interfaces', ['public'], group=GROUP)


def list_opts():
    opts = (ks_loading.get_session_conf_options() +
            ks_loading.get_auth_common_conf_options() +
            ks_loading.get_auth_plugin_conf_options('v3applicationcredential')
            + ks_loading.get_auth_plugin_conf_options('password') +
            ks_loading.get_adapter_conf_options(include_deprecated=False))
    unique = {}
    for opt in opts:
        unique.setdefault(opt.dest, opt)
    for opt in unique.values():
        if opt.dest == 'service_type':
            opt.default = SERVICE_TYPE
        if opt.dest == 'valid_interfaces':
            opt.default = ['public']
    return list(unique.values())
