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
"""Lease contexts: what a lease's actions wrote, for its later jobs.

A table of its own, which the previous release neither reads nor minds.

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# A new table only: the previous release runs on it.
expand_only = True


def upgrade():
    op.create_table(
        'contexts',
        sa.Column('lease', sa.String(255), primary_key=True),
        sa.Column('data', sa.Text, nullable=False),
        sa.Column('size', sa.Integer, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False),
        # When a delete event of the lease ended a job: the retention counts
        # from then.
        sa.Column('ended_at', sa.DateTime))
