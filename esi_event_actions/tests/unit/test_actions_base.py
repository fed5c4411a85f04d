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
"""The action plugin contract: ActionContext, required options, 1.1."""

import os

import fixtures
from oslo_config import cfg

from esi_event_actions.actions import base as action_base
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap


class OldStylePlugin(action_base.Action):
    """Written for contract 1.1: it is given "the rule"."""

    opts = [cfg.StrOpt('path', help='A file.')]

    def __init__(self, rule):
        super().__init__(rule)
        self.seen = (rule.name, rule.options.path, rule.location('path'),
                     rule.conf.state_path)

    def run(self, event, params, attempt=1):
        return action_base.Result(action_base.SUCCESS, self.rule.name)


class NewStylePlugin(action_base.Action):
    """Contract 1.2: a context, and a required option."""

    opts = [cfg.StrOpt('path', help='A file.'), action_base.PARAMS_OPT]
    required = ('path',)
    validated = False

    def validate(self):
        NewStylePlugin.validated = True

    def run(self, event, params, attempt=1):
        return action_base.Result(action_base.SUCCESS, self.context.name)


class ContractTest(base.TestCase):

    def load_rule(self, cls, extra='path = out.txt'):
        self.useFixture(fixtures.MonkeyPatch(
            'esi_event_actions.ruleloader.action_class', lambda name: cls))
        path = self.load('[DEFAULT]\nstate_path = %s\n[worker]\n'
                         'output_limit = 99\n[r]\nevents = '
                         'esi_leap.lease.fulfill.end\naction = mine\n%s\n'
                         % (self.dir, extra))
        return ruleloader.load(self.conf).by_name['r'], path

    def test_the_version(self):
        self.assertEqual('1.3', action_base.CONTRACT_VERSION)

    def test_a_plugin_of_contract_1_1_still_works(self):
        rule, path = self.load_rule(OldStylePlugin)
        self.assertEqual(('r', 'out.txt', path, self.dir), rule.action.seen)
        evt = event.Event('esi_leap.lease.fulfill.end',
                          fake_esi_leap.lease_data(), id='m1')
        self.assertEqual('r', rule.action.run(evt, []).detail)
        self.assertEqual(os.path.join(self.dir, 'out.txt'),
                         rule.action.resolve_path('path'))

    def test_the_context_holds_what_an_action_needs(self):
        rule, path = self.load_rule(NewStylePlugin)
        context = rule.action.context
        self.assertEqual(('r', 'mine', self.dir, 99, path),
                         (context.name, context.action_name,
                          context.state_path, context.output_limit,
                          context.location('path')))
        self.assertEqual('mine', rule.action.describe())

    def test_required_options_are_checked_before_validate(self):
        NewStylePlugin.validated = False
        exc = self.assertRaises(exception.ConfigErrors, self.load_rule,
                                NewStylePlugin, extra='params = uuid')
        error, = exc.errors
        self.assertEqual(('r', 'path', 'the mine action needs path'),
                         (error.section, error.key, error.reason))
        self.assertFalse(NewStylePlugin.validated)
        self.load_rule(NewStylePlugin)
        self.assertTrue(NewStylePlugin.validated)
