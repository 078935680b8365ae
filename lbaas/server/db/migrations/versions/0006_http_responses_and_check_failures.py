"""http responses and check failures: HTTP responses by class per listener (v1 and v2)
and per pool, failed health checks and UP->DOWN transitions per member

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:10:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

HRSP = ('hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other')


def upgrade() -> None:
    # Existing rows start from 0: those responses were never counted.
    for table in ('lb_listener_statistics', 'poolstatistics'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in HRSP:
                batch_op.add_column(sa.Column(column, sa.BigInteger(), nullable=False,
                                              server_default='0'))

    op.create_table('lb_pool_statistics',
    sa.Column('pool_id', sa.String(length=36), nullable=False),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    *(sa.Column(column, sa.BigInteger(), nullable=False) for column in HRSP),
    sa.Column('last_epoch', sa.String(length=255), nullable=False),
    sa.Column('last_raw', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['loadbalancer_id'], ['lb_loadbalancers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pool_id')
    )
    with op.batch_alter_table('lb_pool_statistics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lb_pool_statistics_loadbalancer_id'),
                              ['loadbalancer_id'], unique=False)

    op.create_table('lb_member_statistics',
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    sa.Column('check_failures', sa.BigInteger(), nullable=False),
    sa.Column('check_up_down', sa.BigInteger(), nullable=False),
    sa.Column('last_epoch', sa.String(length=255), nullable=False),
    sa.Column('last_raw', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['loadbalancer_id'], ['lb_loadbalancers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id')
    )
    with op.batch_alter_table('lb_member_statistics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lb_member_statistics_loadbalancer_id'),
                              ['loadbalancer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('lb_member_statistics')
    op.drop_table('lb_pool_statistics')
    for table in ('poolstatistics', 'lb_listener_statistics'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(HRSP):
                batch_op.drop_column(column)
