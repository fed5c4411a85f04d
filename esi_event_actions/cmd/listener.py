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
"""esi-event-actions: run actions on esi-leap lease notifications."""

import sys

from oslo_config import cfg

from esi_event_actions import bootstrap
from esi_event_actions import oslo_internals
from esi_event_actions import service as listener_service


def main(argv=None):
    conf = cfg.CONF
    ruleset = bootstrap.prepare('esi-event-actions', argv, conf)
    if ruleset is None:
        return 1
    try:
        oslo_internals.check(conf)
    except oslo_internals.UnsafeInternals as exc:
        sys.stderr.write('esi-event-actions: %s\n' % exc)
        return 1
    return listener_service.run(
        conf, listener_service.ListenerService(conf, ruleset),
        'esi-event-actions')


if __name__ == '__main__':
    sys.exit(main())
