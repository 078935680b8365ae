"""What an operator sees of each request: the ``x-openstack-request-id`` header on every
answer, and in the server's log one access line per request and an audit line per
change, all carrying that id (lbaas/server/request_log.py).

The header is checked on both backends; the log lines on SQLite only (they don't
depend on the database), each from a server of its own writing to a ``log_file``.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lbaas.common import request_id
from tests.api.builders import assert_error, make_network, unique
from tests.api.conftest import ServerFactory
from tests.helpers.server import Api, ServerProcess

RID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _rid(resp: httpx.Response) -> str:
    rid = resp.headers.get("x-openstack-request-id", "")
    assert RID.match(rid), f"{resp.request.method} {resp.request.url}: {rid!r}"
    return rid


# --- the header -------------------------------------------------------------------------

def test_every_answer_carries_its_own_request_id(api: Api, server: ServerProcess) -> None:
    net = make_network(api)
    answers = {
        "list 200": api.get("/lb/pools"),
        "create 201": api.post("/networks", {"network": {"name": unique()}}),
        "delete 204": api.delete(f"/networks/{net['id']}"),
        "bad body 400": api.post("/lb/pools", {"pool": {"name": "a\nb"}}),
        "unknown object 404": api.get(f"/lb/pools/{net['id']}"),
        "unknown path 404": api.get("/v2.0/nothing-here"),
        "method 405": api.request("PATCH", "/lb/pools"),
        "too big 413": api.post("/lb/pools", content=b"{" + b" " * (1024 * 1024 + 1)),
        "octavia 200": api.get("/v2/lbaas/loadbalancers"),
        "octavia 404": api.get(f"/v2.0/lbaas/loadbalancers/{net['id']}"),
        "agent api 404": api.get("/agent/v1/hosts/nobody/ready_devices"),
        "version document": api.get("/"),
        "health": httpx.get(server.url + "/healthcheck"),
    }
    statuses = {name: resp.status_code for name, resp in answers.items()}
    assert statuses == {"list 200": 200, "create 201": 201, "delete 204": 204,
                        "bad body 400": 400, "unknown object 404": 404,
                        "unknown path 404": 404, "method 405": 405, "too big 413": 413,
                        "octavia 200": 200, "octavia 404": 404, "agent api 404": 404,
                        "version document": 200, "health": 200}
    ids = [_rid(resp) for resp in answers.values()]
    assert len(set(ids)) == len(ids)


def test_unauthenticated_401_carries_a_request_id(backend: str,
                                                  server_factory: ServerFactory) -> None:
    srv = server_factory(backend, auth_strategy="token", tokens=[("t", "p", "member")])
    try:
        for path in ("/v2.0/lb/pools", "/v2/lbaas/loadbalancers", "/agent/v1/agents"):
            resp = httpx.get(srv.url + path, headers={"X-Auth-Token": "wrong"})
            assert resp.status_code == 401
            _rid(resp)
    finally:
        srv.cleanup()


def test_an_agents_request_id_is_kept_anything_else_replaced(api: Api) -> None:
    theirs = request_id.generate()
    kept = api.get("/agent/v1/hosts/nobody/ready_devices",
                   headers={"x-openstack-request-id": theirs})
    assert kept.headers["x-openstack-request-id"] == theirs
    for sent in ("req-1234", "REQ-" + theirs[4:].upper(), theirs + "x", "<script>",
                 "req-" + "0" * 32):
        resp = api.get("/lb/pools", headers={"x-openstack-request-id": sent})
        assert resp.status_code == 200
        assert _rid(resp) != sent


# --- the log ----------------------------------------------------------------------------

def _log_server(server_factory: ServerFactory, directory: Path,
                **options: Any) -> tuple[ServerProcess, Path]:
    log_file = directory / "server.log"
    srv = server_factory("sqlite", conf={"DEFAULT": {"log_file": log_file, **options}})
    return srv, log_file


def _wait_for(read: Callable[[], str], wanted: list[str], timeout: float = 10.0) -> str:
    """The log's text once every ``wanted`` string is in it (the access line is written
    just after the answer has gone out)."""
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        if all(w in text for w in wanted) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


@pytest.fixture(scope="module")
def text_log(server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[ServerProcess, Path]]:
    srv, log_file = _log_server(server_factory, tmp_path_factory.mktemp("text-log"))
    yield srv, log_file
    srv.cleanup()


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_access_and_audit_lines_in_the_log_file(text_log: tuple[ServerProcess, Path]) -> None:
    srv, log_file = text_log
    with Api(srv.url, project="proj-log") as api:
        created = api.post("/networks", {"network": {"name": "logged"}})
        net_id = created.json()["network"]["id"]
        updated = api.put(f"/networks/{net_id}", {"network": {"name": "renamed"}})
        listed = api.get("/networks", params={"name": "renamed"})
        refused = api.post("/networks", {"network": {"mtu": 1}})
        deleted = api.delete(f"/networks/{net_id}")
        agent_call = api.post("/agent/v1/agents", {"host": "h-log", "configurations": {}})
    assert [r.status_code for r in (created, updated, listed, refused, deleted)] == \
        [201, 200, 200, 400, 204]
    assert agent_call.status_code in (200, 201)
    ids = {name: _rid(r) for name, r in (("created", created), ("updated", updated),
                                         ("listed", listed), ("refused", refused),
                                         ("deleted", deleted), ("agent", agent_call))}
    text = _wait_for(log_file.read_text, [f"[{rid}]" for rid in ids.values()])

    def access(name: str) -> str:
        (line,) = [line for line in _lines_with(text, f"[{ids[name]}]")
                   if " lbaas.access " in line]
        return line

    assert re.search(r' INFO lbaas\.access \[req-[0-9a-f-]{36}\] 127\.0\.0\.1 '
                     r'"POST /v2\.0/networks" status 201 [0-9]+\.[0-9] ms project proj-log$',
                     access("created"))
    assert f'"PUT /v2.0/networks/{net_id}" status 200 ' in access("updated")
    assert '"GET /v2.0/networks?name=renamed" status 200 ' in access("listed")
    assert '"POST /v2.0/networks" status 400 ' in access("refused")
    assert f'"DELETE /v2.0/networks/{net_id}" status 204 ' in access("deleted")
    assert '"POST /agent/v1/agents" status ' in access("agent")

    audit = _lines_with(text, " lbaas.audit ")
    assert [line.split(" lbaas.audit ", 1)[1] for line in audit] == [
        f"[{ids['created']}] project proj-log (roles admin) create /v2.0/networks "
        f"id {net_id}: 201",
        f"[{ids['updated']}] project proj-log (roles admin) update /v2.0/networks/{net_id}: "
        "200",
        f"[{ids['deleted']}] project proj-log (roles admin) delete /v2.0/networks/{net_id}: "
        "204",
    ]
    # The start line names the version, the database without a password, the address.
    (start,) = _lines_with(text, " lbaas-server ")
    assert re.search(r" INFO lbaas\.server \[-\] lbaas-server \S+ starting: database "
                     r"sqlite:///\S+/lbaas\.sqlite, API on http://127\.0\.0\.1:[0-9]+, "
                     r"auth_strategy noauth$", start)


def test_secrets_and_line_breaks_in_a_url_stay_out_of_the_log(
        text_log: tuple[ServerProcess, Path]) -> None:
    srv, log_file = text_log
    resp = httpx.get(srv.url + "/v2.0/networks/x%0A2026-01-01 INFO forged%0D",
                     params={"name": "n", "token": "s3cret", "api_key": "k3y",
                             "sort_key": "name"})
    rid = _rid(resp)
    text = _wait_for(log_file.read_text, [f"[{rid}]"])
    (line,) = [line for line in _lines_with(text, f"[{rid}]") if " lbaas.access " in line]
    assert '"GET /v2.0/networks/x%0A2026-01-01%20INFO%20forged%0D?name=n&token=***' \
           '&api_key=***&sort_key=name" status 404 ' in line
    assert "s3cret" not in text and "k3y" not in text
    assert "INFO forged" not in text


def test_json_log_lines_parse(server_factory: ServerFactory,
                              tmp_path_factory: pytest.TempPathFactory) -> None:
    srv, log_file = _log_server(server_factory, tmp_path_factory.mktemp("json-log"),
                                use_json="true")
    try:
        with Api(srv.url, project="proj-json") as api:
            resp = api.post("/networks", {"network": {"name": "j"}})
        rid = _rid(resp)
        srv.stop()  # every line written, the stop line last
        records = [json.loads(line) for line in log_file.read_text().splitlines()]
    finally:
        srv.cleanup()
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= set(record), record
    (start,) = [r for r in records if r["logger"] == "lbaas.server"
                and "starting" in r["message"]]
    assert start["request_id"] is None and start["level"] == "INFO"
    (access,) = [r for r in records if r["logger"] == "lbaas.access"
                 and r["request_id"] == rid]
    assert (access["method"], access["path"], access["status"], access["project_id"]) == \
        ("POST", "/v2.0/networks", 201, "proj-json")
    assert isinstance(access["duration_ms"], float)
    (audit,) = [r for r in records if r["logger"] == "lbaas.audit"]
    assert (audit["request_id"], audit["action"], audit["object_id"]) == \
        (rid, "create", resp.json()["network"]["id"])
    assert records[-1]["message"] == "lbaas-server stopped"


def test_a_failed_change_has_no_audit_line(text_log: tuple[ServerProcess, Path]) -> None:
    srv, log_file = text_log
    with Api(srv.url, project="proj-noaudit") as api:
        resp = api.delete(f"/networks/{request_id.generate()[4:]}")
    assert_error(resp, 404)
    rid = _rid(resp)
    text = _wait_for(log_file.read_text, [f"[{rid}]"])
    assert [line for line in _lines_with(text, f"[{rid}]") if " lbaas.audit " in line] == []


def test_a_500_carries_the_id_and_so_does_its_traceback_in_the_log(tmp_path: Path) -> None:
    # In process: a route that fails unexpectedly is the only way to get a 500.
    import asyncio

    from lbaas.cmd.server import load_config
    from lbaas.common.log import TextFormatter
    from lbaas.server.app import create_app

    ini = tmp_path / "server.conf"
    ini.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n")
    app = create_app(load_config(["--config-file", str(ini)]))

    @app.get("/v2.0/boom")
    def boom() -> None:
        raise RuntimeError("kaboom")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://lbaas") as client:
            return await client.get("/v2.0/boom")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(request_id.RequestIdFilter())
    handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        resp = asyncio.run(call())
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        app.state.db.engine.dispose()
    assert_error(resp, 500)
    rid = _rid(resp)
    text = stream.getvalue()
    assert f"ERROR lbaas.server.app [{rid}] unexpected error on GET /v2.0/boom" in text
    assert "RuntimeError: kaboom" in text
    assert f'lbaas.access [{rid}] 192.0.2.7 "GET /v2.0/boom" status 500 ' in text
