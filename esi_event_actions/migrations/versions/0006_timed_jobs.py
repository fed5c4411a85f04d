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
"""Timed jobs: a lease column, indexes over the scheduled jobs, and the
count of the cancelled ones.

A timed rule's job waits in the journal, scheduled, until its time; an
event of its lease may cancel it first.  The lease column is new; the
previous release neither writes nor reads it, and never sees a scheduled
job unless this release wrote one.  The count triggers count the
cancelled state too.

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

from esi_event_actions.migrations import counts

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# A nullable column, two indexes and a count: the previous release runs on
# them.
expand_only = True

_SCHEDULED = "state = 'scheduled'"


def upgrade():
    # SQLite adds a nullable column in place: no copy of the table, and
    # its triggers stay.
    op.add_column('jobs', sa.Column('lease', sa.String(255)))
    op.create_index('ix_jobs_scheduled_due', 'jobs', ['next_attempt_at'],
                    sqlite_where=sa.text(_SCHEDULED),
                    postgresql_where=sa.text(_SCHEDULED))
    op.create_index('ix_jobs_scheduled_lease', 'jobs', ['lease', 'rule'],
                    sqlite_where=sa.text(_SCHEDULED),
                    postgresql_where=sa.text(_SCHEDULED))
    op.execute("INSERT INTO final_counts (state, count) SELECT 'cancelled', "
               "(SELECT count(*) FROM jobs WHERE state = 'cancelled')")
    counts.replace_triggers(op, "('done', 'dead', 'skipped', 'cancelled')",
                            ordered=op.get_bind().dialect.name ==
                            'postgresql')
