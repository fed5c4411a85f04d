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
"""The message: headers no value can add to, and an id retries repeat.

The subject is made one line before it is a header (every control
character, CR and LF among them, becomes a space), and the message is an
:class:`email.message.EmailMessage` whose policy refuses a header value
holding a line break: a lease name cannot add a header, even through a
template that forgot to.  The policy writes only 7-bit text (non-ASCII
headers as RFC 2047 words, bodies quoted-printable or base64), which any
SMTP server takes.
"""

import email.headerregistry
import email.message
import email.policy
import email.utils
import hashlib
import re

from esi_event_actions import safetext

#: CRLF line ends, 7-bit output, and a defect is an error, not a guess.
POLICY = email.policy.SMTP.clone(cte_type='7bit', raise_on_defect=True)

# Everything that may not be in a one-line header, and white space runs.
_BREAKS = re.compile('[\\s\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+')


def message_id(event_id, rule, domain):
    """``<digest@domain>``: the same for every attempt at one job.

    A job is one event for one rule: the digest is of the two, which
    the journal keys jobs by, so a retry (or a run after a crash) sends
    the message again under the same id, and a receiver that keeps ids
    shows it once.
    """
    key = '%s\n%s' % (rule, event_id)
    digest = hashlib.sha256(key.encode('utf-8', 'surrogatepass'))
    # 128 bits: no two jobs share one, and the header stays one line.
    return '<%s@%s>' % (digest.hexdigest()[:32], domain)


def one_line(text, limit):
    """``text`` as one header line of at most ``limit`` characters."""
    return _BREAKS.sub(' ', text).strip()[:limit].rstrip()


def build(sender, to, subject, text, html=None, msgid=None,
          reply_to=None, date=None):
    """An EmailMessage of a text body, and an HTML one as alternative.

    :param sender: (display name, address).
    :param to: addresses, already checked.
    :raises ValueError: should a header value still hold a line break.
    """
    msg = email.message.EmailMessage(policy=POLICY)
    name, addr = sender
    msg['From'] = email.headerregistry.Address(display_name=name,
                                               addr_spec=addr)
    msg['To'] = ', '.join(to)
    if reply_to:
        msg['Reply-To'] = reply_to
    msg['Subject'] = subject
    msg['Date'] = date or email.utils.formatdate(usegmt=True)
    msg['Message-ID'] = msgid or email.utils.make_msgid()
    # RFC 3834: vacation and out-of-office replies are not sent back.
    msg['Auto-Submitted'] = 'auto-generated'
    msg.set_content(safetext.storable(text))
    if html is not None:
        msg.add_alternative(safetext.storable(html), subtype='html')
    return msg
