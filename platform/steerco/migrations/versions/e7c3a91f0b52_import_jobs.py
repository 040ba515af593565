"""import jobs: spreadsheets imported into a level

Revision ID: e7c3a91f0b52
Revises: a7e3f0c9d2b5
Create Date: 2026-11-27 21:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'e7c3a91f0b52'
down_revision = 'a7e3f0c9d2b5'
branch_labels = None
depends_on = None


def _json():  # type: ignore[no-untyped-def]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table(
        'import_job',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('level_key', sa.String(length=63), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('file_key', sa.String(length=100), nullable=True),
        sa.Column('columns', _json(), nullable=False),
        sa.Column('mapping', _json(), nullable=False),
        sa.Column('row_count', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('progress', sa.Integer(), nullable=False),
        sa.Column('message', sa.String(length=200), nullable=False),
        sa.Column('problems', _json(), nullable=False),
        sa.Column('summary', _json(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.create_index('ix_import_job_tenant_level', ['tenant_id', 'level_key', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_job_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_job_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_job_user_id'))
        batch_op.drop_index(batch_op.f('ix_import_job_tenant_id'))
        batch_op.drop_index('ix_import_job_tenant_level')
    op.drop_table('import_job')
