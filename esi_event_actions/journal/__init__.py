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
"""The journal: every job the service owes, durable before it is acked.

- :mod:`.model`: jobs, their states and ends, claims, checkpoints;
- :mod:`.schema`: the tables; :mod:`.statements`: the queries, built once;
- :mod:`.database`: the engine, transactions, the instance lock;
- :mod:`.store`: adding, claiming, holding and recovering jobs;
- :mod:`.ends`: recording how attempts ended, many per transaction;
- :mod:`.once`: the once_per keys; :mod:`.count`: on_count's count;
- :mod:`.checkpoints`: a poller's place;
- :mod:`.contexts`: what a lease's actions wrote, for its later jobs;
- :mod:`.admin`: what operators read and repair;
- :mod:`.errors`: failures, and whether a retry can help.
"""

# Besides the Journal, the names the rest of the service uses, in one
# place.
from esi_event_actions import exception
from esi_event_actions.journal import admin
from esi_event_actions.journal import checkpoints
from esi_event_actions.journal import contexts
from esi_event_actions.journal.database import lock_instance  # noqa: F401
from esi_event_actions.journal import ends
from esi_event_actions.journal.errors import JournalError  # noqa: F401
from esi_event_actions.journal.errors import permanent  # noqa: F401
from esi_event_actions.journal.errors import reason  # noqa: F401
from esi_event_actions.journal.model import *  # noqa: F401,F403
from esi_event_actions.journal import store
from esi_event_actions.journal.store import REJECTED_EVENT_LIMIT  # noqa


class Journal(store.Store, ends.Ends, checkpoints.Checkpoints, admin.Admin,
              contexts.Contexts):
    """Durable job store on SQLAlchemy (SQLite or PostgreSQL)."""


def check_config(conf):
    """Open the journal once: its URL, schema version and reachability.

    :raises ConfigErrors: naming the [journal] connection option.
    """
    try:
        Journal(conf.journal.connection,
                conf.journal.sqlite_synchronous).close()
    except Exception as exc:
        raise exception.ConfigErrors([exception.ConfigError(
            'cannot open the journal: %s' % exc, section='journal',
            key='connection')])
