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
"""An example action plugin: append a formatted line to a file."""

import os
import string
import threading

from oslo_config import cfg

from esi_event_actions.actions import base


class AppendFileAction(base.Action):
    """Append ``template``, filled from the event, to the file ``path``.

    Placeholders: ``{event_type}``, ``{event_id}``, ``{rule}``, ``{node}``,
    ``{lease}``, ``{attempt}`` and each of ``params`` by its last dot path
    segment (``node_properties.vendor`` is ``{vendor}``).
    """

    opts = [
        cfg.StrOpt('path', help='File to append to. Required.'),
        cfg.StrOpt('template', default='{event_type} {node} {lease}',
                   help='Line to write, with {placeholders}.'),
        base.PARAMS_OPT,
    ]

    _lock = threading.Lock()

    def _fields(self):
        fixed = {'event_type', 'event_id', 'rule', 'node', 'lease',
                 'attempt'}
        return fixed | {p.rsplit('.', 1)[-1] for p in self.param_paths()}

    def validate(self):
        if not self.options.path:
            raise self.error('path', 'the append_file action needs a path')
        if not os.path.isdir(os.path.dirname(os.path.abspath(
                self.options.path))):
            raise self.error('path', 'no such directory for %s'
                             % self.options.path)
        try:
            names = {field for _, field, _, _ in
                     string.Formatter().parse(self.options.template)
                     if field}
        except ValueError as exc:
            raise self.error('template', str(exc))
        unknown = names - self._fields()
        if unknown:
            raise self.error('template', 'unknown placeholder(s): %s'
                             % ', '.join(sorted(unknown)))

    def describe(self):
        return 'append_file %s' % self.options.path

    def run(self, event, params, attempt=1):
        values = {p.rsplit('.', 1)[-1]: v
                  for p, v in zip(self.param_paths(), params)}
        values.update(event_type=event.event_type, event_id=event.id,
                      rule=self.context.name, node=event.node or '',
                      lease=event.lease or '', attempt=attempt)
        line = self.options.template.format(**values).replace('\n', ' ')
        try:
            with self._lock, open(self.options.path, 'a') as f:
                f.write(line + '\n')
        except OSError as exc:
            return base.Result(base.RETRY, 'cannot write %s: %s'
                               % (self.options.path, exc))
        return base.Result(base.SUCCESS, 'appended to %s'
                           % self.options.path)
