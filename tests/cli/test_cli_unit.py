"""The ``lbaas`` client's arguments → requests, and its output, against a fake Neutron.

The fake only stores what it is given, so these tests pin what the CLI *sends* and how
it *shows* answers; what the real server does with them is in test_cli_server.py.
"""

from __future__ import annotations

import json
import sys
import types

import pytest

from lbaas.cli.main import main
from tests.cli.fake_neutron import FakeNeutron


@pytest.fixture
def neutron() -> FakeNeutron:
    return FakeNeutron()


def run(neutron: FakeNeutron, *argv: str) -> int:
    return main(list(argv), transport=neutron.transport())


def test_pool_create_sends_attributes_and_resolves_the_subnet_name(neutron, capsys):
    subnet = neutron.add("subnets", name="s1", cidr="10.0.0.0/24")
    rc = run(neutron, "pool", "create", "--name", "p1", "--lb-method", "round_robin",
             "--protocol", "HTTP", "--subnet", "s1", "--description", "web",
             "--admin-state-down", "--tenant-id", "t1")
    assert rc == 0
    assert neutron.bodies("POST") == [{"pool": {
        "name": "p1", "description": "web", "lb_method": "ROUND_ROBIN", "protocol": "HTTP",
        "subnet_id": subnet["id"], "admin_state_up": False, "tenant_id": "t1"}}]
    out = capsys.readouterr().out
    assert "| lb_method " in out and "ROUND_ROBIN" in out and "| Field" in out


def test_member_create_takes_the_pool_positional_and_integer_flags(neutron):
    pool = neutron.add("lb/pools", name="p1")
    assert run(neutron, "member", "create", "--address", "10.0.0.3", "--protocol-port", "80",
               "--weight", "5", "--admin-state-up", "false", "p1") == 0
    assert neutron.bodies("POST") == [{"member": {
        "pool_id": pool["id"], "address": "10.0.0.3", "protocol_port": 80, "weight": 5,
        "admin_state_up": False}}]


def test_vip_create_parses_session_persistence(neutron):
    pool = neutron.add("lb/pools", name="p1")
    subnet = neutron.add("subnets", name="s1")
    assert run(neutron, "vip", "create", "--name", "v", "--protocol-port", "80",
               "--protocol", "HTTP", "--subnet-id", subnet["id"], "--connection-limit", "-1",
               "--session-persistence", "type=APP_COOKIE,cookie_name=sid",
               "--address", "10.0.0.10", pool["id"]) == 0
    assert neutron.bodies("POST") == [{"vip": {
        "pool_id": pool["id"], "name": "v", "address": "10.0.0.10", "protocol_port": 80,
        "protocol": "HTTP", "subnet_id": subnet["id"], "connection_limit": -1,
        "session_persistence": {"type": "APP_COOKIE", "cookie_name": "sid"}}}]


def test_vip_update_can_clear_session_persistence(neutron):
    vip = neutron.add("lb/vips", name="v", session_persistence={"type": "SOURCE_IP"})
    assert run(neutron, "vip", "update", "v", "--no-session-persistence") == 0
    assert neutron.bodies("PUT") == [{"vip": {"session_persistence": None}}]
    assert neutron.objects["lb/vips"][vip["id"]]["session_persistence"] is None


def test_subnet_create_with_pools_routes_and_no_gateway(neutron):
    net = neutron.add("networks", name="n1")
    assert run(neutron, "subnet", "create", "n1", "10.0.0.0/24", "--name", "s1",
               "--no-gateway",
               "--allocation-pool", "start=10.0.0.10,end=10.0.0.20",
               "--allocation-pool", "start=10.0.0.30,end=10.0.0.40",
               "--host-route", "destination=0.0.0.0/0,nexthop=10.0.0.254",
               "--dns-nameserver", "10.0.0.53", "--dns-nameserver", "10.0.0.54") == 0
    assert neutron.bodies("POST") == [{"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/24", "name": "s1", "ip_version": 4,
        "gateway_ip": None,
        "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"},
                             {"start": "10.0.0.30", "end": "10.0.0.40"}],
        "host_routes": [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"}],
        "dns_nameservers": ["10.0.0.53", "10.0.0.54"]}}]


def test_subnet_ip_version_follows_the_cidr_unless_given(neutron):
    neutron.add("networks", name="n1")
    assert run(neutron, "subnet", "create", "n1", "fd00::/64") == 0
    assert run(neutron, "subnet", "create", "n1", "10.1.0.0/24", "--ip-version", "4",
               "--gateway-ip", "10.1.0.254") == 0
    first, second = neutron.bodies("POST")
    assert first["subnet"]["ip_version"] == 6
    assert second["subnet"]["ip_version"] == 4
    assert second["subnet"]["gateway_ip"] == "10.1.0.254"


def test_network_create_with_provider_attributes(neutron):
    assert run(neutron, "network", "create", "n1", "--provider-network-type", "vlan",
               "--provider-physical-network", "physnet1", "--provider-segmentation-id",
               "101", "--shared") == 0
    assert neutron.bodies("POST") == [{"network": {
        "name": "n1", "shared": True, "provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": 101}}]


def test_healthmonitor_create_and_update_send_only_what_was_given(neutron, capsys):
    assert run(neutron, "healthmonitor", "create", "--type", "HTTP", "--delay", "5",
               "--timeout", "3", "--max-retries", "2", "--url-path", "/health",
               "--expected-codes", "200-204", "--http-method", "HEAD", "-f", "json") == 0
    created = json.loads(capsys.readouterr().out)
    assert run(neutron, "healthmonitor", "update", created["id"], "--delay", "7") == 0
    assert neutron.bodies("POST") == [{"health_monitor": {
        "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2, "http_method": "HEAD",
        "url_path": "/health", "expected_codes": "200-204"}}]
    assert neutron.bodies("PUT") == [{"health_monitor": {"delay": 7}}]


def test_member_update_moves_it_to_a_pool_named(neutron):
    neutron.add("lb/pools", name="old")
    new = neutron.add("lb/pools", name="new")
    member = neutron.add("lb/members", address="10.0.0.3", protocol_port=80)
    assert run(neutron, "member", "update", member["id"], "--pool", "new",
               "--weight", "0") == 0
    assert neutron.bodies("PUT") == [{"member": {"weight": 0, "pool_id": new["id"]}}]


def test_update_with_nothing_to_change_is_a_usage_error(neutron, capsys):
    neutron.add("lb/pools", name="p1")
    assert run(neutron, "pool", "update", "p1") == 2
    err = capsys.readouterr().err
    assert "nothing to update" in err and "--lb-method" in err
    assert neutron.bodies("PUT") == []


def test_bad_key_value_is_a_usage_error_before_any_request(neutron, capsys):
    rc = run(neutron, "vip", "create", "--name", "v", "--protocol-port", "80",
             "--protocol", "HTTP", "--subnet", "s", "--session-persistence",
             "kind=HTTP_COOKIE", "p")
    assert rc == 2
    assert "unknown key 'kind' (expected: type, cookie_name)" in capsys.readouterr().err
    assert neutron.requests == []


def test_missing_required_flag_is_a_usage_error(neutron, capsys):
    assert run(neutron, "pool", "create", "--protocol", "HTTP", "--subnet", "s") == 2
    assert "--lb-method" in capsys.readouterr().err


def test_a_name_matching_two_objects_asks_for_the_id(neutron, capsys):
    a = neutron.add("lb/pools", name="web")
    b = neutron.add("lb/pools", name="web")
    assert run(neutron, "pool", "show", "web") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("lbaas: error: 2 pools have the name 'web'")
    assert a["id"] in err and b["id"] in err and "give the id" in err


def test_an_unknown_name_is_not_found(neutron, capsys):
    assert run(neutron, "pool", "delete", "nope") == 1
    assert capsys.readouterr().err == (
        "lbaas: error: pool 'nope' not found (no pool has that name or id)\n")
    assert neutron.bodies("DELETE") == []


def test_an_id_is_found_even_when_it_is_also_someone_s_name(neutron, capsys):
    target = neutron.add("lb/pools", name="p1")
    neutron.add("lb/pools", name=target["id"])
    assert run(neutron, "pool", "show", target["id"], "-f", "json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "p1"


def test_server_error_message_is_shown_on_one_line(neutron, capsys):
    neutron.add("subnets", name="s1")
    rc = run(neutron, "pool", "create", "--name", "boom", "--lb-method", "ROUND_ROBIN",
             "--protocol", "HTTP", "--subnet", "s1")
    assert rc == 1
    captured = capsys.readouterr()
    assert captured.err == ("lbaas: error: Invalid input for name. Reason: 'boom' is not "
                            "allowed\n")
    assert captured.out == ""


def test_connection_refused_names_the_url(capsys):
    import socket

    with socket.socket() as s:
        # Bound but never listening: a connection to it is refused.
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        rc = main(["--os-url", f"http://127.0.0.1:{port}", "pool", "list"])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"lbaas: error: cannot connect to lbaas-server at "
                          f"http://127.0.0.1:{port}")
    assert "Traceback" not in err


def test_list_shows_key_columns_and_json_shows_everything(neutron, capsys):
    neutron.add("lb/pools", name="p1", lb_method="ROUND_ROBIN", protocol="HTTP",
                provider="haproxy", admin_state_up=True, status="ACTIVE", subnet_id="x")
    assert run(neutron, "pool", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert [c.strip() for c in table[1].strip("|").split("|")] == [
        "id", "name", "provider", "lb_method", "protocol", "admin_state_up", "status"]
    assert "subnet_id" not in "\n".join(table)
    assert run(neutron, "pool", "list", "-f", "json") == 0
    (pool,) = json.loads(capsys.readouterr().out)
    assert pool["subnet_id"] == "x"


def test_columns_pick_what_is_shown(neutron, capsys):
    neutron.add("lb/pools", name="p1", lb_method="ROUND_ROBIN", status="ACTIVE")
    assert run(neutron, "pool", "show", "p1", "-c", "name", "-c", "lb-method",
               "-f", "json") == 0
    assert json.loads(capsys.readouterr().out) == {"name": "p1", "lb_method": "ROUND_ROBIN"}
    assert run(neutron, "pool", "list", "-c", "name", "-c", "status", "-f", "value") == 0
    assert capsys.readouterr().out == "p1 ACTIVE\n"
    assert run(neutron, "pool", "show", "p1", "-c", "colour") == 1
    assert "no column 'colour'" in capsys.readouterr().err


def test_show_table_lists_fields_sorted_with_lists_one_item_a_line(neutron, capsys):
    neutron.add("subnets", name="s1", cidr="10.0.0.0/24",
                allocation_pools=[{"start": "10.0.0.2", "end": "10.0.0.9"},
                                  {"start": "10.0.0.20", "end": "10.0.0.29"}])
    assert run(neutron, "subnet", "show", "s1") == 0
    lines = capsys.readouterr().out.splitlines()
    fields = [ln.split("|")[1].strip() for ln in lines[3:-1]]
    assert [f for f in fields if f] == ["allocation_pools", "cidr", "id", "name"]
    assert '{"end": "10.0.0.9", "start": "10.0.0.2"}' in lines[3]
    assert '{"end": "10.0.0.29", "start": "10.0.0.20"}' in lines[4]


def test_columns_of_an_empty_list_are_not_refused(neutron, capsys):
    assert run(neutron, "pool", "list", "-c", "subnet-id", "-f", "json") == 0
    assert capsys.readouterr().out == "[]\n"
    assert run(neutron, "pool", "list", "-c", "subnet_id") == 0
    assert "| subnet_id |" in capsys.readouterr().out


def test_port_create_resolves_the_subnet_of_a_fixed_ip(neutron):
    net = neutron.add("networks", name="n1")
    subnet = neutron.add("subnets", name="s1")
    assert run(neutron, "port", "create", "n1", "--name", "p",
               "--fixed-ip", "subnet=s1,ip_address=10.0.0.7", "--device-owner", "x") == 0
    assert neutron.bodies("POST") == [{"port": {
        "network_id": net["id"], "name": "p", "device_owner": "x",
        "fixed_ips": [{"ip_address": "10.0.0.7", "subnet_id": subnet["id"]}]}}]


def test_member_list_filters_by_pool_name(neutron, capsys):
    pool = neutron.add("lb/pools", name="p1")
    neutron.add("lb/members", pool_id=pool["id"], address="10.0.0.3")
    neutron.add("lb/members", pool_id="other", address="10.0.0.4")
    assert run(neutron, "member", "list", "--pool", "p1", "-c", "address", "-f",
               "value") == 0
    assert capsys.readouterr().out == "10.0.0.3\n"


def test_wait_follows_the_object_until_active(neutron, capsys):
    pool = neutron.add("lb/pools", name="p1", status="ACTIVE")
    member = neutron.add("lb/members", pool_id=pool["id"], status="ACTIVE")
    # The first GET is the CLI looking the member up, before its update.
    neutron.status_script[member["id"]] = [
        {"status": "ACTIVE"},
        {"status": "PENDING_UPDATE", "status_description": "waiting for agent"},
        {"status": "PENDING_UPDATE", "status_description": "waiting for agent"},
        {"status": "ACTIVE", "status_description": None}]
    assert run(neutron, "member", "update", member["id"], "--weight", "3", "--wait",
               "-f", "json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "ACTIVE"
    # Not a terminal: plain lines, one per change, no carriage returns.
    assert captured.err == (f"waiting: member {member['id']}: PENDING_UPDATE (waiting for "
                            f"agent)\nmember {member['id']}: ACTIVE\n")


def test_wait_ends_with_exit_1_and_the_reason_on_error(neutron, capsys):
    neutron.add("subnets", name="s1")
    assert run(neutron, "pool", "create", "--name", "p1", "--lb-method", "ROUND_ROBIN",
               "--protocol", "HTTP", "--subnet", "s1", "-f", "json") == 0
    pool = json.loads(capsys.readouterr().out)
    neutron.status_script[pool["id"]] = [
        {"status": "PENDING_UPDATE"},
        {"status": "ERROR", "status_description": "haproxy -c: bad config\nline 3"}]
    assert run(neutron, "pool", "update", "p1", "--lb-method", "SOURCE_IP", "--wait") == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"lbaas: error: pool p1 ({pool['id']}) is in ERROR: "
                                    "haproxy -c: bad config line 3")


def test_wait_gives_up_after_the_timeout(neutron, capsys):
    neutron.add("subnets", name="s1")
    rc = run(neutron, "pool", "create", "--name", "p1", "--lb-method", "ROUND_ROBIN",
             "--protocol", "HTTP", "--subnet", "s1", "--wait", "--wait-timeout", "0.5")
    assert rc == 1
    assert "timed out after 0.5 s waiting for pool p1" in capsys.readouterr().err


def test_delete_wait_follows_until_gone(neutron, capsys):
    pool = neutron.add("lb/pools", name="p1", status="ACTIVE")
    neutron.linger[pool["id"]] = 2
    assert run(neutron, "pool", "delete", "p1", "--wait") == 0
    captured = capsys.readouterr()
    assert captured.out == f"Deleted pool p1 ({pool['id']})\n"
    assert "PENDING_DELETE" in captured.err and captured.err.endswith(": deleted\n")
    assert pool["id"] not in neutron.objects["lb/pools"]


def test_progress_on_a_terminal_rewrites_one_line(neutron, capsys, monkeypatch):
    member = neutron.add("lb/members", status="ACTIVE")
    # The first GET is the CLI looking the member up, before its update.
    long = "waiting for a live lbaas agent " * 5
    neutron.status_script[member["id"]] = [
        {"status": "ACTIVE"}, {"status": "PENDING_UPDATE", "status_description": long},
        {"status": "PENDING_UPDATE"}, {"status": "ACTIVE", "status_description": None}]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert run(neutron, "member", "update", member["id"], "--weight", "2", "--wait") == 0
    err = capsys.readouterr().err
    assert "\r\x1b[K| member" in err and "\r\x1b[K/ member" in err
    assert "\n" not in err[:-1] and err.endswith(f"member {member['id']}: ACTIVE\n")
    # Each rewrite fits one row (80 columns when the width is unknown), or \r could not
    # erase it.
    rewrites = err.split("\r\x1b[K")[1:-1]
    assert rewrites and all(len(r) < 80 for r in rewrites)
    assert any(r.endswith("... [0s]") for r in rewrites)


def test_healthmonitor_associate_and_disassociate(neutron, capsys):
    pool = neutron.add("lb/pools", name="p1")
    monitor = neutron.add("lb/health_monitors", type="PING")
    assert run(neutron, "healthmonitor", "associate", monitor["id"], "p1", "--wait") == 0
    assert run(neutron, "healthmonitor", "disassociate", monitor["id"], "p1", "--wait") == 0
    sent = [(m, u.split("/v2.0/")[1]) for m, u, _ in neutron.requests if m != "GET"]
    assert sent == [("POST", f"lb/pools/{pool['id']}/health_monitors"),
                    ("DELETE", f"lb/pools/{pool['id']}/health_monitors/{monitor['id']}")]
    assert neutron.bodies("POST") == [{"health_monitor": {"id": monitor["id"]}}]
    assert "Associated health monitor" in capsys.readouterr().out


def test_pool_stats_agent_and_agent_pools(neutron, capsys):
    agent = neutron.add("agents", host="net1", agent_type="Loadbalancer agent", alive=True)
    neutron.add("lb/pools", name="p1", _agent=agent)
    neutron.add("lb/pools", name="p2")
    assert run(neutron, "pool", "stats", "p1", "-f", "json") == 0
    assert json.loads(capsys.readouterr().out)["total_connections"] == 3
    assert run(neutron, "pool", "agent", "p1", "-c", "host", "-f", "value") == 0
    assert capsys.readouterr().out == "net1\n"
    assert run(neutron, "pool", "agent", "p2") == 0
    assert "is not bound to an agent" in capsys.readouterr().out
    assert run(neutron, "agent", "pools", "net1", "-c", "name", "-f", "value") == 0
    assert capsys.readouterr().out == "p1\np2\n"


def test_token_project_and_url_come_from_the_environment(neutron, monkeypatch):
    seen = []
    monkeypatch.setenv("LBAAS_URL", "http://127.0.0.1:1234/v2.0/")
    monkeypatch.setenv("LBAAS_TOKEN", "secret")
    monkeypatch.setenv("LBAAS_PROJECT_ID", "p9")
    transport = neutron.transport()
    original = neutron.handle

    def spy(request):  # type: ignore[no-untyped-def]
        seen.append(request)
        return original(request)

    transport.handler = spy  # type: ignore[assignment]
    assert main(["pool", "list"], transport=transport) == 0
    (request,) = seen
    assert str(request.url) == "http://127.0.0.1:1234/v2.0/lb/pools"
    assert request.headers["X-Auth-Token"] == "secret"
    assert request.headers["X-Project-Id"] == "p9"
    assert main(["pool", "list", "--os-token", "other"], transport=transport) == 0
    assert seen[1].headers["X-Auth-Token"] == "other"


def test_debug_shows_requests_and_answers_but_not_the_token(neutron, capsys):
    neutron.add("lb/pools", name="p1")
    assert main(["--debug", "--os-token", "s3cret", "pool", "show", "p1"],
                transport=neutron.transport()) == 0
    err = capsys.readouterr().err
    assert "REQ: GET http://127.0.0.1:9696/v2.0/lb/pools params={'name': 'p1'}" in err
    assert 'RESP: 200 {"pools"' in err
    assert "s3cret" not in err


def test_all_in_one_is_handed_to_its_own_command(monkeypatch):
    calls = []
    fake = types.ModuleType("lbaas.cmd.all_in_one")
    fake.main = lambda argv: calls.append(argv) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lbaas.cmd.all_in_one", fake)
    assert main(["all-in-one", "--config-file", "x.conf"]) == 0
    assert calls == [["--config-file", "x.conf"]]


def test_an_unexpected_failure_is_one_line_not_a_traceback(neutron, capsys, monkeypatch):
    def explode(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire\nreally")

    transport = neutron.transport()
    transport.handler = explode  # type: ignore[assignment]
    assert main(["pool", "list"], transport=transport) == 1
    err = capsys.readouterr().err
    assert err == "lbaas: error: unexpected failure: disk on fire really (--debug shows where)\n"
