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
"""Workers: run journal jobs, in order per node, in parallel across nodes.

- :mod:`.queues`: the jobs waiting in memory, per node, and the room left;
- :mod:`.execute`: one attempt at a job, and how it ended;
- :mod:`.recorder`: the group commit of the ends;
- :mod:`.claimer`: claims from the journal, lease renewal, pruning;
- :mod:`.pool`: the threads, the hand-off from the sources, stopping.
"""

from esi_event_actions.workers.execute import DETAIL_LIMIT  # noqa: F401
from esi_event_actions.workers.execute import Verdict  # noqa: F401
from esi_event_actions.workers.pool import HANDOFF_WAIT  # noqa: F401
from esi_event_actions.workers.pool import new_owner  # noqa: F401
from esi_event_actions.workers.pool import pool_options  # noqa: F401
from esi_event_actions.workers.pool import QUEUED_PER_WORKER  # noqa: F401
from esi_event_actions.workers.pool import WorkerPool  # noqa: F401
