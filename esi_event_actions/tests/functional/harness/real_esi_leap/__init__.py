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

"""The real esi-leap 1.0 API and manager as a peer for functional tests.

esi-leap runs from PyPI (``esi-leap==1.0.0``) in a virtualenv of its own
(:mod:`.venv`), because its requirements clash with ours. To
build it ahead of a run::

    python -m esi_event_actions.tests.functional.harness.real_esi_leap install

Each :class:`~.server.EsiLeap` runs ``esi-leap-api`` and
``esi-leap-manager`` (the latter with a short periodic interval) on
loopback, with a SQLite database, ``dummy_node`` resources described by
JSON files (:mod:`.data`), no Keystone and no Ironic (a stub
answers for both, see :mod:`.stub`) and notifications on a
RabbitMQ, by default the process-wide :func:`.broker.shared_broker`.
Tests drive it over REST as owner or lessee (:mod:`.client`),
which makes esi-leap emit genuine ``esi_leap.lease.*`` notifications and
a genuine event history (``GET /v1/events``).

Every instance publishes on its own topic
(:attr:`~.server.EsiLeap.topic`) unless told otherwise, so that
test workers sharing one broker never consume each other's
notifications. For a manual look::

    python -m esi_event_actions.tests.functional.harness.real_esi_leap run
"""

import fixtures

from esi_event_actions.tests.functional.harness import broker
from esi_event_actions.tests.functional.harness import procs
from esi_event_actions.tests.functional.harness.real_esi_leap import server


def _start_shared():
    esi_leap = server.EsiLeap(broker.shared_broker().transport_url)
    esi_leap.start()
    return esi_leap


_SHARED = procs.ProcessWide(_start_shared)


def shared_esi_leap():
    """Return the esi-leap shared by all tests of this process.

    It publishes on :func:`broker.shared_broker` and is started on first
    use and stopped at interpreter exit. Tests sharing it must keep to
    their own nodes and projects
    (:meth:`~.server.EsiLeap.add_node`,
    :meth:`~.server.EsiLeap.add_project`) and filter what they
    read by them.
    """
    return _SHARED.get()


class EsiLeapFixture(fixtures.Fixture):
    """Provide a running esi-leap to a test.

    By default this is the process-wide :func:`shared_esi_leap`. Pass
    ``private=True`` (and any :class:`~.server.EsiLeap` argument)
    for a dedicated one, stopped at cleanup, e.g. on a private broker or a
    given topic.

    :ivar esi_leap: the :class:`~.server.EsiLeap`
    :ivar api_url: its API's root URL
    :ivar topic: the topic its notifications go to
    """

    def __init__(self, private=False, transport_url=None, **kwargs):
        super(EsiLeapFixture, self).__init__()
        if kwargs and not private:
            raise ValueError('options need private=True')
        self.private = private
        self.transport_url = transport_url
        self.kwargs = kwargs
        self.esi_leap = None
        self.api_url = None
        self.topic = None

    def _setUp(self):
        if self.private:
            url = self.transport_url or broker.shared_broker().transport_url
            self.esi_leap = server.EsiLeap(url, **self.kwargs)
            self.addCleanup(self.esi_leap.stop)
            self.esi_leap.start()
        else:
            self.esi_leap = shared_esi_leap()
        self.transport_url = self.esi_leap.transport_url
        self.api_url = self.esi_leap.api_url
        self.topic = self.esi_leap.topic
