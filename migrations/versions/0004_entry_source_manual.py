"""Journal entries: a proposal's source may be 'manual' (the user chose the account before posting).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 05:00:00

Autogenerate does not see a changed check constraint, so this one is written by hand. Batch mode
rebuilds the table on SQLite, which cannot alter a constraint in place.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD = "source IN ('history_counterparty', 'history_pattern', 'keyword', 'fallback')"
NEW = "source IN ('history_counterparty', 'history_pattern', 'keyword', 'fallback', 'manual')"


def upgrade():
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_journal_entries_source_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_journal_entries_source_known'), NEW)


def downgrade():
    op.execute("UPDATE journal_entries SET source = 'fallback' WHERE source = 'manual'")
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_journal_entries_source_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_journal_entries_source_known'), OLD)
