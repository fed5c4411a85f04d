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

"""Calls to the real esi-leap 1.0's REST API, as tests make them.

:class:`EsiLeapClient` creates and deletes leases and offers as their
owner or lessee, reads them back, and waits on esi-leap's event history
(``GET /v1/events``); :class:`.server.EsiLeap` mixes it in.
"""

import datetime
import json
from urllib import error as urlerror
from urllib import parse
from urllib import request as urlrequest

from esi_event_actions.tests.functional.harness import procs
from esi_event_actions.tests.functional.harness.real_esi_leap import data

REQUEST_TIMEOUT = 30

# esi-leap listens on loopback: a proxy from the environment would swallow
# the requests.
_OPENER = urlrequest.build_opener(urlrequest.ProxyHandler({}))


class ApiError(data.EsiLeapError):
    """esi-leap's API answered with an error status.

    :ivar status: the HTTP status code
    :ivar body: the decoded body (esi-leap sends ``{"faultstring": ...}``)
    """

    def __init__(self, method, path, status, body):
        super(ApiError, self).__init__('%s %s: HTTP %d: %s'
                                       % (method, path, status, body))
        self.status = status
        self.body = body


class EsiLeapClient(object):
    """Calls to esi-leap's API as a test's owner or lessee.

    A mixin: the class using it provides :attr:`api_url`, the API's root
    URL; :attr:`owner_id` and :attr:`lessee_id`, the projects the calls
    act as by default; and :attr:`event_interval`, the seconds between
    the manager's periodic jobs, which bounds how long waits take.
    """

    def request(self, method, path, body=None, project_id=None,
                user_id=None, roles=None, query=None,
                timeout=REQUEST_TIMEOUT):
        """Call the API and return ``(status, decoded body)``.

        With authentication off, esi-leap takes the caller's identity from
        ``X-Project-Id``, ``X-User-Id`` and ``X-Roles`` (and lets every
        caller do everything); ``X-Project-Id`` becomes the owner or lessee
        of what is created.
        """
        url = self.api_url + path
        if query:
            query = {k: v for k, v in query.items() if v is not None}
            url += '?' + parse.urlencode(query)
        headers = {'Accept': 'application/json'}
        data = None
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        if project_id:
            headers['X-Project-Id'] = project_id
            headers['X-User-Id'] = user_id or 'user-%s' % project_id[:8]
        elif user_id:
            headers['X-User-Id'] = user_id
        if roles:
            headers['X-Roles'] = ','.join(roles)
        req = urlrequest.Request(url, data=data, headers=headers,
                                 method=method)
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urlerror.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode('utf-8', 'replace')
        return status, decoded

    def _call(self, method, path, **kwargs):
        status, body = self.request(method, path, **kwargs)
        if status >= 400:
            raise ApiError(method, path, status, body)
        return body

    def create_lease(self, node_uuid, project_id=None, start=None, end=None,
                     owner=None, name=None, purpose=None, properties=None):
        """Create a lease on a node as its owner; return the lease.

        :param project_id: the lessee (default :attr:`lessee_id`)
        :param start: datetime (naive = UTC) or string; default now
        :param end: default one day after start
        :param owner: the calling project (default :attr:`owner_id`)
        """
        start, end = data.period(start, end)
        body = {'resource_type': data.RESOURCE_TYPE,
                'resource_uuid': node_uuid,
                'project_id': project_id or self.lessee_id,
                'start_time': start, 'end_time': end}
        return self._call('POST', '/v1/leases',
                          body=data.with_options(
                              body, name=name, purpose=purpose,
                              properties=properties),
                          project_id=owner or self.owner_id,
                          roles=['owner'])

    def create_offer(self, node_uuid, start=None, end=None, owner=None,
                     lessee_id=None, name=None, properties=None):
        """Offer a node as its owner; return the offer.

        :param lessee_id: restrict the offer to this project (and its
            children)
        :param end: default one week after start
        """
        start, end = data.period(start, end, days=7)
        body = {'resource_type': data.RESOURCE_TYPE,
                'resource_uuid': node_uuid,
                'start_time': start, 'end_time': end}
        if lessee_id:
            body['lessee_id'] = lessee_id
        return self._call('POST', '/v1/offers',
                          body=data.with_options(
                              body, name=name, properties=properties),
                          project_id=owner or self.owner_id,
                          roles=['owner'])

    def claim_offer(self, offer_uuid, start=None, end=None, project_id=None,
                    name=None, purpose=None, properties=None):
        """Claim an offer as a lessee; return the new lease.

        :param project_id: the claiming lessee (default :attr:`lessee_id`)
        """
        start, end = data.period(start, end)
        body = {'start_time': start, 'end_time': end}
        return self._call('POST', '/v1/offers/%s/claim' % offer_uuid,
                          body=data.with_options(
                              body, name=name, purpose=purpose,
                              properties=properties),
                          project_id=project_id or self.lessee_id,
                          roles=['lessee'])

    def delete_lease(self, lease_uuid, as_project=None):
        """Cancel a lease (emits delete.start and delete.end at once)."""
        self._call('DELETE', '/v1/leases/%s' % lease_uuid,
                   project_id=as_project or self.owner_id, roles=['owner'])

    def extend_lease(self, lease_uuid, end, as_project=None):
        """Move a lease's end (esi-leap notifies nobody); the lease.

        :param end: datetime (naive = UTC) or string
        """
        return self._call('PATCH', '/v1/leases/%s' % lease_uuid,
                          body={'end_time': data.timestamp(end)},
                          project_id=as_project or self.owner_id,
                          roles=['owner'])

    def delete_offer(self, offer_uuid, as_project=None):
        self._call('DELETE', '/v1/offers/%s' % offer_uuid,
                   project_id=as_project or self.owner_id, roles=['owner'])

    def lease(self, lease_uuid, as_project=None):
        """Return ``GET /v1/leases/<uuid>``."""
        return self._call('GET', '/v1/leases/%s' % lease_uuid,
                          project_id=as_project)

    def leases(self, as_project=None, **filters):
        """Return the ``leases`` of ``GET /v1/leases`` with filters."""
        return self._call('GET', '/v1/leases', project_id=as_project,
                          query=filters)['leases']

    def offer(self, offer_uuid, as_project=None):
        return self._call('GET', '/v1/offers/%s' % offer_uuid,
                          project_id=as_project)

    def events(self, last_event_id=0, as_project=None, **filters):
        """Return ``GET /v1/events`` as decoded, ``{"events": [...]}``.

        Filters: ``event_type``, ``resource_type``, ``resource_uuid``,
        ``lessee_or_owner_id``, ``last_event_time``. The rows come in no
        guaranteed order. With authentication off every caller sees every
        event: filter with ``lessee_or_owner_id``.
        """
        if last_event_id:
            filters['last_event_id'] = last_event_id
        if isinstance(filters.get('last_event_time'), datetime.datetime):
            filters['last_event_time'] = data.timestamp(
                filters['last_event_time'])
        return self._call('GET', '/v1/events', project_id=as_project,
                          query=filters)

    def wait_for_event(self, event_type, lease_uuid, timeout=None,
                       last_event_id=0):
        """Wait for an event about a lease in the history; return it.

        :param event_type: e.g. ``fulfill.end`` or the full
            ``esi_leap.lease.fulfill.end``
        :param timeout: seconds; by default three manager intervals plus
            ten seconds
        """
        if timeout is None:
            timeout = 3 * self.event_interval + 10
        event_type = data.full_event_type(event_type)

        def find():
            rows = self.events(last_event_id=last_event_id,
                               event_type=event_type)['events']
            found = [e for e in rows if e['object_uuid'] == lease_uuid]
            return min(found, key=lambda e: e['id']) if found else None

        return _poll(find, timeout,
                     '%s of lease %s' % (event_type, lease_uuid))

    def wait_for_lease_status(self, lease_uuid, status, timeout=None):
        """Wait until ``GET /v1/leases/<uuid>`` shows status; return it."""
        if timeout is None:
            timeout = 3 * self.event_interval + 10

        def find():
            lease = self.lease(lease_uuid)
            return lease if lease['status'] == status else None

        return _poll(find, timeout, 'lease %s %s' % (lease_uuid, status))


def _poll(predicate, timeout, what, interval=0.2):
    value = procs.wait_until(predicate, timeout, interval)
    if not value:
        raise data.EsiLeapError('timed out after %ss waiting for %s'
                                % (timeout, what))
    return value
