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
"""What of a web hook's URL may be shown: its scheme, host and port.

The URL may hold a user and password, a token in its path or a key in its
query.  Every text the service shows about a delivery (a description, a
preview, an error, urllib3's own log lines) goes through here.
"""

import logging
import threading
import urllib.parse
import weakref

import requests

_MASK = '***'


def redact_url(url):
    """``url`` as it may be shown: its scheme, host and port, no more.

    The user and password, the path, the query and the fragment are each
    replaced by ``***``: a path can be the secret itself (many services
    put the token in it), and the rule's name tells rules apart.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _MASK
    user, at, host = parts.netloc.rpartition('@')
    shown = '%s://%s%s' % (parts.scheme, _MASK + '@' if at else '', host)
    if parts.path not in ('', '/'):
        shown += '/' + _MASK
    else:
        shown += parts.path
    if parts.query:
        shown += '?' + _MASK
    if parts.fragment:
        shown += '#' + _MASK
    return shown


def _url_secrets(url):
    """The parts of ``url`` that redact_url hides, as text may hold them.

    Each as written, percent-decoded and as requests writes it again,
    longest first, so that no part is left half masked.
    """
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition('@')[0]
    pieces = {userinfo, parts.query, parts.fragment}
    pieces.update(userinfo.split(':', 1))
    pieces.update(value for _, value in urllib.parse.parse_qsl(parts.query))
    if parts.path not in ('', '/'):
        pieces.add(parts.path)
    found = set()
    for piece in pieces:
        found.update((piece, urllib.parse.unquote(piece),
                      requests.utils.requote_uri(piece)))
    found.discard('')
    return sorted(found, key=len, reverse=True)


def scrub(text, url):
    """``text`` (an exception's, say) with ``url`` shown as redact_url's."""
    shown = redact_url(url)
    for whole in (url, requests.utils.requote_uri(url)):
        text = text.replace(whole, shown)
    for secret in _url_secrets(url):
        text = text.replace(secret, _MASK)
    return text


# The web hook URLs in use, by the action holding each, for the filter
# below.
_ACTIONS = weakref.WeakSet()
_ACTIONS_LOCK = threading.Lock()


def register(action):
    """Have urllib3's log lines scrubbed of ``action``'s URL."""
    with _ACTIONS_LOCK:
        _ACTIONS.add(action)


class _ScrubFilter(logging.Filter):
    """Takes webhook URLs' secrets out of urllib3's own log records.

    urllib3 logs request paths and queries: at DEBUG, and with a WARNING
    when a receiver sends headers it cannot parse.
    """

    def filter(self, record):
        with _ACTIONS_LOCK:
            urls = [action.options.url for action in _ACTIONS]
        if urls:
            text = original = record.getMessage()
            for url in urls:
                text = scrub(text, url)
            if text != original:
                record.msg, record.args = text, None
        return True


for _name in ('urllib3.connectionpool', 'urllib3.connection',
              'urllib3.response', 'urllib3.util.retry',
              'urllib3.poolmanager'):
    logging.getLogger(_name).addFilter(_ScrubFilter())
