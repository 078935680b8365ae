"""v1 onto the load balancer model: every v1 pool becomes a load balancer (api_version 1)
and a pool with the pool's id, its VIP the load balancer's listener (the VIP's id) and
address, its members members; bindings become the load balancer's agent and revision;
v1's health monitor associations and pool statistics now point at the pools. The v1
tables pools, vips, members and poolloadbalanceragentbindings are dropped once copied.

Also: every load balancer object gets a ``status_description`` (v1's reason), and the
load balancer the ``request_id`` of the request that changed it last.

v1's one status word is stored as the pair Octavia keeps (see ``_v2_status``), and read
back the same (lbaas/server/plugin/loadbalancer.py, ``v1_status``).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

STATUS_DESCRIPTION = 255


def _v2_status(v1: str) -> tuple[str, str]:
    """(provisioning_status, operating_status) for a v1 status word."""
    return {
        "ACTIVE": ("ACTIVE", "ONLINE"),
        "INACTIVE": ("ACTIVE", "ERROR"),
        "DOWN": ("ACTIVE", "OFFLINE"),
    }.get(v1, (v1, "OFFLINE"))


def _rows(name: str) -> list[dict[str, Any]]:
    bind = op.get_bind()
    table = sa.Table(name, sa.MetaData(), autoload_with=bind)
    return [dict(r._mapping) for r in bind.execute(sa.select(table))]


def upgrade() -> None:
    for table in ("lb_loadbalancers", "lb_listeners", "lb_pools", "lb_members",
                  "lb_healthmonitors"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("status_description",
                                          sa.String(length=STATUS_DESCRIPTION),
                                          nullable=True))
    with op.batch_alter_table("lb_loadbalancers") as batch_op:
        batch_op.add_column(sa.Column("api_version", sa.Integer(), nullable=False,
                                      server_default="2"))
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        for column, length in (("vip_subnet_id", 36), ("vip_network_id", 36),
                               ("vip_port_id", 36), ("vip_address", 64)):
            batch_op.alter_column(column, existing_type=sa.String(length=length),
                                  nullable=True)
    with op.batch_alter_table("lb_pools") as batch_op:
        batch_op.add_column(sa.Column("subnet_id", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_lb_pools_subnet_id", ["subnet_id"], unique=False)
        batch_op.create_foreign_key("fk_lb_pools_subnet_id", "subnets", ["subnet_id"],
                                    ["id"], ondelete="RESTRICT")

    pools = _rows("pools")
    vips = {v["pool_id"]: v for v in _rows("vips")}
    members = _rows("members")
    bindings = {b["pool_id"]: b for b in _rows("poolloadbalanceragentbindings")}
    associations = _rows("poolmonitorassociations")
    statistics = _rows("poolstatistics")
    networks = {s["id"]: s["network_id"] for s in _rows("subnets")}

    # The v1 tables that point at pools go first; they come back pointing at lb_pools.
    op.drop_table("poolstatistics")
    op.drop_table("poolmonitorassociations")
    with op.batch_alter_table("poolloadbalanceragentbindings") as batch_op:
        batch_op.drop_index("ix_poolloadbalanceragentbindings_agent_id")
    op.drop_table("poolloadbalanceragentbindings")
    with op.batch_alter_table("members") as batch_op:
        batch_op.drop_index("ix_members_tenant_id")
        batch_op.drop_index("ix_members_pool_id")
    op.drop_table("members")
    with op.batch_alter_table("vips") as batch_op:
        batch_op.drop_index("ix_vips_tenant_id")
    op.drop_table("vips")
    with op.batch_alter_table("pools") as batch_op:
        batch_op.drop_index("ix_pools_tenant_id")
        batch_op.drop_index("ix_pools_subnet_id")
    op.drop_table("pools")

    meta = sa.MetaData()
    bind = op.get_bind()
    lb_t = sa.Table("lb_loadbalancers", meta, autoload_with=bind)
    pool_t = sa.Table("lb_pools", meta, autoload_with=bind)
    listener_t = sa.Table("lb_listeners", meta, autoload_with=bind)
    member_t = sa.Table("lb_members", meta, autoload_with=bind)
    lbs, lb_pools, listeners = [], [], []
    for p in pools:
        vip = vips.get(p["id"])
        binding = bindings.get(p["id"])
        prov, oper = _v2_status(p["status"])
        common = {"id": p["id"], "tenant_id": p["tenant_id"], "created_at": p["created_at"],
                  "updated_at": None, "tags": [], "provisioning_status": prov,
                  "operating_status": oper}
        lbs.append({
            **common, "name": "", "description": "", "admin_state_up": True,
            "api_version": 1, "status_description": None, "request_id": None,
            "vip_subnet_id": vip["subnet_id"] if vip else None,
            "vip_network_id": networks.get(vip["subnet_id"]) if vip else None,
            "vip_port_id": vip["port_id"] if vip else None,
            "vip_address": vip["address"] if vip else None,
            "provider": p["provider"], "flavor_id": None, "topology": "SINGLE",
            "availability_zone": None,
            "agent_id": binding["agent_id"] if binding else None,
            "revision": binding["revision"] if binding else 0})
        persistence = None
        if vip and vip["session_persistence_type"]:
            persistence = {"type": vip["session_persistence_type"]}
            if vip["session_persistence_cookie_name"]:
                persistence["cookie_name"] = vip["session_persistence_cookie_name"]
        lb_pools.append({
            **common, "name": p["name"], "description": p["description"],
            "admin_state_up": p["admin_state_up"], "loadbalancer_id": p["id"],
            "protocol": p["protocol"], "lb_algorithm": p["lb_method"],
            "session_persistence": persistence, "subnet_id": p["subnet_id"],
            "status_description": p["status_description"]})
        if vip:
            vprov, voper = _v2_status(vip["status"])
            listeners.append({
                "id": vip["id"], "tenant_id": vip["tenant_id"],
                "created_at": vip["created_at"], "updated_at": None, "tags": [],
                "provisioning_status": vprov, "operating_status": voper,
                "status_description": vip["status_description"], "name": vip["name"],
                "description": vip["description"], "admin_state_up": vip["admin_state_up"],
                "loadbalancer_id": p["id"], "protocol": vip["protocol"],
                "protocol_port": vip["protocol_port"],
                "connection_limit": vip["connection_limit"], "default_pool_id": p["id"],
                "timeout_client_data": 50000, "timeout_member_connect": 5000,
                "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
                "insert_headers": {}, "allowed_cidrs": []})
    lb_members = []
    for mem in members:
        prov, oper = _v2_status(mem["status"])
        lb_members.append({
            "id": mem["id"], "tenant_id": mem["tenant_id"], "created_at": mem["created_at"],
            "updated_at": None, "provisioning_status": prov, "operating_status": oper,
            "status_description": mem["status_description"], "pool_id": mem["pool_id"],
            "name": "", "address": mem["address"], "protocol_port": mem["protocol_port"],
            "weight": mem["weight"], "backup": False, "admin_state_up": mem["admin_state_up"],
            "subnet_id": None, "monitor_address": None, "monitor_port": None, "tags": []})
    copies: list[tuple[sa.Table, list[dict[str, Any]]]] = [
        (lb_t, lbs), (pool_t, lb_pools), (listener_t, listeners), (member_t, lb_members)]
    for target, rows in copies:
        if rows:
            bind.execute(target.insert(), rows)

    assoc_t = op.create_table(
        "poolmonitorassociations",
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("monitor_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_description", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["monitor_id"], ["healthmonitors.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["pool_id"], ["lb_pools.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pool_id", "monitor_id"),
    )
    stats_t = op.create_table(
        "poolstatistics",
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.Column("active_connections", sa.BigInteger(), nullable=False),
        sa.Column("total_connections", sa.BigInteger(), nullable=False),
        sa.Column("last_epoch", sa.String(length=255), nullable=False),
        sa.Column("last_raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["lb_pools.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pool_id"),
    )
    assert assoc_t is not None and stats_t is not None
    if associations:
        bind.execute(assoc_t.insert(), associations)
    if statistics:
        bind.execute(stats_t.insert(), statistics)


def downgrade() -> None:
    raise NotImplementedError(
        "0004 moved the v1 tables into the load balancer model; going back below it "
        "would need the v1 tables rebuilt from that model, which is not written. Restore "
        "the backup taken before the upgrade instead.")
