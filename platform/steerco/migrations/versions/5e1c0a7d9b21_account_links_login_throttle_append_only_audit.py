"""account links, login throttle, pending invitations, append-only audit

Revision ID: 5e1c0a7d9b21
Revises: 5c1e2f7a9b30
Create Date: 2026-11-27 19:10:00

- ``account_link``: single-use, expiring links mailed to people (invitations, password
  resets), stored as the SHA-256 of their token;
- ``login_failure``: failed logins per throttle key, for the login backoff;
- ``membership.joined_at`` (existing members joined when they were added) and
  ``membership.invited_name``: an invitation is a membership nobody has joined yet;
- on PostgreSQL, a trigger that makes ``audit_event`` insert-only (UPDATE, DELETE and
  TRUNCATE refused).
"""
from alembic import op
import sqlalchemy as sa

from steerco.store.models import AUDIT_APPEND_ONLY_DDL, AUDIT_APPEND_ONLY_DROP


# revision identifiers, used by Alembic.
revision = '5e1c0a7d9b21'
down_revision = '5c1e2f7a9b30'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'account_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=True),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    with op.batch_alter_table('account_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_link_user_id'), ['user_id'], unique=False)

    op.create_table(
        'login_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('failed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index('ix_login_failure_key_time', ['key', 'failed_at'], unique=False)

    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('joined_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('invited_name', sa.String(length=200), nullable=True))
    op.execute("UPDATE membership SET joined_at = created_at")

    if op.get_bind().dialect.name == "postgresql":
        for statement in AUDIT_APPEND_ONLY_DDL:
            op.execute(statement.replace("%%", "%"))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in AUDIT_APPEND_ONLY_DROP:
            op.execute(statement)
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_column('invited_name')
        batch_op.drop_column('joined_at')
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failure_key_time')
    op.drop_table('login_failure')
    with op.batch_alter_table('account_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_link_user_id'))
    op.drop_table('account_link')
