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
"""esi-event-actions-manage: operator commands.

Each group of commands has its module:

``manage_rules``
    ``check-config``, ``test-rule`` and ``replay``.
``manage_journal``
    ``journal`` (list, show, rejected, retry, purge) and ``status``.
``manage_db``
    ``db``, the journal's schema.
``manage_timers``
    ``timers`` (list, cancel), the timed jobs.
``manage_context``
    ``context`` (show, set, unset, list), the leases' contexts.
``manage_common``
    What they share: the configuration check, the journal, the argparse
    types of numbers.
"""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions import bootstrap
from esi_event_actions.cmd import manage_context
from esi_event_actions.cmd import manage_db
from esi_event_actions.cmd import manage_journal
from esi_event_actions.cmd import manage_rules
from esi_event_actions.cmd import manage_timers


def add_command_parsers(subparsers):
    # In the order --help has always listed them.
    manage_rules.add_check_config_parser(subparsers)
    manage_journal.add_journal_parsers(subparsers)
    manage_rules.add_event_parsers(subparsers)
    manage_db.add_db_parsers(subparsers)
    manage_journal.add_status_parser(subparsers)
    manage_timers.add_timers_parsers(subparsers)
    manage_context.add_context_parsers(subparsers)


def main(argv=None, conf=None, setup_logging=True):
    conf = cfg.CONF if conf is None else conf
    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', title='Commands', handler=add_command_parsers))
    try:
        bootstrap.parse_args(sys.argv[1:] if argv is None else argv, conf,
                             default_config_files=None if argv is None else [])
        if setup_logging:
            logging.setup(conf, bootstrap.PROJECT)
    except cfg.Error as exc:
        sys.stderr.write('esi-event-actions-manage: %s\n' % exc)
        return 1
    return conf.command.func(conf)


if __name__ == '__main__':
    sys.exit(main())
