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
"""The devstack plugin's phases, run under a stub of devstack's functions.

devstack sources ``devstack/settings`` once, then ``devstack/plugin.sh``
with the phase as arguments (``stack install``, ``stack post-config``,
``stack extra``, ``unstack``, ``clean``).  The stubs below stand in for the
devstack functions the plugin calls and record the calls; ``iniset`` and
``iniget`` really edit and read INI files.  ``check-config`` really runs,
so the written configuration must load and validate.
"""

import configparser
import os
import subprocess
import sys
import textwrap
import urllib.parse

from esi_event_actions.tests.common import base


# What devstack defines and the plugin uses.
STUBS = r'''
set -o errexit -o nounset -o pipefail

function trueorfalse {
    local default=$1
    local value=${!2:-}
    case "$value" in
        1|yes|Yes|YES|true|True|TRUE|on|On|ON) echo True ;;
        0|no|No|NO|false|False|FALSE|off|Off|OFF) echo False ;;
        *) echo "$default" ;;
    esac
}
function _record { printf '%s\n' "$*" >>"$CALLS"; }
function enable_service { ENABLED_SERVICES="$ENABLED_SERVICES,$1"; }
function is_service_enabled { [[ ",$ENABLED_SERVICES," == *",$1,"* ]]; }
function echo_summary { echo "$*"; }
function get_python_exec_prefix { echo "$STUB_BIN_DIR"; }
function setup_develop { _record setup_develop "$@"; }
function pip_install { _record pip_install "$@"; }
function run_process { _record run_process "$1" "$2"; }
function stop_process { _record stop_process "$@"; }
function die { echo "die: $*" >&2; exit 1; }
function sudo { "$@"; }
function iniset {
    if [[ "$1" == "-sudo" ]]; then shift; fi
    "$PYTHON" - "$@" <<'PYEOF'
import configparser, sys
path, section, key, value = sys.argv[1:]
parser = configparser.RawConfigParser()
parser.optionxform = str
parser.read(path)
if section != 'DEFAULT' and not parser.has_section(section):
    parser.add_section(section)
parser.set(section, key, value)
with open(path, 'w') as f:
    parser.write(f)
PYEOF
}
function iniget {
    "$PYTHON" - "$@" <<'PYEOF'
import configparser, sys
path, section, key = sys.argv[1:]
parser = configparser.RawConfigParser()
parser.read(path)
if parser.has_option(section, key):
    print(parser.get(section, key))
PYEOF
}
'''


class DevstackPluginTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.dir
        self.calls = os.path.join(self.root, 'calls')
        self.conf_dir = os.path.join(self.root, 'etc', 'esi-event-actions')
        self.conf_file = os.path.join(self.conf_dir, 'esi-event-actions.conf')
        self.data_dir = os.path.join(self.root, 'data')
        os.makedirs(self.data_dir)
        self.env = {
            'PATH': os.environ.get('PATH', os.defpath),
            'HOME': self.root,
            'CALLS': self.calls,
            'PYTHON': sys.executable,
            'STUB_BIN_DIR': os.path.dirname(sys.executable),
            'DEST': self.root,
            'DATA_DIR': self.data_dir,
            'STACK_USER': subprocess.check_output(
                ['id', '-un'], text=True).strip(),
            'ENABLED_SERVICES': 'rabbit,key',
            'ENABLE_DEBUG_LOG_LEVEL': 'True',
            'RABBIT_USERID': 'stackrabbit',
            'RABBIT_PASSWORD': 'p@ss/w:rd',
            'RABBIT_HOST': '192.0.2.10',
            'ESI_EVENT_ACTIONS_DIR': base.REPO,
            'ESI_EVENT_ACTIONS_CONF_DIR': self.conf_dir,
            'ESI_LEAP_CONF_FILE': os.path.join(self.root, 'esi-leap.conf'),
        }

    def run_phases(self, *phases, **env):
        """Source settings, then plugin.sh once per phase, as devstack."""
        script = [STUBS, 'source "$ESI_EVENT_ACTIONS_DIR/devstack/settings"']
        for phase in phases:
            script.append('source "$ESI_EVENT_ACTIONS_DIR/devstack/'
                          'plugin.sh" %s' % phase)
        proc = subprocess.run(
            ['bash', '-c', '\n'.join(script)], cwd=self.root,
            env=dict(self.env, **env), capture_output=True, text=True,
            timeout=120)
        self.assertEqual(0, proc.returncode, 'stdout:\n%s\nstderr:\n%s'
                         % (proc.stdout, proc.stderr))
        return proc

    def recorded(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return f.read().splitlines()

    def written(self):
        parser = configparser.RawConfigParser()
        parser.optionxform = str
        self.assertEqual([self.conf_file], parser.read(self.conf_file))
        return parser

    def stack(self, **env):
        return self.run_phases('stack pre-install', 'stack install',
                               'stack post-config', 'stack extra', **env)

    def test_stack_writes_config_and_starts_service(self):
        proc = self.stack()
        self.assertIn('Configuration OK: 2 rule(s)', proc.stdout)
        conf = self.written()
        url = urllib.parse.urlsplit(conf.get('DEFAULT', 'transport_url'))
        self.assertEqual('rabbit', url.scheme)
        self.assertEqual('stackrabbit', urllib.parse.unquote(url.username))
        self.assertEqual('p@ss/w:rd', urllib.parse.unquote(url.password))
        self.assertEqual('192.0.2.10', url.hostname)
        self.assertEqual(5672, url.port)
        self.assertEqual(os.path.join(self.data_dir, 'esi-event-actions'),
                         conf.get('DEFAULT', 'state_path'))
        self.assertEqual('True', conf.get('DEFAULT', 'debug'))
        self.assertEqual('esi_leap_versioned_notifications',
                         conf.get('listener', 'topics'))
        self.assertEqual('openstack', conf.get('listener', 'exchange'))
        self.assertFalse(conf.has_section('oslo_messaging_rabbit'))

        scripts = os.path.join(self.conf_dir, 'scripts')
        for name in ('fulfill', 'delete'):
            path = os.path.join(scripts, name + '.sh')
            self.assertTrue(os.access(path, os.X_OK), path)
            self.assertEqual(path, conf.get(name, 'script'))
        self.assertEqual('esi_leap.lease.fulfill.end',
                         conf.get('fulfill', 'events'))
        self.assertEqual('node_name,fulfill_time',
                         conf.get('fulfill', 'script_params'))
        self.assertEqual('esi_leap.lease.delete.end',
                         conf.get('delete', 'events'))
        self.assertEqual('node_name,uuid',
                         conf.get('delete', 'script_params'))
        self.assertTrue(os.path.isdir(conf.get('DEFAULT', 'state_path')))

        bin_dir = os.path.dirname(sys.executable)
        self.assertEqual([
            'setup_develop %s ' % base.REPO,
            'run_process esi-event-actions %s/esi-event-actions '
            '--config-file %s' % (bin_dir, self.conf_file),
        ], self.recorded())

    def test_settings_follow_esi_leap_config(self):
        with open(self.env['ESI_LEAP_CONF_FILE'], 'w') as f:
            f.write(textwrap.dedent('''\
                [DEFAULT]
                control_exchange = esi
                [notification]
                versioned_notifications_topics = leap_events
                [oslo_messaging_rabbit]
                amqp_durable_queues = true
                '''))
        self.stack(ESI_EVENT_ACTIONS_EXTRAS='ansible,postgresql')
        conf = self.written()
        self.assertEqual('leap_events', conf.get('listener', 'topics'))
        self.assertEqual('esi', conf.get('listener', 'exchange'))
        self.assertEqual('true', conf.get('oslo_messaging_rabbit',
                                          'amqp_durable_queues'))
        self.assertFalse(conf.has_option('oslo_messaging_rabbit',
                                         'rabbit_quorum_queue'))
        self.assertEqual('setup_develop %s ansible,postgresql' % base.REPO,
                         self.recorded()[0])

    def test_without_sample_rules(self):
        proc = self.stack(ESI_EVENT_ACTIONS_SAMPLE_RULES='False',
                          RABBIT_PASSWORD='secret')
        self.assertIn('Configuration OK: 0 rule(s)', proc.stdout)
        conf = self.written()
        self.assertEqual(['listener'], conf.sections())
        self.assertEqual('rabbit://stackrabbit:secret@192.0.2.10:5672/',
                         conf.get('DEFAULT', 'transport_url'))

    def test_rewrites_config_on_each_stack(self):
        self.stack()
        with open(self.conf_file, 'a') as f:
            f.write('[stale]\nevents = esi_leap.lease.fulfill.end\n')
        self.stack()
        self.assertNotIn('stale', self.written().sections())

    def test_unstack_and_clean(self):
        self.stack()
        state = self.written().get('DEFAULT', 'state_path')
        os.remove(self.calls)
        self.run_phases('unstack')
        self.assertEqual(['stop_process esi-event-actions'],
                         self.recorded())
        self.assertTrue(os.path.exists(self.conf_file))
        self.run_phases('clean')
        self.assertFalse(os.path.exists(self.conf_dir))
        self.assertFalse(os.path.exists(state))

    def test_disabled_service_does_nothing(self):
        # "disable_service esi-event-actions" in local.conf.
        script = [STUBS, 'source "$ESI_EVENT_ACTIONS_DIR/devstack/settings"',
                  'ENABLED_SERVICES=rabbit']
        for phase in ('stack install', 'stack post-config', 'stack extra',
                      'unstack', 'clean'):
            script.append('source "$ESI_EVENT_ACTIONS_DIR/devstack/'
                          'plugin.sh" %s' % phase)
        proc = subprocess.run(['bash', '-c', '\n'.join(script)],
                              cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual([], self.recorded())
        self.assertFalse(os.path.exists(self.conf_dir))
