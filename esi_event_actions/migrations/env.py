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
"""Run the migrations on the connection esi_event_actions.migration gives.

The caller holds the transaction (and on PostgreSQL the schema lock), so
that checking the revision and changing it are one step.
"""

from alembic import context

from esi_event_actions.journal import schema

if context.is_offline_mode():
    raise RuntimeError('the journal migrations run on a live database '
                       'only: use esi-event-actions-manage db upgrade')

context.configure(connection=context.config.attributes['connection'],
                  target_metadata=schema.metadata)
with context.begin_transaction():
    context.run_migrations()
