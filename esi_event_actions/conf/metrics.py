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
"""[metrics] options: the Prometheus endpoint and /healthz."""

from oslo_config import cfg

from esi_event_actions import optiontypes as types

group = cfg.OptGroup('metrics', title='Metrics and health endpoint')

opts = [
    cfg.BoolOpt('enabled',
                default=False,
                help='Serve Prometheus metrics on /metrics and the health '
                     'check on /healthz. Needs the prometheus_client '
                     'library (esi-event-actions[metrics]).'),
    cfg.HostAddressOpt('bind_host',
                       default='127.0.0.1',
                       help='Address to serve on. The metrics say which '
                            'nodes are leased: keep them off public '
                            'networks.'),
    cfg.PortOpt('port',
                default=9810,
                help='Port to serve on.'),
    cfg.Opt('expected_event_interval', type=types.Float(min=0, max=types.YEAR),
            default=0.0, mutable=True,
            help='Seconds within which at least one event is '
                 'expected. Exported as '
                 'esi_event_actions_expected_event_interval_seconds: '
                 'the EsiEventActionsNoEvents alert of the shipped '
                 'Prometheus rules fires when an instance has seen '
                 'no event for longer. 0: no expectation, the alert '
                 'stays off.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return opts
