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
"""[email_keystone] options: how the email action reaches Keystone.

The email action finds a lessee's address in Keystone: the project's
``email`` attribute, or the ``email`` of each user with a role on the
project.  Reading role assignments and other users needs more than a
lessee's rights, so the service has credentials of its own for it: the
usual keystoneauth session, auth and adapter options, as for
``[esi_leap]``, with the identity service as the default service type.
"""

from oslo_config import cfg

from esi_event_actions.conf import keystoneauth

#: The email action reads the group by this name; it may not import this
#: package, so it has its own copy, which a unit test holds equal.
GROUP = 'email_keystone'

SERVICE_TYPE = 'identity'
# The paths the action asks for (/projects/<id>...) are Identity v3's.
VERSION = '3'


def _group():
    return cfg.OptGroup(GROUP, title='Keystone, for the email action',
                        help='Authentication and endpoint of the Identity '
                             'API, where the email action looks up a '
                             'lessee project\'s email attribute or the '
                             'users with a role on it. Needs a user that '
                             'may read projects, role assignments and '
                             'users (the reader role, system scope).')


group = _group()


_DEFAULTS = {'service_type': SERVICE_TYPE, 'valid_interfaces': ['public'],
             'version': VERSION}


def register_opts(conf):
    # A group of its own for each ConfigOpts, as for [esi_leap].
    keystoneauth.register(conf, _group(), _DEFAULTS)


def list_opts():
    return keystoneauth.list_opts(_DEFAULTS)
