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
"""esi-event-actions-poller: act on esi-leap's event history (tenant mode)."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions import bootstrap
from esi_event_actions import esi_leap_client
from esi_event_actions import history
from esi_event_actions import pipeline as pipeline_mod
from esi_event_actions import service as services

LOG = logging.getLogger(__name__)

cli_opts = [
    cfg.StrOpt('os-cloud',
               help='Cloud in clouds.yaml to authenticate with, as for the '
                    'openstack command (default: $OS_CLOUD). Without it, '
                    'the [esi_leap] options are used.'),
    cfg.BoolOpt('once', default=False,
                help='Poll once, run the jobs that are due, and exit: for '
                     'cron.'),
]


def run_once(conf, ruleset, client):
    """One poll, then every job that can run now; the exit status."""
    pipeline = pipeline_mod.build(conf, ruleset, client=client)
    pipeline.start()
    try:
        history.HistoryPoller(client, pipeline, conf.poller).poll()
    except history.HistoryError as exc:
        LOG.error('Event history poll failed: %s', exc)
        return 1
    finally:
        pipeline.wait_idle()
        pipeline.stop()
        pipeline.close()
    return 0


def main(argv=None):
    conf = cfg.CONF
    conf.register_cli_opts(cli_opts)
    ruleset = bootstrap.prepare('esi-event-actions-poller', argv, conf)
    if ruleset is None:
        return 1
    client = history.HistoryClient(esi_leap_client.adapter(conf))
    if conf.once:
        return run_once(conf, ruleset, client)
    return services.run(conf, services.PollerService(
        conf, ruleset, client), 'esi-event-actions-poller')


if __name__ == '__main__':
    sys.exit(main())
