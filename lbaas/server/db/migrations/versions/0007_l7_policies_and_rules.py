"""l7 policies and rules: Octavia's lb_l7policies (per listener, ordered by position)
and lb_l7rules (per policy)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _status_columns() -> list[sa.Column]:
    return [
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('tenant_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('provisioning_status', sa.String(length=16), nullable=False),
        sa.Column('operating_status', sa.String(length=16), nullable=False),
        sa.Column('status_description', sa.String(length=255), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table('lb_l7policies',
    sa.Column('listener_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('redirect_pool_id', sa.String(length=36), nullable=True),
    sa.Column('redirect_url', sa.String(length=2048), nullable=True),
    sa.Column('redirect_prefix', sa.String(length=2048), nullable=True),
    sa.Column('redirect_http_code', sa.Integer(), nullable=True),
    *_status_columns(),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['listener_id'], ['lb_listeners.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['redirect_pool_id'], ['lb_pools.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lb_l7policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lb_l7policies_listener_id'), ['listener_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_lb_l7policies_redirect_pool_id'),
                              ['redirect_pool_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lb_l7policies_tenant_id'), ['tenant_id'],
                              unique=False)

    op.create_table('lb_l7rules',
    sa.Column('l7policy_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('compare_type', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=True),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('invert', sa.Boolean(), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    *_status_columns(),
    sa.ForeignKeyConstraint(['l7policy_id'], ['lb_l7policies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lb_l7rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lb_l7rules_l7policy_id'), ['l7policy_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_lb_l7rules_tenant_id'), ['tenant_id'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('lb_l7rules')
    op.drop_table('lb_l7policies')
