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
"""The tenant-mode source: esi-leap's event history, read through its API.

esi-leap answers ``GET /v1/events?last_event_id=N`` with every event whose
id is greater than N, in no particular order and without pagination.  The
poller sorts them itself, keeps its checkpoint (the highest id handled) in
the journal, moved in the same transaction as the jobs it creates, and
reads a few ids below it again on every poll so that an event whose id was
committed late is not skipped.  The journal's unique key
(``history:<id>`` + rule) makes what was already handled add nothing.

A history row holds only ids.  When some rule acts on its event type, the
lease is fetched (``GET /v1/leases/<uuid>``, once per poll) and mapped onto
the field names of the bus payload, so a rule written for the listener
works unchanged here.
"""

import datetime

from oslo_log import log as logging

from esi_event_actions import event as event_mod
from esi_event_actions import journal

LOG = logging.getLogger(__name__)

# Lease API field -> bus payload field, where the names differ.
_RENAMED = {'resource': 'node_name',
            'resource_properties': 'node_properties'}
_TIMES = ('start_time', 'end_time', 'fulfill_time', 'expire_time')
_ROW_FIELDS = ('id', 'event_type', 'event_time', 'object_uuid')
#: The largest id the journal's checkpoint (a 64-bit integer) holds.
MAX_EVENT_ID = 2 ** 63 - 1


class HistoryError(Exception):
    """The event history could not be read; nothing may be assumed."""


def _bus_time(value):
    """A lease API time in the bus payload's format (UTC, 'Z')."""
    if not isinstance(value, str):
        return value
    text = value.replace('T', ' ').rstrip('Z')
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc)
    return parsed.strftime('%Y-%m-%dT%H:%M:%SZ')


def lease_data(lease):
    """A lease from the API, with the bus payload's field names."""
    data = {}
    for key, value in lease.items():
        data[_RENAMED.get(key, key)] = _bus_time(value) if key in _TIMES \
            else value
    if 'resource_uuid' in data:
        data.setdefault('node_uuid', data['resource_uuid'])
    return data


def row_data(row):
    """What a history row alone says, with the bus payload's names."""
    return {'uuid': row.get('object_uuid'),
            'resource_type': row.get('resource_type'),
            'resource_uuid': row.get('resource_uuid'),
            'node_uuid': row.get('resource_uuid'),
            'project_id': row.get('lessee_id'),
            'owner_id': row.get('owner_id')}


def to_event(row, lease=None):
    """The Event of one history row, enriched with its lease if given."""
    data = row_data(row)
    if lease:
        data.update(lease_data(lease))
    return event_mod.Event(
        event_type=row['event_type'], data=data,
        id='history:%d' % row['id'], source='history',
        publisher_id='esi-leap-api', timestamp=row.get('event_time'))


def valid_rows(rows):
    """The well-formed rows of a response, sorted by id."""
    good = []
    for row in rows:
        if (isinstance(row, dict) and isinstance(row.get('id'), int)
                and not isinstance(row.get('id'), bool)
                and 0 <= row['id'] <= MAX_EVENT_ID
                and all(isinstance(row.get(k), (str, int))
                        for k in _ROW_FIELDS)):
            good.append(row)
        else:
            LOG.warning('Ignoring a malformed event history row: %.200r',
                        row)
    return sorted(good, key=lambda row: row['id'])


class HistoryClient:
    """esi-leap's event history and leases, through a keystoneauth adapter.

    :param adapter: a :class:`keystoneauth1.adapter.Adapter` for the
        ``lease`` service (or anything with the same ``get``).
    """

    def __init__(self, adapter):
        self.adapter = adapter

    def _get(self, path, params=None, missing_ok=False):
        try:
            response = self.adapter.get(path, params=params,
                                        raise_exc=False)
        except Exception as exc:
            # keystoneauth's errors name the URL, never the token.
            raise HistoryError('%s: %s' % (type(exc).__name__, exc))
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code != 200:
            raise HistoryError('GET %s answered HTTP %d'
                               % (path, response.status_code))
        try:
            return response.json()
        except ValueError:
            raise HistoryError('GET %s answered something that is not '
                               'JSON' % path)

    def events(self, last_event_id, **filters):
        """Rows with an id above ``last_event_id``, sorted by id."""
        params = {'last_event_id': last_event_id}
        params.update((k, v) for k, v in filters.items() if v)
        body = self._get('/v1/events', params)
        if not isinstance(body, dict) or not isinstance(
                body.get('events'), list):
            raise HistoryError('GET /v1/events answered no "events" list')
        return valid_rows(body['events'])

    def lease(self, uuid):
        """The lease, or None if esi-leap no longer knows it."""
        body = self._get('/v1/leases/%s' % uuid, missing_ok=True)
        if body is not None and not isinstance(body, dict):
            raise HistoryError('GET /v1/leases/%s answered no object'
                               % uuid)
        return body


class HistoryPoller:
    """Reads new history rows and hands them to the pipeline.

    :param client: a :class:`HistoryClient`.
    :param pipeline: the :class:`esi_event_actions.pipeline.Pipeline`.
    :param options: the ``[poller]`` option group.
    """

    def __init__(self, client, pipeline, options):
        self.client = client
        self.pipeline = pipeline
        self.options = options

    @property
    def journal(self):
        return self.pipeline.journal

    def _filters(self):
        opts = self.options
        base = {'resource_type': opts.resource_type,
                'resource_uuid': opts.resource_uuid,
                'lessee_or_owner_id': opts.project}
        return [dict(base, event_type=t) for t in opts.event_types] or [base]

    def _read(self, since):
        rows = {}
        for filters in self._filters():
            for row in self.client.events(since, **filters):
                rows[row['id']] = row
        return [rows[key] for key in sorted(rows)]

    def poll(self):
        """One pass; returns the number of new jobs.

        :raises HistoryError: nothing was stored and the checkpoint did not
            move.
        """
        name = self.options.checkpoint_name
        last = self.journal.checkpoint(name)
        if last is None:
            last = self._begin(name)
        rows = self._read(max(0, last - self.options.lookback))
        seen = self.journal.seen(name)
        rows = [row for row in rows if row['id'] not in seen]
        leases = {}
        events = [self._event(row, leases) for row in rows]
        last = max([last] + [row['id'] for row in rows])
        jobs = self.pipeline.accept(events, checkpoint=journal.Checkpoint(
            name, last, seen=tuple(row['id'] for row in rows),
            forget_below=last - self.options.lookback))
        LOG.debug('Polled %d new row(s): %d new job(s), checkpoint %d',
                  len(rows), len(jobs), last)
        return len(jobs)

    def _begin(self, name):
        """Place a new checkpoint, acting on nothing older than it."""
        # Checked when the configuration was loaded: a word or an id.
        start = self.options.start_from
        last = int(start) if start.isdigit() else (
            0 if start == 'beginning' else None)
        rows = self._read(0 if last is None else max(
            0, last - self.options.lookback))
        if last is None:
            last = rows[-1]['id'] if rows else 0
        # The look-back window below a new checkpoint holds old events:
        # mark them handled so that they are never acted on.
        self.pipeline.accept([], checkpoint=journal.Checkpoint(
            name, last, seen=tuple(r['id'] for r in rows if r['id'] <= last)))
        LOG.info('Event history poller %s starts after event %d', name,
                 last)
        return last

    def _event(self, row, leases):
        if not any(rule.wants(row['event_type'])
                   for rule in self.pipeline.ruleset.rules):
            return to_event(row)
        uuid = row['object_uuid']
        if uuid not in leases:
            leases[uuid] = self.client.lease(uuid)
            if leases[uuid] is None:
                LOG.info('Lease %s of event %d is gone; acting on what the '
                         'event history says', uuid, row['id'])
        return to_event(row, leases[uuid])
