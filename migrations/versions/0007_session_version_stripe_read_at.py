"""Sessions that end, reads that order: users.session_version and entitlements.stripe_read_at.

users.session_version is part of every session and remember-me cookie's user id, so log-out and a
password change end them on the server. entitlements.stripe_read_at is when the Stripe read applied
last began, so an older read (taken before the lock) is never written over a newer one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_read_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_column('stripe_read_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
