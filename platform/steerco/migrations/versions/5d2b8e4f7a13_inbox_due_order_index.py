"""the inbox's open steps in due order

The inbox shows the most urgent 25 of possibly 10,000 open steps: with this index
PostgreSQL reads them in ``due_at`` order and stops at the page's end, where it sorted
every open step of the tenant before.

Revision ID: 5d2b8e4f7a13
Revises: 4b8d2e6f1a37
Create Date: 2026-11-28 01:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5d2b8e4f7a13'
down_revision = '4b8d2e6f1a37'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('approval_task', schema=None) as batch_op:
        batch_op.create_index('ix_approval_task_due', ['tenant_id', 'state', 'due_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('approval_task', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_task_due')
