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
"""Where each section and key of the configuration was written.

oslo.config answers "which file set this value" for registered options only.
Rules live in sections nobody registered in advance, so the files are read
once more here to find rule sections, their keys and their files.
"""

import glob
import os

from oslo_config import cfg

from esi_event_actions import exception


def config_files(conf):
    """The files oslo.config parsed, in the order it parsed them."""
    files = [os.path.abspath(f) for f in conf.config_file or []]
    for directory in conf.config_dir or []:
        pattern = os.path.join(os.path.expanduser(directory), '*.conf')
        files.extend(sorted(os.path.abspath(f)
                            for f in glob.glob(pattern)))
    return files


def scan(conf):
    """Map each section to {key: file that last set it}."""
    sections = {}
    for filename in config_files(conf):
        parsed = {}
        cfg.ConfigParser(filename, parsed).parse()
        for section, keys in parsed.items():
            found = sections.setdefault(section, {})
            for key in keys:
                found[key] = filename
    return sections


def read(conf, sections, section, key):
    """The value of an option, or a ConfigError naming where it is wrong.

    :param sections: the result of :func:`scan`.
    """
    try:
        return (conf if section == 'DEFAULT' else conf[section])[key]
    except cfg.ConfigFileValueError as exc:
        # oslo.config's message leads with its internal location object;
        # keep only the reason, and name the file from the scan instead.
        reason = str(getattr(exc, 'msg', exc)).split(' is not valid: ')[-1]
        raise exception.ConfigError(
            reason, section=section, key=key,
            filename=sections.get(section, {}).get(key))
