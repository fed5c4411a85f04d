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
"""Errors shared by the configuration, rules and actions."""


class ConfigError(Exception):
    """One thing wrong with the configuration, located for the operator."""

    def __init__(self, reason, section=None, key=None, filename=None):
        self.reason = reason
        self.section = section
        self.key = key
        self.filename = filename
        super().__init__(str(self))

    def __str__(self):
        where = []
        if self.filename:
            where.append(self.filename)
        if self.section:
            where.append('[%s]' % self.section)
        if self.key:
            where.append(self.key)
        prefix = ' '.join(where)
        return '%s: %s' % (prefix, self.reason) if prefix else self.reason


class ConfigErrors(Exception):
    """Every error found in one pass over the configuration."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__('\n'.join(str(e) for e in self.errors))
