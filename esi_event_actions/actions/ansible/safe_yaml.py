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
"""YAML for Ansible in which no string taken from an event is a template."""

import json
import re

from esi_event_actions import safetext

# Everything but printable ASCII is written as an escape: YAML readers
# reject some control characters even inside quoted strings.
_NOT_PRINTABLE = re.compile(r'[^\x20-\x7e]')


def _yaml_escape(match):
    code = ord(match.group())
    return '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code


def _yaml_string(text):
    # A lone surrogate (possible in decoded JSON) cannot be written as
    # UTF-8 or escaped in YAML: make it U+FFFD; keep valid pairs whole.
    text = text.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')
    quoted = _NOT_PRINTABLE.sub(_yaml_escape,
                                json.dumps(text, ensure_ascii=False))
    # Every Jinja2 delimiter starts with "{".  Only such strings are
    # tagged: ansible-core 2.19 reads "!unsafe" values as if unquoted, so
    # "!unsafe '42'" would become a number.
    return '!unsafe ' + quoted if '{' in text else quoted


def unsafe_yaml(value):
    """``value`` as YAML text in which no string is a template.

    Ansible renders a Jinja2 template found in a variable's value when the
    variable is used, so a lease name such as ``{{ lookup('pipe', ...) }}``
    would run commands on this host.  Strings that could hold a template
    (dictionary keys too) are tagged ``!unsafe``, which makes Ansible
    treat them as plain text.  The text is JSON with tags, in one line of
    printable ASCII.
    """
    if isinstance(value, str):
        return _yaml_string(value)
    if isinstance(value, dict):
        return '{%s}' % ', '.join(
            '%s: %s' % (_yaml_string(str(k)), unsafe_yaml(v))
            for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return '[%s]' % ', '.join(unsafe_yaml(v) for v in value)
    if isinstance(value, float):
        return _yaml_float(value)
    return json.dumps(value)


def _yaml_float(value):
    # Strict JSON: NaN and the infinities are written as strings.
    text = safetext.dumps(value)
    mantissa, exp, power = text.partition('e')
    if exp and '.' not in mantissa:
        # YAML 1.1, as Ansible reads it, takes 1e+300 for a string.
        text = '%s.0e%s' % (mantissa, power)
    return text


def extra_vars_yaml(variables):
    """The ``-e @file`` text for {variable name: value}.

    Variable names stay plain: Ansible must see them as names.
    """
    return '{%s}\n' % ', '.join(
        '%s: %s' % (json.dumps(name), unsafe_yaml(value))
        for name, value in variables.items())
