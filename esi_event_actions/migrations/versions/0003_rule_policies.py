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
"""Rule policies: once_per keys, concurrency slots, the skipped state.

``once_keys`` holds, for each rule with ``once_per``, the values it has
acted on and the job that did.  ``rule_slots`` holds the running jobs of
each rule with ``max_concurrency``, one row a slot, so that instances
sharing the journal never exceed it.  Skipped jobs, a new final state, are
counted with the done and dead ones.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

from esi_event_actions.migrations import counts

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# New tables the previous release never reads, and a final state its
# claims (on unfinished states only) never see.
expand_only = True


def upgrade():
    op.create_table(
        'once_keys',
        sa.Column('rule', sa.String(255), primary_key=True),
        sa.Column('value', sa.String(255), primary_key=True),
        sa.Column('job_id', sa.Integer, nullable=False),
        sa.Column('ran_at', sa.DateTime, nullable=False))
    op.create_table(
        'rule_slots',
        sa.Column('rule', sa.String(255), primary_key=True),
        sa.Column('slot', sa.Integer, primary_key=True,
                  autoincrement=False),
        sa.Column('job_id', sa.Integer, nullable=False),
        sa.Column('owner', sa.String(255), nullable=False),
        sa.Column('lease_expires_at', sa.DateTime, nullable=False))
    op.create_index('ix_rule_slots_job', 'rule_slots', ['job_id'])
    op.execute("INSERT INTO final_counts (state, count) SELECT 'skipped', "
               "(SELECT count(*) FROM jobs WHERE state = 'skipped')")
    counts.replace_triggers(op, "('done', 'dead', 'skipped')")
