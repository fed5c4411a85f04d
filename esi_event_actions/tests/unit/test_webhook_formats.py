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
"""Each webhook format, checked by its receivers' own libraries."""

import base64
import datetime
import json
import logging

from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats import json as ce_json
from cloudevents.v1 import http as ce_v1_http
import standardwebhooks

from esi_event_actions.actions import webhook_formats
from esi_event_actions import dryrun
from esi_event_actions import event
from esi_event_actions import exception
from esi_event_actions import ruleloader
from esi_event_actions.tests.common import base
from esi_event_actions.tests.common import fake_esi_leap
from esi_event_actions.tests.common import httpserver

# whsec_ and the base64 of 32 and of 24 bytes: the bounds are 24 to 64.
WHSEC = 'whsec_' + base64.b64encode(b'k' * 32).decode()
WHSEC_OLD = 'whsec_' + base64.b64encode(b'o' * 24).decode()
PUBLISHER = 'esi-leap-manager.host1'


def receive(request):
    """(headers, body) as a receiver's framework hands them over."""
    return request[2], request[3]


class FormatTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.server = self.useFixture(httpserver.HTTPServer())

    def rule(self, extra='', name='hook'):
        self.load('[%s]\nevents = esi_leap.lease.fulfill.end\n'
                  'action = webhook\nurl = %s\nparams = node_name\n%s\n'
                  % (name, self.server.url, extra))
        return ruleloader.load(self.conf).by_name[name]

    def event(self, source='notification', **data):
        self.lease = fake_esi_leap.lease_data(**data)
        return event.Event('esi_leap.lease.fulfill.end', self.lease,
                           id='msg-1', source=source,
                           publisher_id=PUBLISHER if source ==
                           'notification' else None,
                           timestamp='2026-11-26 10:00:00.000001')

    def send(self, rule, attempt=1, evt=None):
        evt = evt or self.event()
        result = rule.action.run(evt, rule.params(evt), attempt)
        self.assertTrue(result.ok, result)
        return receive(self.server.requests[-1])


class StandardWebhooksTest(FormatTestCase):

    def test_the_library_verifies_the_esi_document(self):
        rule = self.rule('format = standard-webhooks\nsecret = %s' % WHSEC)
        evt = self.event()
        headers, body = self.send(rule, attempt=2, evt=evt)
        sent = standardwebhooks.Webhook(WHSEC).verify(body, headers)
        self.assertEqual(('hook', 'msg-1', 2, self.lease),
                         (sent['rule'], sent['event_id'], sent['attempt'],
                          sent['data']))
        self.assertEqual('msg-1:hook', headers['webhook-id'])
        # The same bytes as format = esi would send.
        esi = webhook_formats.EsiFormat('hook', rule.options)
        self.assertEqual(esi.body(evt, sent['params'], 2), body)
        other = 'whsec_' + base64.b64encode(b'x' * 32).decode()
        self.assertRaises(standardwebhooks.WebhookVerificationError,
                          standardwebhooks.Webhook(other).verify, body,
                          headers)
        self.assertRaises(standardwebhooks.WebhookVerificationError,
                          standardwebhooks.Webhook(WHSEC).verify,
                          body + b' ', headers)

    def test_signature_matches_the_library_signer(self):
        signer = standardwebhooks.Webhook(WHSEC)
        stamp = 1764000000
        body = b'{"lease": "5f1e"}'
        keys = webhook_formats.standard_keys(WHSEC)
        self.assertEqual(
            signer.sign('history:7:hook',
                        datetime.datetime.fromtimestamp(
                            stamp, datetime.timezone.utc), body.decode()),
            webhook_formats.standard_signature(
                keys, 'history:7:hook', stamp, body))

    def test_every_secret_signs_so_keys_can_rotate(self):
        rule = self.rule('format = standard-webhooks\nsecret = %s, %s'
                         % (WHSEC, WHSEC_OLD))
        headers, body = self.send(rule)
        self.assertEqual(2, len(headers['webhook-signature'].split(' ')))
        for secret in (WHSEC, WHSEC_OLD):
            standardwebhooks.Webhook(secret).verify(body, headers)

    def test_retries_share_the_id_and_rules_do_not(self):
        rule = self.rule('format = standard-webhooks\nsecret = %s' % WHSEC)
        self.server.statuses.append(500)
        evt = self.event()
        self.assertEqual('retry', rule.action.run(evt, [], 1).status)
        self.send(rule, attempt=2, evt=evt)
        first, second = [receive(r) for r in self.server.requests]
        self.assertEqual(first[0]['webhook-id'], second[0]['webhook-id'])
        for headers, body in (first, second):
            standardwebhooks.Webhook(WHSEC).verify(body, headers)
        other = self.rule('format = standard-webhooks\nsecret = %s' % WHSEC,
                          name='other')
        headers, _ = self.send(other, evt=evt)
        self.assertEqual('msg-1:other', headers['webhook-id'])

    def test_secret_checked_at_load_without_showing_it(self):
        plain = 'correct horse battery staple'
        short = 'whsec_' + base64.b64encode(b's' * 23).decode()
        for secret, why in ((plain, 'does not start with whsec_'),
                            ('whsec_not*base64', 'not valid base64'),
                            (short, 'holds 23 bytes, not 24 to 64'),
                            ('%s,%s' % (WHSEC, plain),
                             'secret 2 does not start')):
            exc = self.assertRaises(
                exception.ConfigErrors, self.rule,
                'format = standard-webhooks\nsecret = %s' % secret)
            error, = exc.errors
            self.assertEqual(('hook', 'secret'), (error.section, error.key))
            self.assertIn(why, str(error))
            self.assertIn('openssl rand -base64 32', str(error))
            self.assertNotIn(secret.split(',')[-1], str(error))
        exc = self.assertRaises(exception.ConfigErrors, self.rule,
                                'format = standard-webhooks')
        self.assertEqual(['secret'], [e.key for e in exc.errors])

    def test_secrets_masked_in_test_rule_and_never_logged(self):
        rule = self.rule('format = standard-webhooks\nsecret = %s, %s'
                         % (WHSEC, WHSEC_OLD))
        self.server.statuses.append(503)
        evt = self.event()
        rule.action.run(evt, [], 1)
        self.conf.log_opt_values(logging.getLogger('x'), logging.DEBUG)
        shown = json.dumps(rule.action.preview(evt, rule.params(evt)))
        report = dryrun.format_text(evt, dryrun.evaluate(
            ruleloader.load(self.conf), evt))
        self.assertIn('webhook-signature', report)
        sent = self.server.requests[0][2]['webhook-signature']
        for text in (WHSEC, WHSEC_OLD, WHSEC[6:], sent.split(',')[1]):
            for where in (self.logger.output, shown, report,
                          rule.summary()):
                self.assertNotIn(text, where)
        headers = rule.action.preview(evt, [])['headers']
        self.assertEqual('v1,*** v1,*** (signed when sent)',
                         headers['webhook-signature'])
        self.assertEqual('msg-1:hook', headers['webhook-id'])


class CloudEventsTest(FormatTestCase):

    def check_attributes(self, parsed, source='esi-leap/' + PUBLISHER):
        self.assertEqual(
            ('1.0', 'msg-1', 'esi_leap.lease.fulfill.end', source,
             self.lease['node_uuid']),
            (parsed['specversion'], parsed['id'], parsed['type'],
             parsed['source'], parsed['subject']))
        self.assertEqual(self.lease, parsed.data)

    def test_binary_mode_parsed_by_the_sdk(self):
        headers, body = self.send(self.rule('format = cloudevents'))
        self.assertEqual('application/json', headers['Content-Type'])
        parsed = ce_v1_http.from_http(headers, body)
        self.check_attributes(parsed)
        self.assertEqual('2026-11-26T10:00:00.000001Z', parsed['time'])
        # The newer binding checks the RFC 3339 text as it reads it.
        strict = ce_http.from_http(ce_http.HTTPMessage(headers, body),
                                   ce_json.JSONFormat())
        self.assertEqual(datetime.datetime(
            2026, 11, 26, 10, 0, 0, 1, tzinfo=datetime.timezone.utc),
            strict.get_time())
        self.assertNotIn('webhook-signature', headers)

    def test_structured_mode_parsed_by_the_sdk(self):
        headers, body = self.send(self.rule(
            'format = cloudevents\ncloudevents_mode = structured'))
        self.assertTrue(headers['Content-Type'].startswith(
            'application/cloudevents+json'))
        parsed = ce_v1_http.from_http(headers, body)
        self.check_attributes(parsed)
        self.assertEqual('application/json', parsed['datacontenttype'])

    def test_signed_for_a_standard_webhooks_receiver_too(self):
        for mode in ('binary', 'structured'):
            self.server.requests.clear()
            headers, body = self.send(self.rule(
                'format = cloudevents\ncloudevents_mode = %s\n'
                'secret = %s' % (mode, WHSEC)))
            standardwebhooks.Webhook(WHSEC).verify(body, headers,
                                                   json_parse=False)
            self.check_attributes(ce_v1_http.from_http(headers, body))

    def test_source_option_is_percent_encoded_in_headers(self):
        source = 'urn:esi:r\u00e9gion%1/"a"'
        headers, body = self.send(self.rule(
            'format = cloudevents\ncloudevents_source = %s' % source))
        self.assertTrue(headers['ce-source'].isascii())
        parsed = ce_http.from_http(ce_http.HTTPMessage(headers, body),
                                   ce_json.JSONFormat())
        self.assertEqual(source, parsed.get_source())

    def test_history_events_and_no_node(self):
        rule = self.rule('format = cloudevents\n'
                         'cloudevents_mode = structured')
        headers, body = self.send(rule, evt=self.event(source='history',
                                                       node_uuid=None))
        document = json.loads(body)
        self.assertEqual('esi-leap/history', document['source'])
        self.assertNotIn('subject', document)
        ce_v1_http.from_http(headers, body)

    def test_options_checked_at_load(self):
        for extra, key in (
                ('format = esi\ncloudevents_mode = binary',
                 'cloudevents_mode'),
                ('cloudevents_source = x', 'cloudevents_source'),
                ('format = cloudevents\ncloudevents_source = a b',
                 'cloudevents_source'),
                ('format = cloudevents\nsecret = plain', 'secret'),
                ('format = cloudevent', 'format'),
                ('format = cloudevents\ncloudevents_mode = batch',
                 'cloudevents_mode')):
            exc = self.assertRaises(exception.ConfigErrors, self.rule, extra)
            self.assertEqual([key], [e.key for e in exc.errors], extra)


def _refuse(constant):
    raise ValueError('not JSON: %s' % constant)


class StrictJSONTest(FormatTestCase):
    """A lessee's 1e400 or NaN never makes a body that is not JSON."""

    def test_every_format_sends_strict_json(self):
        hostile = {'huge': json.loads('1e400'), 'nan': float('nan'),
                   'low': float('-inf'), 'ok': 1.5}
        for extra in ('', 'format = standard-webhooks\nsecret = %s' % WHSEC,
                      'format = cloudevents',
                      'format = cloudevents\ncloudevents_mode = structured'):
            rule = self.rule(extra)
            evt = self.event(properties=hostile, node_name=float('nan'))
            _, body = self.send(rule, evt=evt)
            sent = json.loads(body, parse_constant=_refuse)
            data = sent.get('data', sent)
            self.assertEqual({'huge': 'Infinity', 'nan': 'NaN',
                              'low': '-Infinity', 'ok': 1.5},
                             data['properties'], extra)
            preview = rule.action.preview(evt, rule.params(evt))
            self.assertEqual('Infinity',
                             preview['body'].get('data', preview['body'])[
                                 'properties']['huge'])
