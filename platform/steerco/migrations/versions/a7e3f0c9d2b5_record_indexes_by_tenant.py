"""indexes of a record's rows by tenant and record, and of a list's order

Revision ID: a7e3f0c9d2b5
Revises: e7c2a9d04b13
Create Date: 2026-11-27 21:45:00

Every tenant-owned table has an index on ``tenant_id`` alone; for "the amounts (comments,
files, requests, steps) of these records of tenant 1" a planner without good statistics
may walk it (every row of the workspace) rather than the ``record_id`` one. Composite
``(tenant_id, record_id)`` indexes match both conditions, so they win on any planner.
``ix_record_tenant_list`` serves a list's page and its keyset-paged export in number order.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a7e3f0c9d2b5'
down_revision = 'e7c2a9d04b13'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_record_tenant_list", "record", ["tenant_id", "parent_id", "level_key", "number"]),
    ("ix_period_value_tenant_record", "period_value", ["tenant_id", "record_id"]),
    ("ix_attachment_tenant_record", "attachment", ["tenant_id", "record_id"]),
    ("ix_transition_request_tenant_record", "transition_request", ["tenant_id", "record_id"]),
    ("ix_approval_task_tenant_record", "approval_task", ["tenant_id", "record_id"]),
    ("ix_comment_tenant_record", "comment", ["tenant_id", "record_id"]),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
