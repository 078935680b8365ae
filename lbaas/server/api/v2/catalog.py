"""Octavia's catalog resources: providers (one, ``haproxy_ns``, with ``amphora`` as its
alias), flavor profiles and flavors (how a load balancer asks for a topology),
availability zones (none here), and per-project quotas."""

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field
from sqlalchemy import select

from lbaas.common import constants as c
from lbaas.server import errors
from lbaas.server.api.common import ctx_of, update_body
from lbaas.server.api.v2.common import V2Body, list_query, run, show_fields
from lbaas.server.api.v2.schemas import Description, Name
from lbaas.server.db import models as m
from lbaas.server.plugin import octavia

router = APIRouter(tags=["v2 catalog"])

PROVIDERS = [
    {"name": c.PROVIDER_HAPROXY_NS,
     "description": "HAProxy in a network namespace on an lbaas agent host"},
    {"name": "amphora", "description": f"Alias of {c.PROVIDER_HAPROXY_NS}"},
]
FLAVOR_CAPABILITIES = [
    {"name": "loadbalancer_topology",
     "description": "The load balancer topology. One of: SINGLE - One amphora per load "
                    "balancer. ACTIVE_STANDBY - Two amphora per load balancer."},
]


def _admin(request: Request) -> None:
    if not ctx_of(request).is_admin:
        raise errors.OctaviaForbidden()


def _provider(name: str) -> str:
    if c.PROVIDER_ALIASES.get(name, name) != c.PROVIDER_HAPROXY_NS:
        raise errors.OctaviaBadRequest(f"Provider '{name}' is not enabled.")
    return name


@router.get("/providers")
def providers(request: Request) -> dict[str, Any]:
    return list_query(request, "providers", [dict(p) for p in PROVIDERS],
                      "v2/lbaas/providers")


@router.get("/providers/{provider}/flavor_capabilities")
def flavor_capabilities(request: Request, provider: str) -> dict[str, Any]:
    _provider(provider)
    return list_query(request, "flavor_capabilities",
                      [dict(cap) for cap in FLAVOR_CAPABILITIES], "")


@router.get("/providers/{provider}/availability_zone_capabilities")
def availability_zone_capabilities(provider: str) -> dict[str, Any]:
    _provider(provider)
    return {"availability_zone_capabilities": []}


# --- flavor profiles and flavors --------------------------------------------------------

class FlavorProfileCreate(V2Body):
    name: Name
    provider_name: str = Field(max_length=64)
    flavor_data: str = Field(max_length=4096)


class FlavorProfileUpdate(V2Body):
    name: Name | None = None
    provider_name: str | None = Field(None, max_length=64)
    flavor_data: str | None = Field(None, max_length=4096)


class FlavorProfileRequest(V2Body):
    flavorprofile: FlavorProfileCreate


class FlavorProfileUpdateRequest(V2Body):
    flavorprofile: FlavorProfileUpdate


def _flavor_data(text: str) -> str:
    import json

    try:
        data = json.loads(text)
    except ValueError:
        raise errors.OctaviaBadRequest("flavor_data is not valid JSON") from None
    if not isinstance(data, dict):
        raise errors.OctaviaBadRequest("flavor_data must be a JSON object")
    unknown = set(data) - {"loadbalancer_topology"}
    if unknown:
        raise errors.OctaviaBadRequest(
            f"Provider '{c.PROVIDER_HAPROXY_NS}' does not support flavor option(s): "
            f"{', '.join(sorted(unknown))}")
    if data.get("loadbalancer_topology", "SINGLE") not in ("SINGLE", "ACTIVE_STANDBY"):
        raise errors.OctaviaBadRequest("loadbalancer_topology must be SINGLE or "
                                       "ACTIVE_STANDBY")
    return text


def _profile_dict(p: m.FlavorProfile) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "provider_name": p.provider_name,
            "flavor_data": p.flavor_data}


def _get_profile(session: Any, profile_id: str) -> m.FlavorProfile:
    profile = session.get(m.FlavorProfile, profile_id)
    if profile is None:
        raise errors.OctaviaNotFound("Flavor profile", profile_id)
    return profile


@router.post("/flavorprofiles", status_code=201)
def create_flavorprofile(request: Request, body: FlavorProfileRequest) -> dict[str, Any]:
    _admin(request)
    data = body.flavorprofile
    _provider(data.provider_name)
    _flavor_data(data.flavor_data)

    def create(s: Any, ctx: Any, st: Any) -> dict[str, Any]:
        if s.scalar(select(m.FlavorProfile.id).where(m.FlavorProfile.name == data.name)):
            raise errors.OctaviaConflict(f"A flavor profile {data.name} already exists.")
        profile = m.FlavorProfile(name=data.name, provider_name=data.provider_name,
                                  flavor_data=data.flavor_data)
        s.add(profile)
        s.flush()
        return _profile_dict(profile)
    return {"flavorprofile": run(request, create)}


@router.get("/flavorprofiles")
def list_flavorprofiles(request: Request) -> dict[str, Any]:
    _admin(request)
    items = run(request, lambda s, ctx, st: [
        _profile_dict(p) for p in s.scalars(select(m.FlavorProfile))], read_only=True)
    return list_query(request, "flavorprofiles", items, "v2/lbaas/flavorprofiles")


@router.get("/flavorprofiles/{profile_id}")
def show_flavorprofile(request: Request, profile_id: str) -> dict[str, Any]:
    _admin(request)
    return {"flavorprofile": show_fields(request, run(
        request, lambda s, ctx, st: _profile_dict(_get_profile(s, profile_id)),
        read_only=True))}


@router.put("/flavorprofiles/{profile_id}")
def update_flavorprofile(request: Request, profile_id: str,
                         body: FlavorProfileUpdateRequest) -> dict[str, Any]:
    _admin(request)
    data = update_body(body.flavorprofile)
    if data.get("provider_name") is not None:
        _provider(data["provider_name"])
    if data.get("flavor_data") is not None:
        _flavor_data(data["flavor_data"])

    def update(s: Any, ctx: Any, st: Any) -> dict[str, Any]:
        profile = _get_profile(s, profile_id)
        for key, value in data.items():
            if value is not None:
                setattr(profile, key, value)
        return _profile_dict(profile)
    return {"flavorprofile": run(request, update)}


@router.delete("/flavorprofiles/{profile_id}", status_code=204)
def delete_flavorprofile(request: Request, profile_id: str) -> Response:
    _admin(request)

    def delete(s: Any, ctx: Any, st: Any) -> None:
        profile = _get_profile(s, profile_id)
        if s.scalar(select(m.Flavor.id).where(m.Flavor.flavor_profile_id == profile.id)):
            raise errors.OctaviaConflict(f"Flavor profile {profile_id} is in use.")
        s.delete(profile)
    run(request, delete)
    return Response(status_code=204)


class FlavorCreate(V2Body):
    name: Name
    description: Description = ""
    enabled: bool = True
    flavor_profile_id: str = Field(max_length=36)


class FlavorUpdate(V2Body):
    name: Name | None = None
    description: Description | None = None
    enabled: bool | None = None


class FlavorRequest(V2Body):
    flavor: FlavorCreate


class FlavorUpdateRequest(V2Body):
    flavor: FlavorUpdate


def _flavor_dict(f: m.Flavor) -> dict[str, Any]:
    return {"id": f.id, "name": f.name, "description": f.description,
            "enabled": f.enabled, "flavor_profile_id": f.flavor_profile_id}


def _get_flavor(session: Any, flavor_id: str) -> m.Flavor:
    flavor = session.get(m.Flavor, flavor_id)
    if flavor is None:
        raise errors.OctaviaNotFound("Flavor", flavor_id)
    return flavor


@router.post("/flavors", status_code=201)
def create_flavor(request: Request, body: FlavorRequest) -> dict[str, Any]:
    _admin(request)
    data = body.flavor

    def create(s: Any, ctx: Any, st: Any) -> dict[str, Any]:
        if s.get(m.FlavorProfile, data.flavor_profile_id) is None:
            raise errors.OctaviaBadRequest(
                f"Flavor profile {data.flavor_profile_id} not found.")
        if s.scalar(select(m.Flavor.id).where(m.Flavor.name == data.name)):
            raise errors.OctaviaConflict(f"A flavor {data.name} already exists.")
        flavor = m.Flavor(name=data.name, description=data.description,
                          enabled=data.enabled, flavor_profile_id=data.flavor_profile_id)
        s.add(flavor)
        s.flush()
        return _flavor_dict(flavor)
    return {"flavor": run(request, create)}


@router.get("/flavors")
def list_flavors(request: Request) -> dict[str, Any]:
    items = run(request, lambda s, ctx, st: [
        _flavor_dict(f) for f in s.scalars(select(m.Flavor))], read_only=True)
    return list_query(request, "flavors", items, "v2/lbaas/flavors")


@router.get("/flavors/{flavor_id}")
def show_flavor(request: Request, flavor_id: str) -> dict[str, Any]:
    return {"flavor": show_fields(request, run(
        request, lambda s, ctx, st: _flavor_dict(_get_flavor(s, flavor_id)),
        read_only=True))}


@router.put("/flavors/{flavor_id}")
def update_flavor(request: Request, flavor_id: str,
                  body: FlavorUpdateRequest) -> dict[str, Any]:
    _admin(request)
    data = update_body(body.flavor)

    def update(s: Any, ctx: Any, st: Any) -> dict[str, Any]:
        flavor = _get_flavor(s, flavor_id)
        for key, value in data.items():
            if value is not None:
                setattr(flavor, key, value)
        return _flavor_dict(flavor)
    return {"flavor": run(request, update)}


@router.delete("/flavors/{flavor_id}", status_code=204)
def delete_flavor(request: Request, flavor_id: str) -> Response:
    _admin(request)

    def delete(s: Any, ctx: Any, st: Any) -> None:
        flavor = _get_flavor(s, flavor_id)
        if s.scalar(select(m.LoadBalancer.id).where(m.LoadBalancer.flavor_id == flavor.id)):
            raise errors.OctaviaConflict(f"Flavor {flavor_id} is in use.")
        s.delete(flavor)
    run(request, delete)
    return Response(status_code=204)


@router.get("/availabilityzones")
def availability_zones(request: Request) -> dict[str, Any]:
    return list_query(request, "availabilityzones", [], "v2/lbaas/availabilityzones")


@router.get("/availabilityzoneprofiles")
def availability_zone_profiles(request: Request) -> dict[str, Any]:
    _admin(request)
    return list_query(request, "availabilityzoneprofiles", [],
                      "v2/lbaas/availabilityzoneprofiles")


# --- quotas -----------------------------------------------------------------------------

QuotaValue = Field(None, ge=-1, le=2**31 - 1)


class QuotaUpdate(V2Body):
    load_balancer: int | None = QuotaValue
    loadbalancer: int | None = QuotaValue
    listener: int | None = QuotaValue
    pool: int | None = QuotaValue
    member: int | None = QuotaValue
    health_monitor: int | None = QuotaValue
    healthmonitor: int | None = QuotaValue
    l7policy: int | None = QuotaValue
    l7rule: int | None = QuotaValue


class QuotaRequest(V2Body):
    quota: QuotaUpdate


def _quota_dict(limits: dict[str, int], project_id: str | None = None) -> dict[str, Any]:
    # Octavia answers with both spellings of two names (older clients read the others).
    out: dict[str, Any] = {
        "load_balancer": limits["load_balancer"], "loadbalancer": limits["load_balancer"],
        "listener": limits["listener"], "pool": limits["pool"], "member": limits["member"],
        "health_monitor": limits["healthmonitor"], "healthmonitor": limits["healthmonitor"],
        "l7policy": -1, "l7rule": -1}
    if project_id is not None:
        out["project_id"] = project_id
    return out


def _own_or_admin(request: Request, project_id: str) -> None:
    ctx = ctx_of(request)
    if not ctx.is_admin and ctx.project_id != project_id:
        raise errors.OctaviaForbidden()


@router.get("/quotas")
def list_quotas(request: Request) -> dict[str, Any]:
    def listing(s: Any, ctx: Any, st: Any) -> list[dict[str, Any]]:
        projects = [r.project_id for r in s.scalars(select(m.LbQuota))]
        if not ctx.is_admin:
            projects = [p for p in projects if p == ctx.project_id]
        return [_quota_dict(octavia.quota_limits(s, st.conf, p), p) for p in projects]
    items = run(request, listing, read_only=True)
    return list_query(request, "quotas", items, "v2/lbaas/quotas")


@router.get("/quotas/defaults")
def default_quotas(request: Request) -> dict[str, Any]:
    return {"quota": run(request, lambda s, ctx, st: _quota_dict(
        octavia.quota_limits(s, st.conf, "\x00defaults")), read_only=True)}


@router.get("/quotas/{project_id}")
def show_quota(request: Request, project_id: str) -> dict[str, Any]:
    _own_or_admin(request, project_id)
    return {"quota": run(request, lambda s, ctx, st: _quota_dict(
        octavia.quota_limits(s, st.conf, project_id)), read_only=True)}


@router.put("/quotas/{project_id}", status_code=202)
def update_quota(request: Request, project_id: str, body: QuotaRequest) -> dict[str, Any]:
    _admin(request)
    data = update_body(body.quota)
    names = {"loadbalancer": "load_balancer", "health_monitor": "healthmonitor"}

    def update(s: Any, ctx: Any, st: Any) -> dict[str, Any]:
        row = s.get(m.LbQuota, project_id)
        if row is None:
            row = m.LbQuota(project_id=project_id)
            s.add(row)
        for key, value in data.items():
            column = names.get(key, key)
            if column in octavia.QUOTA_RESOURCES:
                setattr(row, column, value)
        s.flush()
        return _quota_dict(octavia.quota_limits(s, st.conf, project_id))
    return {"quota": run(request, update)}


@router.delete("/quotas/{project_id}", status_code=204)
def reset_quota(request: Request, project_id: str) -> Response:
    _admin(request)

    def delete(s: Any, ctx: Any, st: Any) -> None:
        row = s.get(m.LbQuota, project_id)
        if row is not None:
            s.delete(row)
    run(request, delete)
    return Response(status_code=204)
