"""notifications and the mail preference

Revision ID: 9b4e7d21c6a8
Revises: 5e1c0a7d9b21
Create Date: 2026-11-27 22:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '9b4e7d21c6a8'
down_revision = '5e1c0a7d9b21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_by_mail', sa.String(length=12), nullable=False,
                                      server_default='immediately'))
    op.create_table(
        'notification',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('read_at', sa.DateTime(), nullable=True),
        sa.Column('mail_state', sa.String(length=10), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['record_id'], ['record.id'], ),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_user_unread', ['tenant_id', 'user_id', 'read_at'], unique=False)
        batch_op.create_index('ix_notification_digest', ['mail_state', 'user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_tenant_id'))
        batch_op.drop_index('ix_notification_digest')
        batch_op.drop_index('ix_notification_user_unread')
    op.drop_table('notification')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('notify_by_mail')
