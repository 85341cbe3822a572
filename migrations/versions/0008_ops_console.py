"""Operations console: alert states, the ops audit trail, failed rollover runs.

users.is_admin already exists (0001); this adds what the alerts, the admin actions and the
rollover alert keep.

Revision ID: 0008
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alert_states',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('firing', sa.Boolean(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('figure', sa.String(length=500), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_alert_states'))
    )
    op.create_table('ops_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=True),
    sa.Column('detail_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_audit'))
    )
    op.create_index('ix_ops_audit_created_at', 'ops_audit', ['created_at'], unique=False)
    op.create_table('rollover_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('year_month', sa.String(length=7), nullable=False),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('trigger', sa.String(length=100), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollover_failures'))
    )
    op.create_index('ix_rollover_failures_year_month', 'rollover_failures', ['year_month'], unique=False)


def downgrade():
    op.drop_index('ix_rollover_failures_year_month', table_name='rollover_failures')
    op.drop_table('rollover_failures')
    op.drop_index('ix_ops_audit_created_at', table_name='ops_audit')
    op.drop_table('ops_audit')
    op.drop_table('alert_states')
