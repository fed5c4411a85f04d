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
"""Rejected events: what could not be journalled, and why.

An event whose jobs the journal refuses for a reason no retry can change
(a value the database cannot store) is recorded here and acknowledged,
instead of being offered again for ever and holding up every event
behind it.

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# A new table the previous release never reads.
expand_only = True


def upgrade():
    op.create_table(
        'rejected',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(255), nullable=False),
        sa.Column('event_type', sa.String(255), nullable=False),
        sa.Column('rules', sa.Text, nullable=False),
        sa.Column('reason', sa.Text, nullable=False),
        sa.Column('event', sa.Text, nullable=False),
        sa.Column('rejected_at', sa.DateTime, nullable=False))
