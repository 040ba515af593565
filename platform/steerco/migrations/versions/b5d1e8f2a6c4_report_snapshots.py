"""report snapshots: a report's data kept as its audience saw it

Revision ID: b5d1e8f2a6c4
Revises: 5d2b8e4f7a13
Create Date: 2026-11-28 00:50:00

- ``report_snapshot``: one snapshot of a report (label, when, by whom, versions);
- ``report_snapshot_view``: its data per distinct view of the audience (grants, JSON).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'b5d1e8f2a6c4'
down_revision = '5d2b8e4f7a13'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        'report_snapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_key', sa.String(length=63), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('config_version', sa.Integer(), nullable=False),
        sa.Column('data_version', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('report_snapshot', schema=None) as batch_op:
        batch_op.create_index('ix_report_snapshot_tenant_report', ['tenant_id', 'report_key', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_snapshot_tenant_id'), ['tenant_id'], unique=False)
    op.create_table(
        'report_snapshot_view',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('signature', sa.String(length=64), nullable=False),
        sa.Column('grants', JSON, nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('data', JSON, nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['report_snapshot.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('report_snapshot_view', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_snapshot_view_snapshot_id'), ['snapshot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_snapshot_view_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report_snapshot_view', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_snapshot_view_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_report_snapshot_view_snapshot_id'))
    op.drop_table('report_snapshot_view')
    with op.batch_alter_table('report_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_snapshot_tenant_id'))
        batch_op.drop_index('ix_report_snapshot_tenant_report')
    op.drop_table('report_snapshot')
