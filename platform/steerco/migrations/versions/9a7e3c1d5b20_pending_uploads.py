"""pending uploads: files of a form that failed validation, kept for the next try

Revision ID: 9a7e3c1d5b20
Revises: e7c3a91f0b52
Create Date: 2026-11-27 21:40:00

- ``pending_upload``: a file attached to a form that was refused, bound to its user and
  workspace, offered again with the form until it is saved or expires.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9a7e3c1d5b20'
down_revision = 'e7c3a91f0b52'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'pending_upload',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('field_key', sa.String(length=63), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=127), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('storage_key', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('storage_key'),
    )
    with op.batch_alter_table('pending_upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_upload_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_upload_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_upload_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('pending_upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_upload_user_id'))
        batch_op.drop_index(batch_op.f('ix_pending_upload_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_pending_upload_expires_at'))
    op.drop_table('pending_upload')
