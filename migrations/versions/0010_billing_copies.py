"""Billing copies: webhook-fed invoices and card on file, the next-invoice preview cache, the sent-email log.

Revision ID: 0010
Revises: 0011
Create Date: 2026-11-30 10:34:55.454183

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('billing_cards',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('payment_method_id', sa.String(length=255), nullable=False),
    sa.Column('brand', sa.String(length=32), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('exp_month', sa.Integer(), nullable=False),
    sa.Column('exp_year', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('exp_month BETWEEN 1 AND 12', name=op.f('ck_billing_cards_exp_month_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_cards_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_billing_cards'))
    )
    op.create_table('billing_invoices',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.String(length=255), nullable=True),
    sa.Column('number', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_rank', sa.Integer(), nullable=False),
    sa.Column('billing_reason', sa.String(length=40), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('amount_due', sa.Integer(), nullable=False),
    sa.Column('amount_paid', sa.Integer(), nullable=False),
    sa.Column('amount_remaining', sa.Integer(), nullable=False),
    sa.Column('attempt_count', sa.Integer(), nullable=False),
    sa.Column('next_payment_attempt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hosted_invoice_url', sa.Text(), nullable=True),
    sa.Column('invoice_pdf', sa.Text(), nullable=True),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stripe_created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_event_created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'open', 'paid', 'uncollectible', 'void')", name=op.f('ck_billing_invoices_status_known')),
    sa.CheckConstraint('amount_due >= 0 AND amount_paid >= 0 AND amount_remaining >= 0 AND attempt_count >= 0', name=op.f('ck_billing_invoices_amounts_nonnegative')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_invoices_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_invoices')),
    sa.UniqueConstraint('stripe_invoice_id', name=op.f('uq_billing_invoices_stripe_invoice_id'))
    )
    with op.batch_alter_table('billing_invoices', schema=None) as batch_op:
        batch_op.create_index('ix_billing_invoices_tenant_created', ['tenant_id', 'stripe_created'], unique=False)

    op.create_table('billing_emails',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('cause_key', sa.String(length=300), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=True),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name=op.f('ck_billing_emails_status_known')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_billing_emails_attempts_nonnegative')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_emails_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_emails')),
    sa.UniqueConstraint('cause_key', name=op.f('uq_billing_emails_cause_key'))
    )
    with op.batch_alter_table('billing_emails', schema=None) as batch_op:
        batch_op.create_index('ix_billing_emails_status', ['status'], unique=False)
        batch_op.create_index('ix_billing_emails_tenant_created', ['tenant_id', 'created_at'], unique=False)

    op.create_table('billing_previews',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.String(length=255), nullable=False),
    sa.Column('amount_due', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('bills_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.Column('marked_stale_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_due IS NULL OR amount_due >= 0', name=op.f('ck_billing_previews_amount_nonnegative')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_previews_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_billing_previews'))
    )


def downgrade():
    op.drop_table('billing_previews')
    with op.batch_alter_table('billing_emails', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_emails_tenant_created')
        batch_op.drop_index('ix_billing_emails_status')

    op.drop_table('billing_emails')
    with op.batch_alter_table('billing_invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_invoices_tenant_created')

    op.drop_table('billing_invoices')
    op.drop_table('billing_cards')
