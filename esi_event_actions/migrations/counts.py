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
"""The triggers that keep final_counts, shared by the revisions that
change which states they count.

Each revision passes the states it counts.  What a revision has created
stays in journals: change the statements here only by adding a new
revision that replaces them.
"""

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER jobs_final_insert AFTER INSERT ON jobs
       WHEN NEW.state IN %(final)s BEGIN
         UPDATE final_counts SET count = count + 1 WHERE state = NEW.state;
       END""",
    """CREATE TRIGGER jobs_final_update AFTER UPDATE OF state ON jobs
       WHEN OLD.state IS NOT NEW.state BEGIN
         UPDATE final_counts SET count = count - 1 WHERE state = OLD.state;
         UPDATE final_counts SET count = count + 1 WHERE state = NEW.state;
       END""",
    """CREATE TRIGGER jobs_final_delete AFTER DELETE ON jobs
       WHEN OLD.state IN %(final)s BEGIN
         UPDATE final_counts SET count = count - 1 WHERE state = OLD.state;
       END""",
]

# Statement triggers with transition tables: one update of the counts per
# statement, however many rows it changed (a group commit, a purge).
_PG_FUNCTION = """
CREATE FUNCTION jobs_final_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE final_counts f SET count = f.count - o.n
      FROM (SELECT state, count(*) AS n FROM old_rows
            WHERE state IN %(final)s GROUP BY state) o
      WHERE f.state = o.state;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    UPDATE final_counts f SET count = f.count + n.n
      FROM (SELECT state, count(*) AS n FROM new_rows
            WHERE state IN %(final)s GROUP BY state) n
      WHERE f.state = n.state;
  END IF;
  RETURN NULL;
END $$"""

_PG_TRIGGERS = [
    """CREATE TRIGGER jobs_final_insert AFTER INSERT ON jobs
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION jobs_final_counts()""",
    """CREATE TRIGGER jobs_final_update AFTER UPDATE ON jobs
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION jobs_final_counts()""",
    """CREATE TRIGGER jobs_final_delete AFTER DELETE ON jobs
       REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION jobs_final_counts()""",
]


# The same, taking every counts row in one order first: two transactions
# recording ends in different orders (done then dead, dead then done) would
# otherwise each hold the row the other waits for.
_PG_ORDERED_FUNCTION = _PG_FUNCTION.replace('BEGIN\n', (
    'BEGIN\n  PERFORM 1 FROM final_counts ORDER BY state FOR UPDATE;\n'), 1)


def create_triggers(op, final, ordered=False):
    """Count the jobs whose state is in ``final`` (SQL list text).

    :param ordered: on PostgreSQL, lock the counts rows in one order
        first (revision 0004 on).
    """
    if op.get_bind().dialect.name == 'postgresql':
        statements = [_PG_ORDERED_FUNCTION if ordered else _PG_FUNCTION
                      ] + _PG_TRIGGERS
    else:
        statements = _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement % {'final': final})


def replace_triggers(op, final, ordered=False):
    """For a later revision that counts other states, or otherwise."""
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for name in ('jobs_final_insert', 'jobs_final_update',
                 'jobs_final_delete'):
        op.execute('DROP TRIGGER %s%s' % (name, ' ON jobs' if postgresql
                                          else ''))
    if postgresql:
        op.execute('DROP FUNCTION jobs_final_counts()')
    create_triggers(op, final, ordered)
