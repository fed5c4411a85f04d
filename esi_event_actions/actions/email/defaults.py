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
"""The templates an email rule uses unless it brings its own.

Three messages to a lessee, each a subject, a text body and an HTML body:

``lease-started``
    on ``esi_leap.lease.fulfill.end``: the node is theirs;
``lease-ending``
    on a timed rule (``at = end_time - 48h``): the lease ends in
    ``ends_in``;
``lease-ended``
    on ``esi_leap.lease.delete.end``: the node is no longer theirs.

Each names the lease (name and uuid), the node (name and uuid), the
project, the purpose and the start and end times.
"""

STARTED = 'lease-started'
ENDING = 'lease-ending'
ENDED = 'lease-ended'
NAMES = (STARTED, ENDING, ENDED)
AUTO = 'auto'

_LEASE = '{{ lease.name or lease.uuid }}'
_NODE = '{{ lease.node_name or lease.node_uuid or lease.resource_uuid }}'

SUBJECTS = {
    STARTED: 'Your lease %s of node %s has started' % (_LEASE, _NODE),
    ENDING: 'Your lease %s of node %s ends in {{ ends_in or "less than a '
            'minute" }}' % (_LEASE, _NODE),
    ENDED: 'Your lease %s of node %s has ended' % (_LEASE, _NODE),
}

_OPENINGS = {
    STARTED: 'Your lease of node %s has started: the node is yours until '
             '{{ lease.end_time }} (UTC).' % _NODE,
    ENDING: 'Your lease of node %s ends in {{ ends_in or "less than a '
            'minute" }}, at {{ lease.end_time }} (UTC). Save your work '
            'before then: the node is cleaned when the lease ends.' % _NODE,
    ENDED: 'Your lease of node %s has ended: the node is no longer '
           'yours, and is being cleaned for its next lessee.' % _NODE,
}

# (label, expression) of the lines every message has.
_DETAILS = (
    ('Lease', '{{ lease.name }} ({{ lease.uuid }})'),
    ('Node', '{{ lease.node_name }} ({{ lease.node_uuid or '
             'lease.resource_uuid }})'),
    ('Project', '{{ lease.project_id }}'),
    ('Purpose', '{{ lease.purpose }}'),
    ('Starts', '{{ lease.start_time }}'),
    ('Ends', '{{ lease.end_time }}'),
)

_TEXT = '''\
Hello,

%(opening)s

%(details)s

--
This message was sent automatically (rule {{ rule }}); please do not
reply to it.
'''

_HTML = '''\
<!DOCTYPE html>
<html><body>
<p>Hello,</p>
<p>%(opening)s</p>
<table>
%(details)s
</table>
<p><small>This message was sent automatically (rule {{ rule }}); please
do not reply to it.</small></p>
</body></html>
'''


def text_body(name):
    """The default text body of template set ``name``."""
    details = '\n'.join('%-9s%s' % (label + ':', value)
                        for label, value in _DETAILS)
    return _TEXT % {'opening': _OPENINGS[name], 'details': details}


def html_body(name):
    """The default HTML body of template set ``name``."""
    details = '\n'.join('<tr><th align="left">%s</th><td>%s</td></tr>'
                        % (label, value) for label, value in _DETAILS)
    return _HTML % {'opening': _OPENINGS[name], 'details': details}


def choose(events, timed):
    """The set for a rule on ``events``; ``timed`` if it sets ``at``.

    None when the events do not say which (a wildcard, several kinds):
    the rule must name one.
    """
    if timed:
        return ENDING
    for name, event_type in ((STARTED, 'esi_leap.lease.fulfill.end'),
                             (ENDED, 'esi_leap.lease.delete.end')):
        if events and all(pattern == event_type for pattern in events):
            return name
    return None
