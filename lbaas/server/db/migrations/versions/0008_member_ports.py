"""member ports: a load balancer's ports on member subnets other than its VIP's

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 21:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lb_member_ports',
    sa.Column('port_id', sa.String(length=36), nullable=False),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    sa.Column('amphora_id', sa.String(length=36), nullable=False),
    sa.Column('subnet_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['port_id'], ['ports.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['loadbalancer_id'], ['lb_loadbalancers.id'],
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subnet_id'], ['subnets.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('port_id'),
    sa.UniqueConstraint('loadbalancer_id', 'amphora_id', 'subnet_id')
    )
    with op.batch_alter_table('lb_member_ports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lb_member_ports_loadbalancer_id'),
                              ['loadbalancer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('lb_member_ports')
