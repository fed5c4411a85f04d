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
"""A keystoneauth adapter for esi-leap's API, from config or clouds.yaml."""

import os

from keystoneauth1 import adapter as adapter_mod
from keystoneauth1 import loading as ks_loading

from esi_event_actions.conf import esi_leap as esi_leap_conf


def configured(conf):
    """Whether ``conf`` or the environment says how to reach esi-leap.

    The service needs the API only to read leases again (timed rules);
    without an auth type, a cloud or an endpoint, it does without.
    """
    group = conf[esi_leap_conf.GROUP]
    return bool(group.auth_type or group.endpoint_override or
                getattr(conf, 'os_cloud', None) or
                os.environ.get('OS_CLOUD') or 'OS_AUTH_URL' in os.environ)


def adapter(conf):
    """An Adapter for the ``lease`` service.

    ``--os-cloud`` (or ``OS_CLOUD``, or ``OS_AUTH_URL`` with no
    ``[esi_leap] auth_type``) uses clouds.yaml and the ``OS_*`` variables,
    as the ``openstack`` command does; otherwise the ``[esi_leap]``
    options.  With neither an auth type nor a cloud, requests go
    unauthenticated to ``[esi_leap] endpoint_override``.
    """
    group = esi_leap_conf.GROUP
    # --os-cloud is a command-line option of the poller alone.
    cloud = getattr(conf, 'os_cloud', None) or os.environ.get('OS_CLOUD')
    if cloud or (not conf[group].auth_type and 'OS_AUTH_URL' in os.environ):
        return _cloud_adapter(conf, cloud)
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    session = ks_loading.load_session_from_conf_options(conf, group,
                                                        auth=auth)
    return ks_loading.load_adapter_from_conf_options(conf, group,
                                                     session=session,
                                                     auth=auth)


def _cloud_adapter(conf, cloud):
    # Imported here: only tenants using clouds.yaml need openstacksdk.
    import openstack.config
    service = esi_leap_conf.SERVICE_TYPE
    region = openstack.config.OpenStackConfig().get_one(cloud=cloud)
    # A plain keystoneauth Adapter: openstacksdk's own clients need a whole
    # SDK Connection.
    return adapter_mod.Adapter(
        session=region.get_session(), service_type=service,
        interface=region.get_interface(service),
        region_name=region.get_region_name(service),
        endpoint_override=(conf[esi_leap_conf.GROUP].endpoint_override or
                           region.get_endpoint(service)))
