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
"""The lessee's addresses in Keystone, the two ways ESI's scripts find them.

``project``
    The ``email`` attribute of the lease's project (``project_id``): an
    extra attribute an operator sets (``openstack project set --property
    email=...``).
``users``
    The ``email`` of each user with a role on that project, groups and
    inherited roles included (``effective``), optionally only some roles.

It reads the Identity v3 API through keystoneauth, with the
``[email_keystone]`` options: its own credentials, since a lessee cannot
read other users.
"""

import threading
import urllib.parse

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading

from esi_event_actions import safetext

#: The option group, as conf/email_keystone.py registers it.
GROUP = 'email_keystone'

PROJECT = 'project'
USERS = 'users'
SOURCES = (PROJECT, USERS)

# Worth another attempt: Keystone is overloaded or down, not wrong.
_RETRYABLE = {408, 429}


class LookupFailed(Exception):
    """Keystone could not answer; ``retryable`` if it may later."""

    def __init__(self, detail, retryable):
        super().__init__(detail)
        self.retryable = retryable


def configured(conf):
    """Why ``conf`` cannot reach Keystone, or None if it can."""
    if conf is None:
        return 'the service\'s configuration is not available here'
    try:
        group = conf[GROUP]
    except (KeyError, AttributeError):  # oslo's NoSuchOptError is both
        return 'the [%s] options are not registered' % GROUP
    if not (group.auth_type or group.endpoint_override):
        return ('set [%s] auth_type and its options (auth_url, ...), '
                'the credentials to read projects and users with' % GROUP)
    return None


class Directory:
    """Keystone's projects and users, read with ``[email_keystone]``.

    The session is made on first use, in the process that runs the jobs
    (never in the one that checks the rules and forks), and shared by
    the workers' threads: keystoneauth's auth plugins lock their token.
    """

    def __init__(self, conf):
        self._conf = conf
        self._adapter = None
        self._lock = threading.Lock()

    def check(self):
        """Load the auth plugin once, for its errors; nothing is sent."""
        ks_loading.load_auth_from_conf_options(self._conf, GROUP)

    def _api(self):
        with self._lock:
            if self._adapter is None:
                conf = self._conf
                auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
                session = ks_loading.load_session_from_conf_options(
                    conf, GROUP, auth=auth)
                self._adapter = ks_loading.load_adapter_from_conf_options(
                    conf, GROUP, session=session, auth=auth)
            return self._adapter

    def _get(self, path, missing_ok=False, **query):
        try:
            response = self._api().get(path, params=query or None,
                                       raise_exc=False)
        except ks_exc.ConnectionError as exc:
            raise LookupFailed('Keystone: %s' % _text(exc), True)
        except ks_exc.ClientException as exc:
            # No endpoint, discovery or the auth plugin failed: read as
            # the configuration's fault unless it is Keystone's.
            status = getattr(exc, 'http_status', None) or 0
            raise LookupFailed('Keystone: %s' % _text(exc),
                               status >= 500 or status in _RETRYABLE)
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise LookupFailed('Keystone answered %d to GET %s' % (
                status, path.split('?')[0]),
                status >= 500 or status in _RETRYABLE)
        try:
            return response.json()
        except ValueError:
            raise LookupFailed('Keystone answered %s with no JSON' % path,
                               True)

    def project_email(self, project_id):
        """The project's ``email`` attribute: [value], or [] if none."""
        found = self._get('/projects/%s' % _segment(project_id),
                          missing_ok=True)
        project = (found or {}).get('project') or {}
        value = project.get('email')
        return [] if value in (None, '') else [value]

    def user_emails(self, project_id, roles=(), limit=None):
        """Each user's ``email`` (raw values), users with a role first.

        Only the roles named in ``roles`` count, if any.  More users than
        ``limit`` raise :class:`LookupFailed`, before any is read.
        """
        found = self._get('/role_assignments', **{
            'scope.project.id': project_id, 'include_names': 'true',
            'effective': 'true'})
        users = []
        for item in (found or {}).get('role_assignments') or []:
            user = ((item or {}).get('user') or {}).get('id')
            role = ((item or {}).get('role') or {}).get('name')
            if user and user not in users and (not roles or role in roles):
                users.append(user)
        if limit is not None and len(users) > limit:
            raise LookupFailed('%d users have a role on the project, more '
                               'than max_recipients (%d)'
                               % (len(users), limit), False)
        values = []
        for user in users:
            found = self._get('/users/%s' % _segment(user), missing_ok=True)
            value = ((found or {}).get('user') or {}).get('email')
            if value not in (None, ''):
                values.append(value)
        return values


def _segment(value):
    # An id from the lease or from Keystone goes in a path: it must stay
    # one segment, whatever it holds.
    return urllib.parse.quote(str(value), safe='')


def _text(exc):
    return safetext.printable(str(exc), 300)
