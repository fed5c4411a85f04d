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
"""The keystoneauth options of a group that reaches an OpenStack API.

No group of its own: ``[esi_leap]`` and ``[email_keystone]`` each have
the usual session, auth and adapter options, with defaults of their own.
"""

from keystoneauth1 import loading as ks_loading


def register(conf, group, defaults):
    """Register ``group`` (an OptGroup) with ``defaults`` on ``conf``."""
    conf.register_group(group)
    ks_loading.register_session_conf_options(conf, group.name)
    ks_loading.register_auth_conf_options(conf, group.name)
    ks_loading.register_adapter_conf_options(conf, group.name)
    for key, value in defaults.items():
        conf.set_default(key, value, group=group.name)


def list_opts(defaults):
    """The options, as the sample shows them: the two usual auth types."""
    opts = (ks_loading.get_session_conf_options() +
            ks_loading.get_auth_common_conf_options() +
            ks_loading.get_auth_plugin_conf_options('v3applicationcredential')
            + ks_loading.get_auth_plugin_conf_options('password') +
            ks_loading.get_adapter_conf_options(include_deprecated=False))
    unique = {}
    for opt in opts:
        unique.setdefault(opt.dest, opt)
    for opt in unique.values():
        # keystoneauth makes new Opt objects on each call: another group's
        # keep their own defaults.
        if opt.dest in defaults:
            opt.default = defaults[opt.dest]
    return list(unique.values())
