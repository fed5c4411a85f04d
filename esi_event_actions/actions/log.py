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
"""Write one structured log line per event: the cheapest possible action."""

from oslo_config import cfg
from oslo_log import log as logging

from esi_event_actions.actions import base
from esi_event_actions import event as event_mod
from esi_event_actions import safetext

LOG = logging.getLogger(__name__)

_LEVELS = {'debug': LOG.debug, 'info': LOG.info, 'warning': LOG.warning}
_DEBUG = 'debug'
_HIDDEN = '***'


class LogAction(base.Action):
    """Log the event as one JSON line (rule, event, node, lease, params).

    Useful to watch what rules match before giving them a real action, and
    as the no-op action of the benchmark.

    The lease's context shows at ``log_level = debug`` only, whole: above
    it the values of ``context.*`` params are ``***``.  What an action
    made (a token, an address) is no business of an info log.
    """

    opts = [
        base.PARAMS_OPT,
        cfg.StrOpt('log_level', default='info',
                   choices=sorted(_LEVELS),
                   help='Level of the line logged.'),
    ]

    def describe(self):
        return 'log %s' % ','.join(self.param_paths() or ['(event)'])

    def line(self, event, params, attempt=1):
        fields = {
            'rule': self.context.name, 'event_type': event.event_type,
            'event_id': event.id, 'node': event.node, 'lease': event.lease,
            'attempt': attempt, 'params': self.named_params(params),
        }
        if self.options.log_level == _DEBUG:
            fields['context'] = event.context or {}
        else:
            prefix = event_mod.CONTEXT + '.'
            fields['params'] = {
                path: _HIDDEN if path.startswith(prefix) else value
                for path, value in fields['params'].items()}
        return safetext.dumps(fields, sort_keys=True)

    def preview(self, event, params, attempt=1):
        return {'level': self.options.log_level,
                'line': 'esi-event %s' % self.line(event, params, attempt)}

    def run(self, event, params, attempt=1):
        _LEVELS[self.options.log_level](
            'esi-event %s', self.line(event, params, attempt))
        return base.Result(base.SUCCESS, 'logged')
