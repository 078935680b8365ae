"""lbaas-server killed with SIGKILL while clients write as fast as they can: once it is
back, every create that got a 2xx is there, and nothing is half-written — one
transaction per request, constraints in the schema. Checked through the API (what a
client sees) and in the database itself (what the API might hide)."""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa

from tests.helpers.server import ServerProcess

WRITERS = 6
KILL_AFTER = 100         # successful creates before the kill, at least
MAX_SECONDS = 20         # bound on the writing phase, whatever happens


@dataclass
class Written:
    """What the clients were told was created (201), by kind."""
    pools: set[str] = field(default_factory=set)
    members: set[str] = field(default_factory=set)
    vips: dict[str, str] = field(default_factory=dict)  # vip id → port id
    ports: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        return len(self.pools) + len(self.members) + len(self.vips) + len(self.ports)


@pytest.fixture(params=["sqlite", "pg"])
def crash_server(request: pytest.FixtureRequest) -> Iterator[tuple[ServerProcess, str]]:
    pg = None
    if request.param == "pg":
        from tests.api.conftest import PgDatabases, _pg_skip_allowed

        pg = PgDatabases()
        pg.check()
        if pg.error:
            if _pg_skip_allowed():
                pytest.skip(pg.error)
            pytest.fail(pg.error + " (run tools/ensure-postgres.sh as root, or set "
                        "LBAAS_SKIP_PG=1)", pytrace=False)
    url = pg.create() if pg else None
    server = ServerProcess(database_url=url, conf={
        "quotas": {"quota_pool": -1, "quota_vip": -1, "quota_member": -1}})
    try:
        server.start()
        yield server, url or f"sqlite:///{server.state_path}/lbaas.sqlite"
    finally:
        server.cleanup()
        if pg:
            pg.drop_all()


def _writer(url: str, subnet_id: str, network_id: str, written: Written,
            stop: threading.Event) -> None:
    """Pools, their members, a VIP on every other pool and bare ports, until the
    server stops answering."""
    headers = {"X-Project-Id": "tf-crash"}
    with httpx.Client(base_url=url + "/v2.0", timeout=10, headers=headers) as http:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = http.post("/lb/pools", json={"pool": {
                    "name": f"p{n}", "subnet_id": subnet_id, "protocol": "HTTP",
                    "lb_method": "ROUND_ROBIN"}})
                if r.status_code != 201:
                    continue
                pool_id = r.json()["pool"]["id"]
                with written.lock:
                    written.pools.add(pool_id)
                for i in range(2):
                    r = http.post("/lb/members", json={"member": {
                        "pool_id": pool_id, "address": f"10.97.200.{i + 1}",
                        "protocol_port": 80 + n % 1000}})
                    if r.status_code == 201:
                        with written.lock:
                            written.members.add(r.json()["member"]["id"])
                if n % 2:
                    r = http.post("/lb/vips", json={"vip": {
                        "subnet_id": subnet_id, "protocol": "HTTP", "protocol_port": 80,
                        "pool_id": pool_id}})
                    if r.status_code == 201:
                        vip = r.json()["vip"]
                        with written.lock:
                            written.vips[vip["id"]] = vip["port_id"]
                else:
                    r = http.post("/ports", json={"port": {"network_id": network_id}})
                    if r.status_code == 201:
                        with written.lock:
                            written.ports.add(r.json()["port"]["id"])
            except httpx.TransportError:
                return  # the server is gone: the outcome of this request is unknown


def test_server_killed_while_clients_write_loses_nothing_acknowledged(
        crash_server: tuple[ServerProcess, str]) -> None:
    server, db_url = crash_server
    admin = httpx.Client(base_url=server.url + "/v2.0", timeout=30,
                         headers={"X-Project-Id": "tf-crash"})
    net = admin.post("/networks", json={"network": {"name": "tf-crash"}}).json()["network"]
    subnet = admin.post("/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.97.0.0/16"}}).json()["subnet"]
    written = Written()
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(server.url, subnet["id"], net["id"],
                                                      written, stop))
               for _ in range(WRITERS)]
    for w in writers:
        w.start()
    try:
        deadline = time.monotonic() + MAX_SECONDS
        while written.count() < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
    finally:
        stop.set()
        for w in writers:
            w.join(30)
    assert written.count() >= KILL_AFTER, "the clients could not write before the kill"
    assert written.vips and written.ports and written.members

    server.start()

    # Everything acknowledged is there, as the client was told.
    for kind, ids in (("lb/pools", written.pools), ("lb/members", written.members),
                      ("lb/vips", set(written.vips)), ("ports", written.ports)):
        listed = {o["id"] for o in admin.get(f"/{kind}").json()[kind.split("/")[-1]]}
        assert ids <= listed, (kind, ids - listed)
    for vip_id, port_id in written.vips.items():
        assert admin.get(f"/lb/vips/{vip_id}").json()["vip"]["port_id"] == port_id

    # Nothing half-written, as the database holds it.
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as db:
            _assert_consistent(db, net["id"], subnet["cidr"])
            counts = {name: db.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                      for name, t in (("pools", "lb_pools"), ("members", "lb_members"),
                                      ("vips", "lb_listeners"))}
    finally:
        engine.dispose()
    # ... and the API shows exactly what the database holds.
    assert counts == {"pools": len(admin.get("/lb/pools").json()["pools"]),
                      "members": len(admin.get("/lb/members").json()["members"]),
                      "vips": len(admin.get("/lb/vips").json()["vips"])}
    # The restarted server takes writes again.
    r = admin.post("/lb/pools", json={"pool": {"subnet_id": subnet["id"], "protocol": "TCP",
                                               "lb_method": "ROUND_ROBIN"}})
    assert r.status_code == 201, r.text
    admin.close()


def _assert_consistent(db: sa.Connection, network_id: str, cidr: str) -> None:
    rows = lambda q: [tuple(r) for r in db.execute(sa.text(q))]  # noqa: E731
    # v1's VIPs are the listeners of v1 load balancers (docs/architecture.md, "One model,
    # two APIs"); the load balancer row holds the VIP's port and address.
    vips = ("lb_listeners l JOIN lb_loadbalancers b ON b.id = l.loadbalancer_id "
            "AND b.api_version = 1")
    # Every VIP has its port, on the VIP's address, owned by the VIP.
    assert rows(f"SELECT l.id FROM {vips} LEFT JOIN ports p ON p.id = b.vip_port_id "
                "WHERE p.id IS NULL") == []
    assert rows(f"SELECT l.id FROM {vips} JOIN ipallocations a ON a.port_id = b.vip_port_id "
                "WHERE a.ip_address != b.vip_address") == []
    assert rows(f"SELECT l.id FROM {vips} JOIN ports p ON p.id = b.vip_port_id "
                "WHERE p.device_id != l.id") == []
    # Every load balancer port belongs to a VIP, and a VIP address to a listener.
    assert rows("SELECT p.id FROM ports p LEFT JOIN lb_loadbalancers b "
                "ON b.vip_port_id = p.id WHERE p.device_owner = 'neutron:LOADBALANCER' "
                "AND b.id IS NULL") == []
    assert rows("SELECT b.id FROM lb_loadbalancers b LEFT JOIN lb_listeners l "
                "ON l.loadbalancer_id = b.id WHERE b.vip_port_id IS NOT NULL "
                "AND l.id IS NULL") == []
    # Every port has its address, and every address its port; no address twice.
    assert rows("SELECT p.id FROM ports p LEFT JOIN ipallocations a ON a.port_id = p.id "
                "WHERE a.port_id IS NULL") == []
    assert rows("SELECT a.ip_address FROM ipallocations a LEFT JOIN ports p "
                "ON p.id = a.port_id WHERE p.id IS NULL") == []
    addresses = [r[0] for r in rows("SELECT ip_address FROM ipallocations")]
    assert len(addresses) == len(set(addresses))
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(cidr) for a in addresses)
    # No member or VIP without its pool, no pool without its load balancer; at most
    # one VIP per pool.
    assert rows("SELECT m.id FROM lb_members m LEFT JOIN lb_pools p ON p.id = m.pool_id "
                "WHERE p.id IS NULL") == []
    assert rows("SELECT p.id FROM lb_pools p LEFT JOIN lb_loadbalancers b "
                "ON b.id = p.loadbalancer_id WHERE b.id IS NULL") == []
    assert rows(f"SELECT l.id FROM {vips} LEFT JOIN lb_pools p ON p.id = l.default_pool_id "
                "WHERE p.id IS NULL") == []
    assert rows("SELECT loadbalancer_id FROM lb_listeners GROUP BY loadbalancer_id "
                "HAVING count(*) > 1") == []
    assert rows(f"SELECT id FROM ports WHERE network_id != '{network_id}'") == []
    # Ids are UUIDs (not a partially written row with a default).
    for table in ("lb_loadbalancers", "lb_pools", "lb_members", "lb_listeners", "ports"):
        for (obj_id,) in rows(f"SELECT id FROM {table}"):
            uuid.UUID(obj_id)

