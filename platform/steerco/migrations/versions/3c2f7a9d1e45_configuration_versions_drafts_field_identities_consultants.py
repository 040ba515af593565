"""configuration versions as drafts, field identities, consultants

Configuration versions get a state (draft, active, superseded, discarded), a comment, the
version a draft started from, who activated it and the field identities they carry;
``field_identity`` keeps each field definition's history; users may be consultants.
Existing versions become "superseded", except each tenant's active one.

Revision ID: 3c2f7a9d1e45
Revises: 66644efd8859
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '3c2f7a9d1e45'
down_revision = '66644efd8859'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('field_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_key', sa.String(length=63), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('first_version', sa.Integer(), nullable=False),
    sa.Column('last_version', sa.Integer(), nullable=False),
    sa.Column('in_slot', sa.Boolean(), nullable=False),
    sa.Column('epochs', JSON, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('field_identity', schema=None) as batch_op:
        batch_op.create_index('ix_field_identity_tenant_key', ['tenant_id', 'field_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_field_identity_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('config_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), nullable=False, server_default='superseded'))
        batch_op.add_column(sa.Column('comment', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('base_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('activated_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('field_identities', JSON, nullable=True))
        batch_op.create_foreign_key('fk_config_version_base_version_id', 'config_version',
                                    ['base_version_id'], ['id'])
        batch_op.create_foreign_key('fk_config_version_activated_by_id', 'user_account',
                                    ['activated_by_id'], ['id'])
    op.execute("UPDATE config_version SET state = 'active' "
               "WHERE id IN (SELECT active_config_id FROM tenant WHERE active_config_id IS NOT NULL)")
    with op.batch_alter_table('config_version', schema=None) as batch_op:
        batch_op.alter_column('state', server_default=None)
        batch_op.alter_column('comment', server_default=None)

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_consultant', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('is_consultant')

    with op.batch_alter_table('config_version', schema=None) as batch_op:
        batch_op.drop_constraint('fk_config_version_activated_by_id', type_='foreignkey')
        batch_op.drop_constraint('fk_config_version_base_version_id', type_='foreignkey')
        batch_op.drop_column('field_identities')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('activated_by_id')
        batch_op.drop_column('base_version_id')
        batch_op.drop_column('comment')
        batch_op.drop_column('state')

    with op.batch_alter_table('field_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_identity_tenant_id'))
        batch_op.drop_index('ix_field_identity_tenant_key')

    op.drop_table('field_identity')
