"""report jobs: PDFs rendered in the background, and the cache of finished ones

Revision ID: 5c1e2f7a9b30
Revises: c7a1e2b9d4f0
Create Date: 2026-11-27 10:00:00.000000

One row per report rendering: who asked, for which report and scope, its state and
progress for the polling page, the blob key of the finished PDF, and the cache key (report,
configuration and data version, the reader's access) that lets an unchanged report be
downloaded again at once.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '5c1e2f7a9b30'
down_revision = 'c7a1e2b9d4f0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'report_job',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('report_key', sa.String(length=63), nullable=False),
        sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.Column('cache_key', sa.String(length=64), nullable=False),
        sa.Column('config_version', sa.Integer(), nullable=False),
        sa.Column('data_version', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('progress', sa.Integer(), nullable=False),
        sa.Column('message', sa.String(length=200), nullable=False),
        sa.Column('result_key', sa.String(length=100), nullable=True),
        sa.Column('result_size', sa.Integer(), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('report_job', schema=None) as batch_op:
        batch_op.create_index('ix_report_job_tenant_cache', ['tenant_id', 'cache_key', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_job_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_job_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_job_user_id'))
        batch_op.drop_index(batch_op.f('ix_report_job_tenant_id'))
        batch_op.drop_index('ix_report_job_tenant_cache')
    op.drop_table('report_job')
