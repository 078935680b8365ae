"""The ``lbaas`` client against a real lbaas-server (SQLite, noauth, no agent).

What a user types and what they see: the whole walk from a network to a VIP, names
instead of ids, the server's refusals on one line, ``-f json`` for scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli, TokenCli
from tests.helpers.server import Api, ServerProcess, free_port

LBAAS = str(Path(sys.executable).parent / "lbaas")


def _subnet(lbaas: Cli, net: str = "n1", cidr: str = "10.20.0.0/24") -> dict[str, Any]:
    lbaas.ok("network", "create", net)
    return dict(lbaas.json("subnet", "create", net, cidr, "--name", f"{net}-sub"))


def test_full_walk_from_network_to_vip_and_back(lbaas: Cli) -> None:
    net = lbaas.json("network", "create", "web-net")
    assert net["name"] == "web-net"
    subnet = lbaas.json("subnet", "create", "web-net", "10.20.0.0/24", "--name", "web-sub",
                        "--allocation-pool", "start=10.20.0.10,end=10.20.0.99",
                        "--dns-nameserver", "10.20.0.53")
    assert subnet["network_id"] == net["id"]
    assert subnet["gateway_ip"] == "10.20.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.20.0.10", "end": "10.20.0.99"}]
    assert subnet["ip_version"] == 4

    pool = lbaas.json("pool", "create", "--name", "web", "--lb-method", "ROUND_ROBIN",
                      "--protocol", "HTTP", "--subnet", "web-sub")
    assert pool["subnet_id"] == subnet["id"]
    assert pool["status"] == "PENDING_CREATE"
    members = [lbaas.json("member", "create", "--address", f"10.20.0.{n}",
                          "--protocol-port", "80", "--weight", str(n), "web")
               for n in (3, 4)]
    assert {m["pool_id"] for m in members} == {pool["id"]}
    monitor = lbaas.json("healthmonitor", "create", "--type", "HTTP", "--delay", "5",
                         "--timeout", "3", "--max-retries", "2", "--url-path", "/health")
    assert monitor["url_path"] == "/health"
    out = lbaas.ok("healthmonitor", "associate", monitor["id"], "web")
    assert out.startswith(f"Associated health monitor {monitor['id']} with pool web")
    vip = lbaas.json("vip", "create", "--name", "web-vip", "--protocol-port", "80",
                     "--protocol", "HTTP", "--subnet", "web-sub",
                     "--session-persistence", "type=HTTP_COOKIE", "web")
    assert vip["pool_id"] == pool["id"]
    assert vip["session_persistence"]["type"] == "HTTP_COOKIE"
    assert vip["address"].startswith("10.20.0.")

    shown = lbaas.json("pool", "show", "web")
    assert shown["vip_id"] == vip["id"]
    assert sorted(shown["members"]) == sorted(m["id"] for m in members)
    assert shown["health_monitors"] == [monitor["id"]]
    table = lbaas.ok("pool", "show", "web")
    assert "| Field" in table and "| lb_method " in table and "ROUND_ROBIN" in table
    listed = lbaas.ok("member", "list", "--pool", "web", "-c", "address", "-f", "value")
    assert sorted(listed.split()) == ["10.20.0.3", "10.20.0.4"]
    assert "web-vip" in lbaas.ok("vip", "list")

    updated = lbaas.json("pool", "update", "web", "--lb-method", "LEAST_CONNECTIONS",
                         "--description", "front")
    assert (updated["lb_method"], updated["description"]) == ("LEAST_CONNECTIONS", "front")
    assert lbaas.json("vip", "update", "web-vip", "--connection-limit", "100",
                      "--no-session-persistence")["connection_limit"] == 100
    assert lbaas.json("member", "update", members[0]["id"], "--weight", "9")["weight"] == 9
    assert lbaas.json("pool", "stats", "web") == {
        "bytes_in": 0, "bytes_out": 0, "active_connections": 0, "total_connections": 0}

    # Backwards, as a user would clean up; with no agent each delete is immediate.
    lbaas.ok("vip", "delete", "web-vip", "--wait")
    lbaas.ok("healthmonitor", "disassociate", monitor["id"], "web")
    lbaas.ok("healthmonitor", "delete", monitor["id"], "--wait")
    lbaas.ok("member", "delete", members[0]["id"], members[1]["id"], "--wait")
    out = lbaas.ok("pool", "delete", "web", "--wait")
    assert out == f"Deleted pool web ({pool['id']})\n"
    lbaas.ok("subnet", "delete", "web-sub")
    lbaas.ok("network", "delete", "web-net")
    assert lbaas.json("pool", "list") == []
    assert lbaas.json("network", "list") == []


def test_delete_wait_returns_when_the_pool_is_gone(lbaas: Cli, api: Api) -> None:
    _subnet(lbaas)
    pool = lbaas.json("pool", "create", "--name", "p", "--lb-method", "ROUND_ROBIN",
                      "--protocol", "TCP", "--subnet", "n1-sub")
    rc, out, err = lbaas("pool", "delete", "p", "--wait", "--wait-timeout", "30")
    assert rc == 0, err
    assert err.endswith(": deleted\n")
    assert api.get(f"/lb/pools/{pool['id']}").status_code == 404


def test_create_wait_without_an_agent_times_out_saying_why(lbaas: Cli) -> None:
    _subnet(lbaas)
    message = lbaas.fails("pool", "create", "--name", "p", "--lb-method", "ROUND_ROBIN",
                          "--protocol", "TCP", "--subnet", "n1-sub", "--wait",
                          "--wait-timeout", "1")
    assert message.startswith("timed out after 1 s waiting for pool p (")
    assert "still PENDING_CREATE" in message


def test_a_name_two_pools_share_is_refused_with_both_ids(lbaas: Cli) -> None:
    _subnet(lbaas)
    ids = [lbaas.json("pool", "create", "--name", "twin", "--lb-method", "ROUND_ROBIN",
                      "--protocol", "HTTP", "--subnet", "n1-sub")["id"] for _ in range(2)]
    message = lbaas.fails("pool", "show", "twin")
    assert message.startswith("2 pools have the name 'twin'")
    assert all(i in message for i in ids) and "give the id" in message
    assert lbaas.json("pool", "show", ids[1])["id"] == ids[1]
    assert lbaas.fails("member", "create", "--address", "10.20.0.5", "--protocol-port",
                       "80", "twin").startswith("2 pools have the name 'twin'")


def test_an_unknown_name_is_not_found(lbaas: Cli) -> None:
    assert lbaas.fails("subnet", "show", "nowhere") == (
        "subnet 'nowhere' not found (no subnet has that name or id)")
    assert lbaas.fails("member", "show", "0e6b1d5c-2b1e-4a7e-8a40-1c2a3b4c5d6e") == (
        "member '0e6b1d5c-2b1e-4a7e-8a40-1c2a3b4c5d6e' not found")


def _server_message(resp: Any) -> str:
    return " ".join(resp.json()["NeutronError"]["message"].split())


def test_the_server_s_refusal_is_its_message_on_one_line(lbaas: Cli, api: Api) -> None:
    # delay < timeout is refused by the server (not by the CLI): its words reach the user.
    message = lbaas.fails("healthmonitor", "create", "--type", "PING", "--delay", "1",
                          "--timeout", "5", "--max-retries", "3")
    resp = api.post("/lb/health_monitors", {"health_monitor": {
        "type": "PING", "delay": 1, "timeout": 5, "max_retries": 3}})
    assert resp.status_code == 400
    assert message == _server_message(resp)


def test_deleting_a_pool_with_a_vip_shows_the_conflict(lbaas: Cli, api: Api) -> None:
    _subnet(lbaas)
    pool = lbaas.json("pool", "create", "--name", "p", "--lb-method", "ROUND_ROBIN",
                      "--protocol", "HTTP", "--subnet", "n1-sub")
    lbaas.ok("vip", "create", "--name", "v", "--protocol-port", "80", "--protocol",
             "HTTP", "--subnet", "n1-sub", "p")
    message = lbaas.fails("pool", "delete", "p")
    resp = api.delete(f"/lb/pools/{pool['id']}")
    assert resp.status_code == 409
    assert message == _server_message(resp)
    assert lbaas.json("pool", "show", "p")["id"] == pool["id"]


def test_tokens_select_the_project_whose_names_are_looked_up(
        capsys: pytest.CaptureFixture[str]) -> None:
    tokens = [("tok-a", "proj-a", "member"), ("tok-b", "proj-b", "member")]
    with ServerProcess(auth_strategy="token", tokens=tokens) as server:
        a, b = TokenCli(server.url, "tok-a", capsys), TokenCli(server.url, "tok-b", capsys)
        a.ok("network", "create", "net-a")
        a.ok("subnet", "create", "net-a", "10.40.0.0/24", "--name", "sub-a")
        pool = a.json("pool", "create", "--name", "mine", "--lb-method", "ROUND_ROBIN",
                      "--protocol", "HTTP", "--subnet", "sub-a")
        assert pool["tenant_id"] == "proj-a"
        assert a.json("pool", "show", "mine")["id"] == pool["id"]
        # Another project's objects are invisible: by name and by id alike.
        assert b.fails("pool", "show", "mine") == (
            "pool 'mine' not found (no pool has that name or id)")
        assert b.fails("pool", "show", pool["id"]).startswith(f"pool '{pool['id']}' not found")
        assert b.json("pool", "list") == []
        # An unknown token: the server's 401 message, one line, exit 1.
        assert TokenCli(server.url, "nope", capsys).fails("pool", "list")


def test_the_console_script_in_a_subprocess(server: ServerProcess, project: str) -> None:
    env = dict(os.environ, LBAAS_URL=server.url, LBAAS_PROJECT_ID=project)
    env.pop("LBAAS_TOKEN", None)

    def lbaas(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LBAAS, *argv], env=env, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    made = lbaas("network", "create", "sub-net", "-f", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["name"] == "sub-net"
    listed = lbaas("network", "list", "-c", "name", "-f", "value")
    assert listed.stdout.split() == ["sub-net"]
    bad = lbaas("subnet", "create", "sub-net", "10.30.0.0/24", "--gateway-ip", "10.99.0.1")
    assert bad.returncode == 1
    assert bad.stderr.startswith("lbaas: error: ") and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr
    usage = lbaas("pool", "create", "--protocol", "HTTP")
    assert usage.returncode == 2 and "required" in usage.stderr
    assert lbaas("network", "delete", "sub-net").returncode == 0

    port = free_port()
    refused = subprocess.run([LBAAS, "--os-url", f"http://127.0.0.1:{port}", "pool", "list"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr == (f"lbaas: error: cannot connect to lbaas-server at "
                              f"http://127.0.0.1:{port}: Connection refused\n")
