"""Writes ``v1_database.json``: a database as the v1 tables (schema revision 0002) held
it, and what the server answered about it, for the façade migration test
(tests/api/test_v1_facade_migration.py).

It was run once against the last commit whose server stored v1 objects in their own
tables (``pools``, ``vips``, ``members``, ``poolloadbalanceragentbindings``), so the
file is what that code wrote and served; run it again only from such a checkout::

    python -m tests.api.data.make_v1_database

The situations cover what a v1 deployment holds: deployed pools with VIPs, members
in every status (pending, ACTIVE, INACTIVE from a health check, admin-down), several
monitors per pool in association order, session persistence of each kind, a pool with
no VIP, a pool no agent can take (waiting), a VIP in ERROR, stats, two projects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, select

from tests.api.builders import FakeAgent
from tests.helpers.server import Api, ServerProcess

OUT = Path(__file__).with_name("v1_database.json")
TABLES = ("networks", "subnets", "ports", "ipallocations", "agents", "pools", "members",
          "healthmonitors", "poolmonitorassociations", "vips", "poolstatistics",
          "poolloadbalanceragentbindings")


def build(api: Api, other: Api) -> None:
    agent = FakeAgent(api, physnets=["physnet-a"], host="host-a").register()
    net = api.create("network", name="web", **{"provider:physical_network": "physnet-a"})
    sub = api.create("subnet", network_id=net["id"], cidr="10.70.0.0/24", name="web-sub")
    # A: deployed, three members, two monitors, cookie persistence, stats.
    a = api.create("pool", subnet_id=sub["id"], protocol="HTTP", lb_method="ROUND_ROBIN",
                   name="a", description="first")
    m1 = api.create("member", pool_id=a["id"], address="10.70.0.11", protocol_port=80,
                    weight=5)
    m2 = api.create("member", pool_id=a["id"], address="10.70.0.12", protocol_port=80)
    api.create("member", pool_id=a["id"], address="10.70.0.13", protocol_port=8080,
               admin_state_up=False)
    h1 = api.create("health_monitor", type="HTTP", delay=3, timeout=2, max_retries=2,
                    url_path="/health", expected_codes="200-204", http_method="HEAD")
    h2 = api.create("health_monitor", type="TCP", delay=5, timeout=4, max_retries=3)
    for hm in (h1, h2):
        api.post(f"/lb/pools/{a['id']}/health_monitors", {"health_monitor": {"id": hm["id"]}})
    va = api.create("vip", subnet_id=sub["id"], protocol="HTTP", protocol_port=80,
                    pool_id=a["id"], name="va", connection_limit=1000,
                    session_persistence={"type": "HTTP_COOKIE"})
    agent.plug(va["port_id"])
    agent.deployed(a["id"])
    agent.update_status("member", m2["id"], "INACTIVE", "L4 timeout")
    agent.stats(a["id"], epoch="e1", bytes_in=1000, bytes_out=5000, active_connections=2,
                total_connections=40, members={m1["id"]: {"status": "ACTIVE"}})
    # B: TCP, app cookie, a member still pending.
    b = api.create("pool", subnet_id=sub["id"], protocol="TCP",
                   lb_method="LEAST_CONNECTIONS", name="b")
    api.create("vip", subnet_id=sub["id"], protocol="TCP", protocol_port=5432,
               pool_id=b["id"], name="vb", address="10.70.0.200",
               session_persistence={"type": "SOURCE_IP"})
    agent.deployed(b["id"])
    api.create("member", pool_id=b["id"], address="10.70.0.21", protocol_port=5432)
    # C: no VIP.
    c = api.create("pool", subnet_id=sub["id"], protocol="HTTPS", lb_method="SOURCE_IP",
                   name="c", admin_state_up=False)
    api.create("member", pool_id=c["id"], address="10.70.0.31", protocol_port=443)
    agent.deployed(c["id"])
    # D: a VIP the agent could not serve.
    d = api.create("pool", subnet_id=sub["id"], protocol="HTTP", lb_method="ROUND_ROBIN",
                   name="d")
    vd = api.create("vip", subnet_id=sub["id"], protocol="HTTP", protocol_port=81,
                    pool_id=d["id"], name="vd",
                    session_persistence={"type": "APP_COOKIE", "cookie_name": "SID"})
    agent.deployed(d["id"])
    agent.update_status("vip", vd["id"], "ERROR", "address already in use")
    # An unassociated monitor.
    api.create("health_monitor", type="PING", delay=10, timeout=10, max_retries=1)
    # E: another project, on a network no agent maps (waiting for one).
    onet = other.create("network", name="o", **{"provider:physical_network": "physnet-z"})
    osub = other.create("subnet", network_id=onet["id"], cidr="10.71.0.0/24")
    e = other.create("pool", subnet_id=osub["id"], protocol="HTTP",
                     lb_method="ROUND_ROBIN", name="e")
    other.create("member", pool_id=e["id"], address="10.71.0.5", protocol_port=80)
    other.create("vip", subnet_id=osub["id"], protocol="HTTP", protocol_port=80,
                 pool_id=e["id"])


def served(api: Api) -> dict[str, Any]:
    lists = {kind: api.list(kind) for kind in
             ("network", "subnet", "port", "pool", "member", "health_monitor", "vip")}
    agent_id = next(a["id"] for a in api.list("agent") if a["host"] == "host-a")
    devices = {}
    for pool in lists["pool"]:
        resp = api.get(f"/agent/v1/logical_devices/{pool['id']}")
        devices[pool["id"]] = resp.json()
    return {
        "lists": lists,
        "stats": {p["id"]: api.get(f"/lb/pools/{p['id']}/stats").json() for p in lists["pool"]},
        "pool_agents": {p["id"]: api.get(f"/lb/pools/{p['id']}/loadbalancer-agent").json()
                        for p in lists["pool"]},
        "agent_pools": api.get(f"/agents/{agent_id}/loadbalancer-pools").json(),
        "ready_devices": api.get("/agent/v1/hosts/host-a/ready_devices").json(),
        "devices": devices,
    }


def main() -> None:
    srv = ServerProcess()
    try:
        srv.start()
        with Api(srv.url, project="alpha") as api, Api(srv.url, project="beta") as other:
            build(api, other)
            answers = served(api)
        srv.stop()
        engine = create_engine(f"sqlite:///{srv.state_path / 'lbaas.sqlite'}")
        meta = MetaData()
        meta.reflect(engine)
        rows: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            for name in TABLES:
                rows[name] = [dict(r._mapping) for r in conn.execute(select(meta.tables[name]))]
        engine.dispose()
        assert version == "0002", version
        OUT.write_text(json.dumps({"schema": version, "rows": rows, "served": answers},
                                  indent=1, sort_keys=True, default=str) + "\n")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    main()
