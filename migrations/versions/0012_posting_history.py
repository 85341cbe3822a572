"""posting_history: per company, counterparty key or description pattern, and account, how many posted entries.

Revision ID: 0012
Revises: 0013
Create Date: 2026-11-30 13:40:00

The proposer read its history by joining every transaction with the same key to its entry on each
proposal, which grows with the tenant's ledger. Posting now counts into this table in the same unit
of work; the backfill counts the entries posted so far in one set-based statement.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0013'
branch_labels = None
depends_on = None

# The same count the proposer made from the ledger: posted entries by their transaction's company, key
# and the entry's account; transactions without a key (NULL or '') have no history to share.
BACKFILL = """
INSERT INTO posting_history (company_id, kind, match_key, account_id, n)
SELECT t.company_id, 'counterparty', t.counterparty_key, je.account_id, count(*)
FROM journal_entries je JOIN transactions t ON t.id = je.txn_id
WHERE je.status = 'posted' AND t.counterparty_key IS NOT NULL AND t.counterparty_key <> ''
GROUP BY t.company_id, t.counterparty_key, je.account_id
UNION ALL
SELECT t.company_id, 'pattern', t.pattern, je.account_id, count(*)
FROM journal_entries je JOIN transactions t ON t.id = je.txn_id
WHERE je.status = 'posted' AND t.pattern IS NOT NULL AND t.pattern <> ''
GROUP BY t.company_id, t.pattern, je.account_id
"""


def upgrade():
    op.create_table('posting_history',
    sa.Column('company_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('match_key', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('counterparty', 'pattern')", name=op.f('ck_posting_history_kind_known')),
    sa.CheckConstraint('n > 0', name=op.f('ck_posting_history_n_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_posting_history_account_id_accounts')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_posting_history_company_id_companies'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('company_id', 'kind', 'match_key', 'account_id', name=op.f('pk_posting_history'))
    )
    op.execute(BACKFILL)


def downgrade():
    op.drop_table('posting_history')
