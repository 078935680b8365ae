"""ACTIVE_STANDBY: lb_amphorae (the two instances of a load balancer, their agents,
VRRP roles, priorities and ports), lb_loadbalancers.vrrp_id (one VRRP group per load
balancer, unique per VIP network) and ports.allowed_address_pairs (Neutron's).

Existing load balancers are SINGLE and get no amphora rows (the amphora API shows a
SINGLE one from the load balancer itself); existing ports allow no other address.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 21:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_address_pairs", sa.JSON(), nullable=False,
                                      server_default="[]"))
    with op.batch_alter_table("lb_loadbalancers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vrrp_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uniq_lb_vrrp_id_per_network",
                                          ["vip_network_id", "vrrp_id"])
    op.create_table(
        "lb_amphorae",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loadbalancer_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("vrrp_priority", sa.Integer(), nullable=False),
        sa.Column("vrrp_port_id", sa.String(length=36), nullable=True),
        sa.Column("vrrp_ip", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("vrrp_state", sa.String(length=16), nullable=True),
        sa.Column("vrrp_state_at", sa.DateTime(), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["loadbalancer_id"], ["lb_loadbalancers.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["vrrp_port_id"], ["ports.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("vrrp_port_id"),
    )
    with op.batch_alter_table("lb_amphorae", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lb_amphorae_loadbalancer_id"),
                              ["loadbalancer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lb_amphorae_agent_id"), ["agent_id"],
                              unique=False)


def downgrade() -> None:
    op.drop_table("lb_amphorae")
    with op.batch_alter_table("lb_loadbalancers", schema=None) as batch_op:
        batch_op.drop_constraint("uniq_lb_vrrp_id_per_network", type_="unique")
        batch_op.drop_column("vrrp_id")
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_column("allowed_address_pairs")
