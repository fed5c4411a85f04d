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
"""An index of the jobs by lease and rule, for on_count.

A rule with on_count counts its jobs of a lease each time it journals
one: the index keeps that to the lease's own jobs, however many the
journal keeps.  The previous release neither needs nor minds it.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# An index only: the previous release runs on it.
expand_only = True


def upgrade():
    op.create_index('ix_jobs_lease_rule', 'jobs', ['lease', 'rule', 'id'])
