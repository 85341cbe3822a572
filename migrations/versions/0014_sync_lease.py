"""Coalesced Stripe reads: entitlements.sync_lease_at, queued webhook events.

While one delivery reads a tenant's subscription from Stripe (it holds the tenant's lease), other
deliveries of the tenant's subscription events are stored as `queued` and acknowledged; the lease
holder's next read covers them. billing_events.subscription_id names the subscription a queued event
waits for; a partial index finds a tenant's events still waiting for a read.

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-30 17:00:00

"""
from alembic import op
import sqlalchemy as sa

# The predicate exactly as SQLAlchemy renders the queries' `subscription_id IS NOT NULL` and `processed IS false`.
WAITING = {"sqlite_where": sa.text("subscription_id IS NOT NULL AND processed IS 0"),
           "postgresql_where": sa.text("subscription_id IS NOT NULL AND processed IS false")}
OLD = "outcome IN ('pending', 'applied', 'ignored', 'stale', 'failed')"
NEW = "outcome IN ('pending', 'queued', 'applied', 'ignored', 'stale', 'failed')"

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def _outcomes(check: str) -> None:
    with op.batch_alter_table('billing_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_billing_events_outcome_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_billing_events_outcome_known'), check)


def upgrade():
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_lease_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('billing_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.String(length=255), nullable=True))
    _outcomes(NEW)
    op.create_index('ix_billing_events_waiting', 'billing_events',
                    ['tenant_id', 'subscription_id', 'outcome', 'processing_started_at'], unique=False, **WAITING)


def downgrade():
    op.drop_index('ix_billing_events_waiting', table_name='billing_events', **WAITING)
    op.execute("UPDATE billing_events SET outcome = 'pending' WHERE outcome = 'queued'")
    _outcomes(OLD)
    with op.batch_alter_table('billing_events', schema=None) as batch_op:
        batch_op.drop_column('subscription_id')
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_column('sync_lease_at')
