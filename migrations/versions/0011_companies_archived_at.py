"""Companies can be archived: companies.archived_at (NULL while the company is active).

Revision ID: 0011
Revises: 0007
Create Date: 2026-11-30 10:40:00

An archived company frees its place in the plan's allowance and takes no new work; its books stay.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
