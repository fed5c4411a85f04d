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
"""Counts of done and dead jobs, kept by triggers for any writer.

A scrape, /healthz and ``manage status`` read these two rows instead of
counting a table that grows with the history kept.  Triggers, rather than
the service's code, keep them, so that an instance of the previous release
writing to the same journal during a rolling upgrade keeps them right too.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

from esi_event_actions.migrations import counts

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# A new table and triggers: the previous release neither reads nor needs
# to know them.
expand_only = True

_FINAL = "('done', 'dead')"


def upgrade():
    op.create_table(
        'final_counts',
        sa.Column('state', sa.String(16), primary_key=True),
        sa.Column('count', sa.BigInteger, nullable=False))
    postgresql = op.get_bind().dialect.name == 'postgresql'
    if postgresql:
        # Instances of the previous release may be writing meanwhile: no
        # job may change state between this count and the triggers.
        op.execute('LOCK TABLE jobs IN SHARE MODE')
    op.execute("INSERT INTO final_counts (state, count) "
               "SELECT s.state, (SELECT count(*) FROM jobs "
               "WHERE jobs.state = s.state) FROM (SELECT 'done' AS state "
               "UNION ALL SELECT 'dead') s")
    counts.create_triggers(op, _FINAL)
