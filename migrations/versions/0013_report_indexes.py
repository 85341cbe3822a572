"""Indexes for the operator's reports and alerts: unprocessed webhook events, usage by month.

The admin console, the alerts and `flask billing replay --failed` ask for the events not yet
processed (a few, among millions kept), and the usage report for the tenants' rows of some months:
without these both read the whole table.

Revision ID: 0013
Revises: 0009
Create Date: 2026-11-30 14:00:00

"""
from alembic import op
import sqlalchemy as sa

# The predicate exactly as SQLAlchemy renders `BillingEvent.processed.is_(False)` on each database,
# so the planners see that a query's WHERE implies the index's.
UNPROCESSED = {"sqlite_where": sa.text("processed IS 0"), "postgresql_where": sa.text("processed IS false")}

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_billing_events_unprocessed', 'billing_events', ['created_at', 'id'], unique=False,
                    **UNPROCESSED)
    op.create_index('ix_usage_monthly_year_month', 'usage_monthly', ['year_month'], unique=False)


def downgrade():
    op.drop_index('ix_usage_monthly_year_month', table_name='usage_monthly')
    op.drop_index('ix_billing_events_unprocessed', table_name='billing_events', **UNPROCESSED)
