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
"""What every command does first: parse and check the whole configuration.

Nothing starts before :func:`prepare` (or, for the manage commands,
:func:`parse_args` and :func:`check`) has found the configuration sound.
"""

import sys

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging
from oslo_messaging import opts as messaging_opts
from oslo_service import service

from esi_event_actions import conf as conf_pkg
from esi_event_actions.conf import legacy
from esi_event_actions.conf import locations
from esi_event_actions.conf import opts as conf_opts
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions import metrics
from esi_event_actions import ruleloader
from esi_event_actions import version

LOG = logging.getLogger(__name__)

PROJECT = 'esi-event-actions'


def register_messaging_opts(conf):
    """Register the libraries' options now, so they can be checked."""
    conf_opts.set_lib_defaults()
    for group, opts in messaging_opts.list_opts() + service.list_opts():
        conf.register_opts(opts, group=group)


def parse_args(argv, conf=cfg.CONF, default_config_files=None):
    """Register every option, then parse the command line and files."""
    conf_pkg.register_opts(conf)
    logging.register_options(conf)
    # alembic tells at INFO what it is about to do on every check of the
    # schema; the service and the db commands say what was done.
    logging.set_defaults(default_log_levels=(
        logging.get_default_log_levels() + ['alembic=WARN']))
    register_messaging_opts(conf)
    conf(argv, project=PROJECT, version=version.version_string(),
         default_config_files=default_config_files)


def _check_group(conf, sections, group, opts, errors):
    for opt in opts:
        try:
            locations.read(conf, sections, group, opt.dest)
        except exception.ConfigError as exc:
            errors.append(exc)


def check(conf=cfg.CONF):
    """Check every option and rule; return the RuleSet.

    :raises ConfigErrors: listing everything that is wrong.
    """
    errors = []
    sections = locations.scan(conf)
    for group, opts in conf_opts.service_opts():
        _check_group(conf, sections, getattr(group, 'name', group), opts,
                     errors)
    errors.extend(_check_metrics(conf, sections))
    try:
        ruleset = ruleloader.load(conf, sections)
    except exception.ConfigErrors as exc:
        errors.extend(exc.errors)
    if errors:
        raise exception.ConfigErrors(errors)
    return ruleset


def _check_metrics(conf, sections):
    try:
        enabled = conf.metrics.enabled
    except cfg.Error:
        return []  # reported with the group's other options
    if enabled and metrics.prometheus_client is None:
        return [exception.ConfigError(
            'metrics need prometheus_client, which is not installed '
            '(pip install esi-event-actions[metrics])', section='metrics',
            key='enabled',
            filename=sections.get('metrics', {}).get('enabled'))]
    return []


def notification_transport(conf):
    """The transport to consume from, legacy keys included."""
    return oslo_messaging.get_notification_transport(
        conf, url=legacy.transport_url(conf))


# Held for the life of the process: see journal.lock_instance().
_JOURNAL_LOCK = []


def prepare(prog, argv, conf):
    """Parse and check the configuration; the RuleSet, or None on error.

    Also takes the journal for this process, so that a second service on
    the same SQLite journal stops here rather than run jobs twice.
    """
    try:
        parse_args(sys.argv[1:] if argv is None else argv, conf)
        logging.setup(conf, PROJECT)
        ruleset = check(conf)
        journal.check_config(conf)
    except (exception.ConfigErrors, cfg.Error) as exc:
        config_error(prog, exc)
        return None
    try:
        _JOURNAL_LOCK.append(journal.lock_instance(conf.journal.connection))
    except journal.JournalError as exc:
        # Nothing in the configuration is wrong: another process runs.
        sys.stderr.write('%s: cannot start: %s\n' % (prog, exc))
        return None
    if not len(ruleset):
        LOG.warning('No rule is configured: events will be read and '
                    'acknowledged without any action')
    conf.log_opt_values(LOG, logging.DEBUG)
    return ruleset


def config_error(prog, exc):
    """Tell the operator what is wrong with the configuration."""
    sys.stderr.write('%s: configuration error:\n%s\n' % (prog, exc))
