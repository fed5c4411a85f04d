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
"""esi-event-actions-manage: operator commands."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions import config
from esi_event_actions import exception


def do_check_config(conf):
    """Load and validate everything; print each rule on one line."""
    try:
        ruleset = config.check(conf)
    except exception.ConfigErrors as exc:
        print('Configuration has %d error(s):' % len(exc.errors))
        for error in exc.errors:
            print('  %s' % error)
        return 1
    for rule in ruleset.rules:
        print(rule.summary())
    print('Configuration OK: %d rule(s)' % len(ruleset))
    return 0


def add_command_parsers(subparsers):
    parser = subparsers.add_parser(
        'check-config', help='Validate the configuration and list rules.')
    parser.set_defaults(func=do_check_config)


def main(argv=None):
    conf = cfg.CONF
    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', title='Commands', handler=add_command_parsers))
    try:
        config.parse_args(sys.argv[1:] if argv is None else argv, conf)
        logging.setup(conf, config.PROJECT)
    except cfg.Error as exc:
        sys.stderr.write('esi-event-actions-manage: %s\n' % exc)
        return 1
    return conf.command.func(conf)


if __name__ == '__main__':
    sys.exit(main())
