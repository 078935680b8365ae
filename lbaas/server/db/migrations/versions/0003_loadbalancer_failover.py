"""load balancer failover: lb_loadbalancers.failover_generation

Octavia's failover (PUT /v2/lbaas/loadbalancers/{id}/failover) asks for a new data plane
rather than a change of configuration: the agent compares this counter with the one it
recorded for the instance, and when the load balancer's is higher it re-plugs the VIP
port and starts a fresh HAProxy. Existing load balancers start at 0, as the agents'
instances do (an instance without a recorded generation is at 0), so the upgrade itself
triggers no failover.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 09:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lb_loadbalancers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failover_generation", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("lb_loadbalancers", schema=None) as batch_op:
        batch_op.drop_column("failover_generation")
