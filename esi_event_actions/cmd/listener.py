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
from oslo_log import log as logging

from esi_event_actions import config
from esi_event_actions import exception
from esi_event_actions import oslo_internals
from esi_event_actions import service as listener_service

LOG = logging.getLogger(__name__)


# Held for the life of the process: see journal.lock_instance().
_JOURNAL_LOCK = []


def prepare(prog, argv, conf):
    """Parse and check the configuration; the RuleSet, or None on error.

    Also takes the journal for this process, so that a second service on
    the same SQLite journal stops here rather than run jobs twice.
    """
    try:
        config.parse_args(sys.argv[1:] if argv is None else argv, conf)
        logging.setup(conf, config.PROJECT)
        ruleset = config.check(conf)
        _JOURNAL_LOCK.append(config.check_journal(conf, lock=True))
    except (exception.ConfigErrors, cfg.Error) as exc:
        _config_error(prog, exc)
        return None
    if not len(ruleset):
        LOG.warning('No rule is configured: events will be read and '
                    'acknowledged without any action')
    conf.log_opt_values(LOG, logging.DEBUG)
    return ruleset


def main(argv=None):
    conf = cfg.CONF
    ruleset = prepare('esi-event-actions', argv, conf)
    if ruleset is None:
        return 1
    try:
        oslo_internals.check(conf)
    except oslo_internals.UnsafeInternals as exc:
        sys.stderr.write('esi-event-actions: %s\n' % exc)
        return 1
    return run(conf, listener_service.ListenerService(conf, ruleset),
               'esi-event-actions')


def run(conf, svc, prog):
    """Launch ``svc`` and wait for it; the exit status."""
    try:
        launcher = listener_service.launch(conf, svc)
    except exception.ConfigErrors as exc:
        _config_error(prog, exc)
        return 1
    return launcher.wait()


def _config_error(prog, exc):
    sys.stderr.write('%s: configuration error:\n%s\n' % (prog, exc))


if __name__ == '__main__':
    sys.exit(main())
