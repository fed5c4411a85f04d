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
"""The environment of the processes an action starts: an allow-list.

The service's own environment may hold its secrets (``OS_PASSWORD``,
``PGPASSWORD``, a transport URL with a password...).  A script or a
playbook, and ansible-runner's artifacts, receive only the variables
below, the ``ESI_*`` ones the action sets, and those a rule names in its
``environment`` option.
"""

import os
import re

from oslo_config import cfg

from esi_event_actions import optiontypes as types

#: Variables every action's process receives, when the service has them.
ALWAYS = frozenset(['PATH', 'LANG', 'TZ', 'HOME'])
#: Prefixes of variables passed as well: the locale settings.
PREFIXES = ('LC_',)
#: Variables under this prefix are the action's own.
RESERVED_PREFIX = 'ESI_'

_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')

OPT = cfg.Opt(
    'environment', type=types.List(item_type=types.String()), default=[],
    help='Names of variables of the service\'s environment passed to the '
         'action\'s processes, besides PATH, LANG, LC_*, TZ and HOME. A '
         'variable the service does not have is left out.')


def check(names):
    """Raise ValueError unless ``names`` are variable names to pass on."""
    for name in names:
        if not _NAME.match(name):
            raise ValueError('%r is not a variable name' % name)
        if name.startswith(RESERVED_PREFIX):
            raise ValueError('%s is set by the action itself' % name)


def allowed(names=(), source=None):
    """The variables of ``source`` (the service's) an action may see.

    :param names: more variable names to pass on, checked by :func:`check`.
    :param source: a mapping; the service's environment by default.
    """
    source = os.environ if source is None else source
    wanted = ALWAYS.union(names)
    return {name: value for name, value in source.items()
            if name in wanted or name.startswith(PREFIXES)}
