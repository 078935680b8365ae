"""A tiny in-memory Neutron behind ``httpx.MockTransport``, for the CLI's unit tests.

It answers with Neutron's wrappers and errors and remembers every request, so a test
can assert the exact body ``lbaas ... create`` sent. The real server's rules are tested
against the real server (test_cli_server.py); this one only stores what it is given.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import httpx

# collection path under /v2.0 → (singular, plural)
COLLECTIONS = {
    "networks": ("network", "networks"),
    "subnets": ("subnet", "subnets"),
    "ports": ("port", "ports"),
    "lb/pools": ("pool", "pools"),
    "lb/members": ("member", "members"),
    "lb/health_monitors": ("health_monitor", "health_monitors"),
    "lb/vips": ("vip", "vips"),
    "agents": ("agent", "agents"),
}


def neutron_error(status: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"NeutronError": {"type": kind, "message": message,
                                                         "detail": ""}})


class FakeNeutron:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in COLLECTIONS}
        self.requests: list[tuple[str, str, Any]] = []
        # Attribute changes a GET of an id applies, one per GET (the agent at work).
        self.status_script: dict[str, list[dict[str, Any]]] = {}
        # Ids that stay on GET this many more times after a DELETE (PENDING_DELETE).
        self.linger: dict[str, int] = {}
        self._ids = itertools.count(1)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add(self, collection: str, **attrs: Any) -> dict[str, Any]:
        obj = {"id": str(uuid.uuid4()), **attrs}
        self.objects[collection][obj["id"]] = obj
        return obj

    def bodies(self, method: str) -> list[Any]:
        return [body for m, _, body in self.requests if m == method]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.requests.append((request.method, str(request.url), body))
        assert path.startswith("/v2.0/"), path
        rest = path[len("/v2.0/"):]
        for collection, (singular, plural) in COLLECTIONS.items():
            if rest == collection:
                return self._collection(request, collection, singular, plural, body)
            if rest.startswith(collection + "/"):
                return self._member(request, collection, singular,
                                    rest[len(collection) + 1:], body)
        return neutron_error(404, "HTTPNotFound", f"no route {path}")

    def _collection(self, request: httpx.Request, collection: str, singular: str,
                    plural: str, body: Any) -> httpx.Response:
        if request.method == "GET":
            params = dict(request.url.params)
            for key in ("sort_key", "sort_dir", "fields", "limit", "marker"):
                params.pop(key, None)
            found = [o for o in self.objects[collection].values()
                     if all(str(o.get(k)) == v for k, v in params.items())]
            return httpx.Response(200, json={plural: found})
        if request.method == "POST":
            attrs = dict(body[singular])
            if attrs.get("name") == "boom":
                return neutron_error(400, "BadRequest",
                                     "Invalid input for name.\nReason: 'boom' is not allowed")
            obj = self.add(collection, status="PENDING_CREATE", **attrs)
            return httpx.Response(201, json={singular: obj})
        return neutron_error(405, "HTTPMethodNotAllowed", "no")

    def _member(self, request: httpx.Request, collection: str, singular: str, rest: str,
                body: Any) -> httpx.Response:
        obj_id, _, sub = rest.partition("/")
        obj = self.objects[collection].get(obj_id)
        if obj is None:
            return neutron_error(404, f"{singular.title()}NotFound",
                                 f"{singular} {obj_id} could not be found")
        if sub:
            return self._sub(request, obj, sub, body)
        if request.method == "GET":
            if self.linger.get(obj_id):
                self.linger[obj_id] -= 1
                if not self.linger[obj_id]:
                    del self.objects[collection][obj_id]
                return httpx.Response(200, json={singular: dict(obj, status="PENDING_DELETE")})
            script = self.status_script.get(obj_id)
            if script:
                obj.update(script.pop(0))
            return httpx.Response(200, json={singular: obj})
        if request.method == "PUT":
            obj.update(body[singular])
            return httpx.Response(200, json={singular: obj})
        if request.method == "DELETE":
            if obj_id not in self.linger:
                del self.objects[collection][obj_id]
            return httpx.Response(204)
        return neutron_error(405, "HTTPMethodNotAllowed", "no")

    def _sub(self, request: httpx.Request, obj: dict[str, Any], sub: str,
             body: Any) -> httpx.Response:
        if sub == "stats":
            return httpx.Response(200, json={"stats": {"bytes_in": 10, "bytes_out": 20,
                                                       "active_connections": 1,
                                                       "total_connections": 3}})
        if sub == "loadbalancer-agent":
            return httpx.Response(200, json={"agent": obj.get("_agent")})
        if sub == "loadbalancer-pools":
            return httpx.Response(200, json={"pools": list(self.objects["lb/pools"].values())})
        if sub == "health_monitors" and request.method == "POST":
            monitor_id = body["health_monitor"]["id"]
            obj.setdefault("health_monitors", []).append(monitor_id)
            obj.setdefault("health_monitors_status", []).append(
                {"monitor_id": monitor_id, "status": "ACTIVE", "status_description": None})
            return httpx.Response(201, json={"health_monitor": {"id": monitor_id}})
        if sub.startswith("health_monitors/") and request.method == "DELETE":
            monitor_id = sub.split("/", 1)[1]
            obj["health_monitors"].remove(monitor_id)
            obj["health_monitors_status"] = [e for e in obj["health_monitors_status"]
                                             if e["monitor_id"] != monitor_id]
            return httpx.Response(204)
        return neutron_error(404, "HTTPNotFound", f"no route {sub}")
