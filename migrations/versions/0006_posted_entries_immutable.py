"""Posted journal entries and their lines are immutable: triggers refuse changing or deleting them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:00:00

Written by hand: autogenerate does not see triggers. A journal entry may be inserted, changed,
posted (status 'proposed' -> 'posted' with posted_at, one UPDATE) and deleted while proposed, and
so may its lines; once it is posted, UPDATE and DELETE of the entry, and INSERT, UPDATE and DELETE
of its lines, raise. Deleting the entry's transaction, company or tenant cascades into a DELETE of
the entry, which the trigger refuses, so the foreign keys keep ON DELETE CASCADE: a RESTRICT
foreign key would also refuse deleting a transaction or company that has only proposals, and
changing it would rebuild journal_entries on SQLite (batch mode).

The SQL is a frozen copy of webapp/models/ledger_guards.py (which gives create_all the same
triggers); migrations never import app code. tests/test_ledger_immutability.py checks the two
agree. SQLite drops a table's triggers with the table: a later batch migration of journal_entries
or journal_lines must create them again.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

POSTGRESQL_UPGRADE = (
    """CREATE OR REPLACE FUNCTION journal_entries_refuse_posted_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'posted' THEN
        RAISE EXCEPTION 'posted journal entries cannot be changed or deleted'
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
    """CREATE OR REPLACE FUNCTION journal_lines_refuse_posted_change() RETURNS trigger
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
            RAISE EXCEPTION 'lines of a posted journal entry cannot be added, changed or deleted'
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

POSTGRESQL_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS journal_lines_posted_immutable ON journal_lines",
    "DROP FUNCTION IF EXISTS journal_lines_refuse_posted_change()",
    "DROP TRIGGER IF EXISTS journal_entries_posted_immutable ON journal_entries",
    "DROP FUNCTION IF EXISTS journal_entries_refuse_posted_change()",
)

SQLITE_UPGRADE = (
    """CREATE TRIGGER journal_entries_posted_no_update
BEFORE UPDATE ON journal_entries FOR EACH ROW WHEN OLD.status = 'posted'
BEGIN
    SELECT RAISE(ABORT, 'posted journal entries cannot be changed or deleted');
END""",
    """CREATE TRIGGER journal_entries_posted_no_delete
BEFORE DELETE ON journal_entries FOR EACH ROW WHEN OLD.status = 'posted'
BEGIN
    SELECT RAISE(ABORT, 'posted journal entries cannot be changed or deleted');
END""",
    """CREATE TRIGGER journal_lines_posted_no_insert
BEFORE INSERT ON journal_lines FOR EACH ROW
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND status = 'posted')
BEGIN
    SELECT RAISE(ABORT, 'lines of a posted journal entry cannot be added, changed or deleted');
END""",
    """CREATE TRIGGER journal_lines_posted_no_update
BEFORE UPDATE ON journal_lines FOR EACH ROW
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id IN (OLD.entry_id, NEW.entry_id) AND status = 'posted')
BEGIN
    SELECT RAISE(ABORT, 'lines of a posted journal entry cannot be added, changed or deleted');
END""",
    """CREATE TRIGGER journal_lines_posted_no_delete
BEFORE DELETE ON journal_lines FOR EACH ROW
WHEN EXISTS (SELECT 1 FROM journal_entries WHERE id = OLD.entry_id AND status = 'posted')
BEGIN
    SELECT RAISE(ABORT, 'lines of a posted journal entry cannot be added, changed or deleted');
END""",
)

SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS journal_lines_posted_no_delete",
    "DROP TRIGGER IF EXISTS journal_lines_posted_no_update",
    "DROP TRIGGER IF EXISTS journal_lines_posted_no_insert",
    "DROP TRIGGER IF EXISTS journal_entries_posted_no_delete",
    "DROP TRIGGER IF EXISTS journal_entries_posted_no_update",
)


def _run(statements):
    for statement in statements:
        op.execute(statement)


def upgrade():
    dialect = op.get_context().dialect.name
    if dialect == 'postgresql':
        _run(POSTGRESQL_UPGRADE)
    elif dialect == 'sqlite':
        _run(SQLITE_UPGRADE)
    else:
        raise NotImplementedError(f"no ledger triggers for {dialect}")


def downgrade():
    dialect = op.get_context().dialect.name
    if dialect == 'postgresql':
        _run(POSTGRESQL_DOWNGRADE)
    elif dialect == 'sqlite':
        _run(SQLITE_DOWNGRADE)
    else:
        raise NotImplementedError(f"no ledger triggers for {dialect}")
