"""capacity per member; exception cases about a subject beyond their record

Revision ID: 4b8d2e6f1a37
Revises: b6d2f0c8a431
Create Date: 2026-11-28 00:45:00

- ``membership.capacity_hours``: the hours a person can work per reporting period in the
  workspace (empty: the capacity rule's ``hours_per_period``).
- ``exception_case.subject``: a capacity rule raises one case per person and period
  (``<user id>/<period>``), so the one-open-case index takes the subject too.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4b8d2e6f1a37'
down_revision = 'b6d2f0c8a431'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('capacity_hours', sa.Numeric(precision=10, scale=2), nullable=True))
    with op.batch_alter_table('exception_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=100), server_default='', nullable=False))
        batch_op.drop_index('uq_exception_case_open', sqlite_where=sa.text("state = 'open'"),
                            postgresql_where=sa.text("state = 'open'"))
        batch_op.create_index('uq_exception_case_open', ['record_id', 'rule_key', 'subject'], unique=True,
                              sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'"))


def downgrade():
    with op.batch_alter_table('exception_case', schema=None) as batch_op:
        batch_op.drop_index('uq_exception_case_open', sqlite_where=sa.text("state = 'open'"),
                            postgresql_where=sa.text("state = 'open'"))
        batch_op.create_index('uq_exception_case_open', ['record_id', 'rule_key'], unique=True,
                              sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'"))
        batch_op.drop_column('subject')
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_column('capacity_hours')
