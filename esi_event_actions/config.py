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
"""Load and check the whole configuration before anything starts."""

import urllib.parse

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging
from oslo_messaging import opts as messaging_opts
from oslo_service import service

from esi_event_actions import conf as conf_pkg
from esi_event_actions.conf import opts as conf_opts
from esi_event_actions import configfiles
from esi_event_actions import exception
from esi_event_actions import journal
from esi_event_actions import metrics
from esi_event_actions import rules
from esi_event_actions import version

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
            configfiles.read(conf, sections, group, opt.dest)
        except exception.ConfigError as exc:
            errors.append(exc)


def check(conf=cfg.CONF):
    """Check every option and rule; return the RuleSet.

    :raises ConfigErrors: listing everything that is wrong.
    """
    errors = []
    sections = configfiles.scan(conf)
    for group, opts in conf_opts.service_opts():
        _check_group(conf, sections, getattr(group, 'name', group), opts,
                     errors)
    errors.extend(_check_metrics(conf, sections))
    try:
        ruleset = rules.load(conf, sections)
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


def check_journal(conf, lock=False):
    """Open the journal once: its URL, schema version and reachability.

    :param lock: also take the journal for this process (see
        :func:`journal.lock_instance`) and return the lock.
    :raises ConfigErrors: naming the [journal] connection option.
    """
    try:
        journal.Journal(conf.journal.connection,
                        conf.journal.sqlite_synchronous).close()
        if lock:
            return journal.lock_instance(conf.journal.connection)
    except Exception as exc:
        raise exception.ConfigErrors([exception.ConfigError(
            'cannot open the journal: %s' % exc, section='journal',
            key='connection')])


def _is_set(conf, name, group=None):
    """Whether an option was given, rather than left at its default."""
    location = conf.get_location(name, group)
    if location is None:
        # oslo.config cannot locate a value that was never set anywhere.
        return bool((conf[group] if group else conf)[name])
    return location.location not in (cfg.Locations.opt_default,
                                     cfg.Locations.set_default)


def legacy_transport_url(conf):
    """A transport URL from the legacy user/password/host/port keys.

    Used only when no transport URL is configured, so a file written for
    the original listener connects where it always did.
    """
    if (_is_set(conf, 'transport_url', 'oslo_messaging_notifications')
            or _is_set(conf, 'transport_url') or not conf.host):
        return None
    quote = urllib.parse.quote
    auth = ''
    if conf.user:
        auth = quote(conf.user, safe='')
        if conf.password:
            auth += ':' + quote(conf.password, safe='')
        auth += '@'
    host = conf.host
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host
    port = ':%d' % conf.port if conf.port else ''
    return 'rabbit://%s%s%s/' % (auth, host, port)


def notification_transport(conf):
    return oslo_messaging.get_notification_transport(
        conf, url=legacy_transport_url(conf))
