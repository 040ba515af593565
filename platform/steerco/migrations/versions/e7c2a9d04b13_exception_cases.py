"""exception cases raised by the rules of exceptions.json

Revision ID: e7c2a9d04b13
Revises: 9b4e7d21c6a8
Create Date: 2026-11-27 22:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'e7c2a9d04b13'
down_revision = '9b4e7d21c6a8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'exception_case',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_key', sa.String(length=63), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('holds', sa.Boolean(), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('escalations', sa.Integer(), nullable=False),
        sa.Column('escalated_to', sa.String(length=63), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('resolution', sa.Text(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'], ),
        sa.ForeignKeyConstraint(['record_id'], ['record.id'], ),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('exception_case', schema=None) as batch_op:
        batch_op.create_index('ix_exception_case_state', ['tenant_id', 'state', 'rule_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_exception_case_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exception_case_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('uq_exception_case_open', ['record_id', 'rule_key'], unique=True,
                              sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'"))


def downgrade():
    with op.batch_alter_table('exception_case', schema=None) as batch_op:
        batch_op.drop_index('uq_exception_case_open', sqlite_where=sa.text("state = 'open'"),
                            postgresql_where=sa.text("state = 'open'"))
        batch_op.drop_index(batch_op.f('ix_exception_case_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_exception_case_record_id'))
        batch_op.drop_index('ix_exception_case_state')
    op.drop_table('exception_case')
