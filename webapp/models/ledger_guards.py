"""Database triggers that keep posted journal entries and their lines immutable, on PostgreSQL and SQLite.

Real databases get these triggers from migration 0006, which keeps its own frozen copy of the SQL
(migrations never import app code, and a migration must not change when this module does). This
module attaches the same SQL to `create_all`, which the tests use; tests/test_ledger_immutability.py
checks that both paths leave identical triggers, so a change here needs a new migration.

What they allow is exactly the app's life cycle of an entry: a proposed entry and its lines may be
inserted, updated (re-pointed, posted: status and posted_at in one UPDATE) and deleted; once the
entry's status is 'posted', any UPDATE or DELETE of it, and any INSERT, UPDATE or DELETE of its
lines, is refused. A cascade from deleting its transaction, company or tenant is a DELETE too, so
those are refused while a posted entry hangs off them.

SQLite drops a table's triggers with the table, so a batch migration that rebuilds journal_entries
or journal_lines must create these triggers again.
"""
from __future__ import annotations

from sqlalchemy import DDL, Table, event

ENTRY_MESSAGE = "posted journal entries cannot be changed or deleted"
LINE_MESSAGE = "lines of a posted journal entry cannot be added, changed or deleted"

# PostgreSQL raises SQLSTATE 23001 (restrict_violation) and SQLite SQLITE_CONSTRAINT, so both
# reach SQLAlchemy as IntegrityError.
POSTGRESQL_ENTRIES = (
    f"""CREATE OR REPLACE FUNCTION journal_entries_refuse_posted_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'posted' THEN
        RAISE EXCEPTION '{ENTRY_MESSAGE}'
            USING ERRCODE = 'restrict_violation', DETAIL = 'journal entry ' || OLD.id || ' is posted';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$""",
    """CREATE TRIGGER journal_entries_posted_immutable
BEFORE UPDATE OR DELETE ON journal_entries
FOR EACH ROW EXECUTE FUNCTION journal_entries_refuse_posted_change()""",
)

# FOR SHARE locks the entry row: a line change waits for a concurrent posting of its entry (and
# then sees it posted), and a posting waits for a line change in flight, so neither slips past.
POSTGRESQL_LINES = (
    f"""CREATE OR REPLACE FUNCTION journal_lines_refuse_posted_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry_status text;
BEGIN
    FOR entry_status IN
        SELECT status FROM journal_entries
        WHERE id IN (CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.entry_id END,
                     CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.entry_id END)
        ORDER BY id
        FOR SHARE
    LOOP
        IF entry_status = 'posted' THEN
            RAISE EXCEPTION '{LINE_MESSAGE}'
                USING ERRCODE = 'restrict_violation';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$""",
    """CREATE TRIGGER journal_lines_posted_immutable
BEFORE INSERT OR UPDATE OR DELETE ON journal_lines
FOR EACH ROW EXECUTE FUNCTION journal_lines_refuse_posted_change()""",
)

SQLITE_ENTRIES = (
    f"""CREATE TRIGGER journal_entries_posted_no_update
BEFORE UPDATE ON journal_entries FOR EACH ROW WHEN OLD.status = 'posted'
BEGIN
    SELECT RAISE(ABORT, '{ENTRY_MESSAGE}');
END""",
    f"""CREATE TRIGGER journal_entries_posted_no_delete
BEFORE DELETE ON journal_entries FOR EACH ROW WHEN OLD.status = 'posted'
BEGIN
    SELECT RAISE(ABORT, '{ENTRY_MESSAGE}');
END""",
)

SQLITE_LINES = (
    f"""CREATE TRIGGER journal_lines_posted_no_insert
BEFORE INSERT ON journal_lines FOR EACH ROW
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND status = 'posted')
BEGIN
    SELECT RAISE(ABORT, '{LINE_MESSAGE}');
END""",
    f"""CREATE TRIGGER journal_lines_posted_no_update
BEFORE UPDATE ON journal_lines FOR EACH ROW
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id IN (OLD.entry_id, NEW.entry_id) AND status = 'posted')
BEGIN
    SELECT RAISE(ABORT, '{LINE_MESSAGE}');
END""",
    f"""CREATE TRIGGER journal_lines_posted_no_delete
BEFORE DELETE ON journal_lines FOR EACH ROW
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = OLD.entry_id AND status = 'posted')
BEGIN
    SELECT RAISE(ABORT, '{LINE_MESSAGE}');
END""",
)


def _listen(table: Table, when: str, statements: tuple[str, ...], dialect: str) -> None:
    for statement in statements:
        event.listen(table, when, DDL(statement).execute_if(dialect=dialect))


def attach_ledger_guards(entries: Table, lines: Table) -> None:
    """Have create_all add the triggers after creating the two tables (drop_all drops the functions)."""
    _listen(entries, "after_create", POSTGRESQL_ENTRIES, "postgresql")
    _listen(lines, "after_create", POSTGRESQL_LINES, "postgresql")
    _listen(entries, "after_create", SQLITE_ENTRIES, "sqlite")
    _listen(lines, "after_create", SQLITE_LINES, "sqlite")
    # Dropping a table drops its triggers; PostgreSQL keeps the trigger functions unless told.
    event.listen(lines, "after_drop",
                 DDL("DROP FUNCTION IF EXISTS journal_lines_refuse_posted_change()").execute_if(dialect="postgresql"))
    event.listen(entries, "after_drop",
                 DDL("DROP FUNCTION IF EXISTS journal_entries_refuse_posted_change()").execute_if(dialect="postgresql"))
