"""/agent/v1: v1's plugin RPC over HTTP, for agents on other hosts (docs/architecture.md);
/agent/v2: the typed logical device (lbaas.common.logical_device)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from lbaas.common import plugin_api
from lbaas.server import errors
from lbaas.server.api.authorize import agent_allowed

v1 = APIRouter(prefix="/agent/v1", tags=["agent"])
v2 = APIRouter(prefix="/agent/v2", tags=["agent"])


class AgentConfigurations(BaseModel):
    """What the scheduler reads from a heartbeat; anything else the agent reports is
    kept as it is."""

    model_config = ConfigDict(extra="allow")
    device_drivers: list[str] = Field(default_factory=list, max_length=16)
    bridge_mappings: dict[str, str] = Field(default_factory=dict, max_length=1024)
    interface_driver: str | None = Field(default=None, max_length=64)
    instances: int = Field(default=0, ge=0, le=2**31 - 1)


class Heartbeat(BaseModel):
    host: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    configurations: AgentConfigurations = Field(default_factory=lambda: AgentConfigurations())
    start_flag: bool = False
    agent_type: str | None = None


class StatusReport(BaseModel):
    obj_type: str = Field(max_length=32)
    obj_id: str = Field(max_length=80)
    status: str = Field(pattern=r"^(ACTIVE|INACTIVE|ERROR|DOWN)$")
    status_description: str | None = Field(None, max_length=4096)


class HostBody(BaseModel):
    host: str = Field(min_length=1, max_length=255)


class MemberHealth(BaseModel):
    status: str = Field(pattern=r"^(ACTIVE|INACTIVE|DOWN|ERROR)$")


Counter = Field(0, ge=0, le=2**63 - 1)


class HttpResponses(BaseModel):
    """HTTP responses by class, HAProxy's hrsp_* counters. Every field is optional
    (0): an agent from before they were reported still reports."""

    hrsp_1xx: int = Counter
    hrsp_2xx: int = Counter
    hrsp_3xx: int = Counter
    hrsp_4xx: int = Counter
    hrsp_5xx: int = Counter
    hrsp_other: int = Counter


class ListenerCounters(HttpResponses):
    bytes_in: int = Counter
    bytes_out: int = Counter
    active_connections: int = Counter
    total_connections: int = Counter
    request_errors: int = Counter


class MemberCounters(BaseModel):
    check_failures: int = Counter  # HAProxy's chkfail
    check_up_down: int = Counter  # chkdown


class PoolStats(HttpResponses):
    # The sums over every frontend (a v1 load balancer's one VIP).
    bytes_in: int = Counter
    bytes_out: int = Counter
    active_connections: int = Counter
    total_connections: int = Counter
    epoch: str = Field("", max_length=255)
    members: dict[str, MemberHealth] = Field(default_factory=dict)
    # Counters per listener (frontend), keyed by listener id.
    listeners: dict[str, ListenerCounters] = Field(default_factory=dict, max_length=1024)
    # Per pool (backend): HTTP responses by class, keyed by pool id.
    pools: dict[str, HttpResponses] = Field(default_factory=dict, max_length=1024)
    # Per member (server), keyed by member id, whatever its health verdict.
    member_counters: dict[str, MemberCounters] = Field(default_factory=dict,
                                                       max_length=65536)
    amphora: AmphoraReport | None = None


class AmphoraReport(BaseModel):
    """ACTIVE_STANDBY: which amphora reports, and keepalived's state on its host."""

    id: str = Field(min_length=1, max_length=36)
    vrrp_state: str = Field(pattern=r"^(MASTER|BACKUP|FAULT)$")


class StatsBody(BaseModel):
    stats: PoolStats
    host: str = Field(min_length=1, max_length=255)


def _api(request: Request) -> Any:
    if not agent_allowed(request):
        raise errors.PolicyNotAuthorized(rule="lbaas:agent")
    return request.app.state.local_api


@v1.post("/agents")
def report_state(request: Request, body: Heartbeat) -> dict[str, Any]:
    return {"agent": _api(request).report_state(
        body.host, body.configurations.model_dump(exclude_unset=True), body.start_flag)}


@v1.get("/hosts/{host}/ready_devices")
def ready_devices(request: Request, host: str) -> dict[str, Any]:
    try:
        return {"pool_ids": _api(request).get_ready_devices(host)}
    except plugin_api.HostNotFound:
        raise errors.AgentNotFound(id=host) from None


@v1.get("/hosts/{host}/events")
async def events(request: Request, host: str,
                 after: int = Query(0, ge=0, le=2**63 - 1),
                 timeout: float = Query(25.0, ge=0, le=120)) -> dict[str, Any]:
    # async: a waiting agent holds no worker thread (the API's requests need them).
    ev = await _api(request).get_events_async(host, after, timeout)
    return {"revision": ev.revision, "pool_ids": ev.pool_ids}


@v1.get("/logical_devices/{pool_id}")
def logical_device(request: Request, pool_id: str) -> dict[str, Any]:
    result: dict[str, Any] = _api(request).logical_device(pool_id)
    return result


class DeployedBody(BaseModel):
    revision: int | None = Field(None, ge=0, le=2**63 - 1)
    # The confirming agent's host: an ACTIVE_STANDBY load balancer is realized once
    # each amphora's agent confirmed. Optional: without it, as before.
    host: str | None = Field(None, min_length=1, max_length=255)


@v1.post("/pools/{pool_id}/deployed", status_code=204)
def pool_deployed(request: Request, pool_id: str,
                  body: DeployedBody | None = None) -> Response:
    _api(request).pool_deployed(pool_id, body.revision if body else None,
                                body.host if body else None)
    return Response(status_code=204)


@v1.post("/pools/{pool_id}/destroyed", status_code=204)
def pool_destroyed(request: Request, pool_id: str) -> Response:
    _api(request).pool_destroyed(pool_id)
    return Response(status_code=204)


@v1.post("/status", status_code=204)
def update_status(request: Request, body: StatusReport) -> Response:
    _api(request).strict_update_status(body.obj_type, body.obj_id, body.status,
                                       body.status_description)
    return Response(status_code=204)


@v1.post("/ports/{port_id}/plug", status_code=204)
def plug_vip_port(request: Request, port_id: str, body: HostBody) -> Response:
    _api(request).plug_vip_port(port_id, body.host)
    return Response(status_code=204)


@v1.post("/ports/{port_id}/unplug", status_code=204)
def unplug_vip_port(request: Request, port_id: str, body: HostBody) -> Response:
    _api(request).unplug_vip_port(port_id, body.host)
    return Response(status_code=204)


@v1.post("/pools/{pool_id}/stats", status_code=204)
def update_pool_stats(request: Request, pool_id: str, body: StatsBody) -> Response:
    _api(request).update_pool_stats(pool_id, body.stats.model_dump(), body.host)
    return Response(status_code=204)


@v2.get("/logical_devices/{pool_id}")
def logical_device_v2(request: Request, pool_id: str) -> dict[str, Any]:
    """The load balancer ``pool_id`` (a v1 pool with its VIP) as the typed logical
    device; 404 PoolNotFound when the pool is gone or being deleted."""
    result: dict[str, Any] = _api(request).typed_logical_device(pool_id).model_dump(
        by_alias=True)
    return result


# What the app mounts: both versions (included last, when every route above exists).
router = APIRouter()
router.include_router(v1)
router.include_router(v2)
