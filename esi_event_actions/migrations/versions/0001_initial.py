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
"""The journal as it was before migrations: journal_meta schema version 1.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# The release before migrations refuses journal_meta version 2, which every
# migrated journal has.
expand_only = False

_UNFINISHED = sa.text("state IN ('pending', 'running', 'retry')")


def upgrade():
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(255), nullable=False),
        sa.Column('rule', sa.String(255), nullable=False),
        sa.Column('event_type', sa.String(255), nullable=False),
        sa.Column('node', sa.String(255)),
        sa.Column('event', sa.Text, nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('event_time', sa.DateTime, nullable=False),
        sa.Column('started_at', sa.DateTime),
        sa.Column('finished_at', sa.DateTime),
        sa.Column('next_attempt_at', sa.DateTime),
        sa.Column('owner', sa.String(255)),
        sa.Column('lease_expires_at', sa.DateTime),
        sa.Column('exit_status', sa.Integer),
        sa.Column('duration', sa.Float),
        sa.Column('detail', sa.Text),
        sa.Column('output', sa.Text),
        sa.UniqueConstraint('event_id', 'rule', name='uniq_jobs_event_rule'))
    op.create_index('ix_jobs_node_order', 'jobs',
                    ['node', 'event_time', 'id'])
    op.create_index('ix_jobs_unfinished_order', 'jobs', ['event_time', 'id'],
                    sqlite_where=_UNFINISHED, postgresql_where=_UNFINISHED)
    op.create_index('ix_jobs_unfinished_node', 'jobs',
                    ['node', 'event_time', 'id'],
                    sqlite_where=_UNFINISHED, postgresql_where=_UNFINISHED)
    op.create_table(
        'checkpoints',
        sa.Column('name', sa.String(255), primary_key=True),
        sa.Column('last_id', sa.BigInteger, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False))
    op.create_table(
        'history_seen',
        sa.Column('name', sa.String(255), primary_key=True),
        sa.Column('event_id', sa.BigInteger, primary_key=True,
                  autoincrement=False))
    op.create_table(
        'journal_meta',
        sa.Column('key', sa.String(64), primary_key=True),
        sa.Column('value', sa.String(255), nullable=False))
