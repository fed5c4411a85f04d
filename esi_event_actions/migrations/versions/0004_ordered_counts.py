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
"""On PostgreSQL, the counts triggers lock their rows in one order.

Two instances recording ends in different orders could deadlock on the
rows of final_counts (one database aborts a transaction, which the
recorder retries): the trigger function now takes every counts row in
state order before it changes any.  Nothing changes on SQLite, whose
writers take turns on the whole database.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from esi_event_actions.migrations import counts

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# The same triggers, counting the same states: nothing the previous
# release reads changes.
expand_only = True


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        counts.replace_triggers(op, "('done', 'dead', 'skipped')",
                                ordered=True)
