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
"""The journal's tables: the model that migrations bring a journal to.

esi_event_actions.migrations changes a journal's schema to match it (see
esi_event_actions.migration).
"""

import sqlalchemy as sa

from esi_event_actions.journal.model import PENDING

metadata = sa.MetaData()

jobs = sa.Table(
    'jobs', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('event_id', sa.String(255), nullable=False),
    sa.Column('rule', sa.String(255), nullable=False),
    sa.Column('event_type', sa.String(255), nullable=False),
    sa.Column('node', sa.String(255)),
    sa.Column('event', sa.Text, nullable=False),
    sa.Column('state', sa.String(16), nullable=False, default=PENDING),
    sa.Column('attempts', sa.Integer, nullable=False, default=0),
    sa.Column('created_at', sa.DateTime, nullable=False),
    # When the event happened, as its source says; jobs about one node run
    # in this order (then by id), not in the order the listener saw them.
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
    # The lease's uuid, which cancels its timed jobs (see migration 0006).
    sa.Column('lease', sa.String(255)),
    sa.UniqueConstraint('event_id', 'rule', name='uniq_jobs_event_rule'),
    sa.Index('ix_jobs_node_order', 'node', 'event_time', 'id'),
)

# Done jobs pile up; claims only ever look at unfinished ones.  Partial
# indexes over those keep a claim's cost independent of the history kept.
# The condition is literal SQL: a database only uses a partial index for a
# query whose condition it can see implies the index's, which bound
# parameters hide.
UNFINISHED_SQL = "state IN ('pending', 'running', 'retry')"
sa.Index('ix_jobs_unfinished_order', jobs.c.event_time, jobs.c.id,
         sqlite_where=sa.text(UNFINISHED_SQL),
         postgresql_where=sa.text(UNFINISHED_SQL))
sa.Index('ix_jobs_unfinished_node', jobs.c.node, jobs.c.event_time,
         jobs.c.id, sqlite_where=sa.text(UNFINISHED_SQL),
         postgresql_where=sa.text(UNFINISHED_SQL))

# Timed jobs wait, scheduled, for their time (next_attempt_at) or for an
# event of their lease that cancels them: neither costs a scan of the jobs
# waiting.
SCHEDULED_SQL = "state = 'scheduled'"
sa.Index('ix_jobs_scheduled_due', jobs.c.next_attempt_at,
         sqlite_where=sa.text(SCHEDULED_SQL),
         postgresql_where=sa.text(SCHEDULED_SQL))
sa.Index('ix_jobs_scheduled_lease', jobs.c.lease, jobs.c.rule,
         sqlite_where=sa.text(SCHEDULED_SQL),
         postgresql_where=sa.text(SCHEDULED_SQL))

# A rule's jobs of one lease, in journal order: on_count counts them when
# it journals one (see migration 0007).
sa.Index('ix_jobs_lease_rule', jobs.c.lease, jobs.c.rule, jobs.c.id)

# Each lease's context: a JSON object its actions add keys to, which its
# later jobs receive (see journal.contexts).
contexts = sa.Table(
    'contexts', metadata,
    sa.Column('lease', sa.String(255), primary_key=True),
    sa.Column('data', sa.Text, nullable=False),
    sa.Column('size', sa.Integer, nullable=False),
    sa.Column('updated_at', sa.DateTime, nullable=False),
    # When a job of a delete event of the lease ended: the retention counts
    # from then.
    sa.Column('ended_at', sa.DateTime),
)

# The event history poller's position: the highest event id it has handled.
checkpoints = sa.Table(
    'checkpoints', metadata,
    sa.Column('name', sa.String(255), primary_key=True),
    sa.Column('last_id', sa.BigInteger, nullable=False),
    sa.Column('updated_at', sa.DateTime, nullable=False),
)

# The history ids at or below the checkpoint that the poller has handled,
# kept for the look-back window only.
history_seen = sa.Table(
    'history_seen', metadata,
    sa.Column('name', sa.String(255), primary_key=True),
    sa.Column('event_id', sa.BigInteger, primary_key=True,
              autoincrement=False),
)

# How many jobs are done and dead, kept by triggers (migration 0002) in the
# transactions that change the jobs: reading them costs two rows, however
# much history the journal keeps.
final_counts = sa.Table(
    'final_counts', metadata,
    sa.Column('state', sa.String(16), primary_key=True),
    sa.Column('count', sa.BigInteger, nullable=False),
)

# The values a once_per rule has acted on, and the job that did (see
# Journal.add).
once_keys = sa.Table(
    'once_keys', metadata,
    sa.Column('rule', sa.String(255), primary_key=True),
    sa.Column('value', sa.String(255), primary_key=True),
    sa.Column('job_id', sa.Integer, nullable=False),
    sa.Column('ran_at', sa.DateTime, nullable=False),
)

# The running jobs of rules with max_concurrency, one row a slot: the
# primary key is what keeps instances from taking one slot twice.
rule_slots = sa.Table(
    'rule_slots', metadata,
    sa.Column('rule', sa.String(255), primary_key=True),
    sa.Column('slot', sa.Integer, primary_key=True, autoincrement=False),
    sa.Column('job_id', sa.Integer, nullable=False),
    sa.Column('owner', sa.String(255), nullable=False),
    sa.Column('lease_expires_at', sa.DateTime, nullable=False),
    sa.Index('ix_rule_slots_job', 'job_id'),
)

# Events whose jobs the journal refused for a reason no retry can change
# (see Journal.reject): kept for the operator instead of offered again.
rejected = sa.Table(
    'rejected', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('event_id', sa.String(255), nullable=False),
    sa.Column('event_type', sa.String(255), nullable=False),
    sa.Column('rules', sa.Text, nullable=False),
    sa.Column('reason', sa.Text, nullable=False),
    sa.Column('event', sa.Text, nullable=False),
    sa.Column('rejected_at', sa.DateTime, nullable=False),
)

journal_meta = sa.Table(
    'journal_meta', metadata,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.String(255), nullable=False),
)
