"""approvals bound to their content, fail-closed step reasons, indexes for the inbox

Each vote records the record's version and the approval content it was given on (values
and SHA-256); a step that applies because its threshold could not be evaluated says why.
The inbox and the navigation's count read open steps by role or escalation target, one's
own requests and one's own records through the new indexes.

Revision ID: c7a1e2b9d4f0
Revises: 3c2f7a9d1e45
Create Date: 2026-12-01 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'c7a1e2b9d4f0'
down_revision = '3c2f7a9d1e45'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('approval_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
        batch_op.create_index('ix_approval_task_inbox', ['tenant_id', 'state', 'role'], unique=False)
        batch_op.create_index('ix_approval_task_escalation', ['tenant_id', 'state', 'escalate_to'], unique=False)

    with op.batch_alter_table('approval_vote', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('content', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('transition_request', schema=None) as batch_op:
        batch_op.create_index('ix_transition_request_requester', ['tenant_id', 'requested_by_id', 'state'],
                              unique=False)

    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.create_index('ix_record_tenant_owner', ['tenant_id', 'owner_id'], unique=False)


def downgrade():
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.drop_index('ix_record_tenant_owner')

    with op.batch_alter_table('transition_request', schema=None) as batch_op:
        batch_op.drop_index('ix_transition_request_requester')

    with op.batch_alter_table('approval_vote', schema=None) as batch_op:
        batch_op.drop_column('content')
        batch_op.drop_column('content_hash')
        batch_op.drop_column('record_version')

    with op.batch_alter_table('approval_task', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_task_escalation')
        batch_op.drop_index('ix_approval_task_inbox')
        batch_op.drop_column('reason')
