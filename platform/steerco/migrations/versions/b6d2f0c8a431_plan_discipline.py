"""plan discipline: frozen plan baselines, plan change requests, reporting periods

Revision ID: b6d2f0c8a431
Revises: 9a7e3c1d5b20
Create Date: 2026-11-28 01:00:00

- ``plan_baseline``: a grid's plan when its record reached a ``plan_frozen`` stage;
- ``transition_request.changes``: the grid cells a plan change request proposes;
- ``reporting_period``: a period opened (owners reminded) or locked (changes need approval).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'b6d2f0c8a431'
down_revision = '9a7e3c1d5b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'plan_baseline',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('field_key', sa.String(length=63), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column('frozen_at', sa.DateTime(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['record_id'], ['record.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('record_id', 'field_key', 'period'),
    )
    with op.batch_alter_table('plan_baseline', schema=None) as batch_op:
        batch_op.create_index('ix_plan_baseline_tenant_record', ['tenant_id', 'record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_baseline_tenant_id'), ['tenant_id'], unique=False)
    op.create_table(
        'reporting_period',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=True),
        sa.Column('opened_by_id', sa.Integer(), nullable=True),
        sa.Column('locked_at', sa.DateTime(), nullable=True),
        sa.Column('locked_by_id', sa.Integer(), nullable=True),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['locked_by_id'], ['user_account.id']),
        sa.ForeignKeyConstraint(['opened_by_id'], ['user_account.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'period'),
    )
    with op.batch_alter_table('reporting_period', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporting_period_tenant_id'), ['tenant_id'], unique=False)
    with op.batch_alter_table('transition_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade():
    with op.batch_alter_table('transition_request', schema=None) as batch_op:
        batch_op.drop_column('changes')
    with op.batch_alter_table('reporting_period', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reporting_period_tenant_id'))
    op.drop_table('reporting_period')
    with op.batch_alter_table('plan_baseline', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_baseline_tenant_id'))
        batch_op.drop_index('ix_plan_baseline_tenant_record')
    op.drop_table('plan_baseline')
