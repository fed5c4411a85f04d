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
"""The reload hook on oslo.service's launcher."""

from oslo_log import log as logging

# The package's name, which this log line has always carried and
# operators may have set levels for.
LOG = logging.getLogger(__package__)


def on_reload(launcher, callback):
    """Have ``launcher`` call ``callback`` in its parent on SIGHUP.

    oslo.service offers no hook of its own for this: this registers one
    with the cotyledon manager behind its threading launcher.
    """
    manager = getattr(launcher, '_manager', None)
    register = getattr(manager, 'register_hooks', None)
    if register is None:
        LOG.warning('The reload guard on oslo.service is off (the launcher '
                    'has no _manager.register_hooks): SIGHUP restarts the '
                    'worker with the rules loaded at start')
        return False
    register(on_reload=callback)
    return True
