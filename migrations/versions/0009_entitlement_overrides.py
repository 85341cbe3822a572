"""Support tools: manual entitlement overrides in their own table, and why on every audit row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:45:00

"""
from alembic import op
import sqlalchemy as sa


# The entitlement statuses as of this revision (webapp.models.billing.SUBSCRIPTION_STATUSES).
SUBSCRIPTION_STATUSES = ("none", "trialing", "active", "past_due", "unpaid", "canceled",
                         "incomplete", "incomplete_expired", "paused")

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('entitlement_overrides',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('plan', sa.String(length=20), nullable=False),
    sa.Column('subscription_status', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_on_paid_invoice', sa.Boolean(), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=200), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('subscription_status IN (' + ', '.join(f"'{s}'" for s in SUBSCRIPTION_STATUSES) + ')',
                       name=op.f('ck_entitlement_overrides_status_known')),
    sa.CheckConstraint('until IS NULL OR until > starts_at', name=op.f('ck_entitlement_overrides_until_after_start')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_entitlement_overrides_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entitlement_overrides'))
    )
    op.create_index('ix_entitlement_overrides_tenant_created', 'entitlement_overrides', ['tenant_id', 'created_at'],
                    unique=False)
    op.create_index('uq_entitlement_overrides_open', 'entitlement_overrides', ['tenant_id'], unique=True,
                    sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
    with op.batch_alter_table('billing_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('billing_audit', schema=None) as batch_op:
        batch_op.drop_column('reason')
    op.drop_index('uq_entitlement_overrides_open', table_name='entitlement_overrides',
                  sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_entitlement_overrides_tenant_created', table_name='entitlement_overrides')
    op.drop_table('entitlement_overrides')
