"""The policy's decision for each route, before the route runs (a router dependency).

Each route maps to its rule by method and path: Octavia's names under /v2/lbaas,
Neutron's under /v2.0. The target of a rule is a project:

- v2: the object's own project when the path names an existing object, so another
  project's load balancer is a 403 ("Policy does not allow this request to be
  performed."), as Octavia answers; otherwise the caller's project.
- v1: always the caller's project. Another project's object stays a 404, as in
  Neutron: the plugin never finds it.

An agent's routes use ``lbaas:agent`` (lbaas/server/api/agent_api.py).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from lbaas.server import errors
from lbaas.server.api.common import ctx_of
from lbaas.server.db import models as m
from lbaas.server.policies import octavia as octavia_rules
from lbaas.server.policies.neutron import RESOURCES as V1_RESOURCES

_PARAM = re.compile(r"\{[^}]*\}")


def _shape(path: str) -> str:
    return _PARAM.sub("{}", path)


# (method, path shape under /v2/lbaas) -> (object, action)
_V2: dict[tuple[str, str], tuple[str, str]] = {
    (method, _shape(path)): (obj, action)
    for obj, actions in octavia_rules._OPERATIONS.items()
    for action, (_check, method, path) in actions.items()
    if not action.endswith("-global")
}
# The model of the object a path's last parameter names.
_V2_MODELS = {"loadbalancers": m.LoadBalancer, "listeners": m.Listener, "pools": m.LbPool,
              "members": m.LbMember, "healthmonitors": m.LbHealthMonitor,
              "l7policies": m.L7Policy, "rules": m.L7Rule}
_V2_OCTAVIA = 2  # LoadBalancer.api_version of Octavia's load balancers


def _v2_project(request: Request, shape: str) -> str | None:
    """The project of the object the path names (the last id in it), when it exists
    and is one of the v2 API's."""
    params = list(request.path_params.values())
    if not params:
        return None
    parts = shape.strip("/").split("/")
    collection = parts[parts.index("{}") - 1] if "{}" in parts else None
    if len(params) > 1:  # /pools/{}/members/{}
        collection = parts[-2] if parts[-1] == "{}" else parts[-3]
    model = _V2_MODELS.get(collection or "")
    if model is None:
        return None
    with request.app.state.db.session(read_only=True) as session:
        obj = session.get(model, params[-1] if parts[-1] == "{}" or len(params) == 1
                          else params[0])
        if obj is None:
            return None
        if isinstance(obj, m.L7Rule):
            obj = obj.l7policy
        lb = obj if isinstance(obj, m.LoadBalancer) else getattr(obj, "loadbalancer", None)
        if lb is None and hasattr(obj, "pool"):
            lb = obj.pool.loadbalancer
        if lb is None and isinstance(obj, m.L7Policy):
            lb = obj.listener.loadbalancer
        if lb is None or lb.api_version != _V2_OCTAVIA:
            return None
        return str(obj.tenant_id)


def authorize_v2(request: Request) -> None:
    route = request.scope.get("route")
    if route is None:
        return
    path = getattr(route, "path", "")
    for prefix in ("/v2/lbaas", "/v2.0/lbaas"):
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    shape = _shape(path)
    found = _V2.get((request.method, shape))
    if found is None:
        return  # the version document and the like
    ctx = ctx_of(request)
    rule = octavia_rules.name(*found)
    if found[0] == "quota":  # the project the quota is of, named in the path
        project = request.path_params.get("project_id") or ctx.project_id
    else:
        project = _v2_project(request, shape) or ctx.project_id
    if not request.app.state.policy.allows(ctx, rule, project):
        raise errors.OctaviaForbidden()
    if found[1] == "get_all":
        # Octavia's lists: every project's objects when ``<object>:get_all-global``
        # allows it (by default, admins), else the caller's project's (v2/listing.py).
        global_rule = octavia_rules.global_rule(found[0])
        request.state.all_projects = global_rule is not None and \
            request.app.state.policy.allows(ctx, global_rule, ctx.project_id)


# (method, path shape under /v2.0) -> rule
_V1: dict[tuple[str, str], str] = {}
for _res in V1_RESOURCES:
    _coll = {"pool": "/lb/pools", "member": "/lb/members",
             "health_monitor": "/lb/health_monitors", "vip": "/lb/vips",
             "network": "/networks", "subnet": "/subnets", "port": "/ports"}[_res]
    _V1[("POST", _coll)] = f"create_{_res}"
    _V1[("GET", _coll)] = f"get_{_res}"
    _V1[("GET", _coll + "/{}")] = f"get_{_res}"
    _V1[("PUT", _coll + "/{}")] = f"update_{_res}"
    _V1[("DELETE", _coll + "/{}")] = f"delete_{_res}"
_V1[("POST", "/lb/pools/{}/health_monitors")] = "create_pool_health_monitor"
_V1[("DELETE", "/lb/pools/{}/health_monitors/{}")] = "delete_pool_health_monitor"
_V1[("GET", "/lb/pools/{}/stats")] = "get_pool_stats"


def authorize_v1(request: Request) -> None:
    route = request.scope.get("route")
    path = getattr(route, "path", "")
    rule = _V1.get((request.method, _shape(path.removeprefix("/v2.0"))))
    if rule is None:
        return
    ctx = ctx_of(request)
    if not request.app.state.policy.allows(ctx, rule, ctx.project_id):
        raise errors.PolicyNotAuthorized(rule=rule)


def agent_allowed(request: Request) -> Any:
    ctx = ctx_of(request)
    return request.app.state.policy.allows(ctx, "lbaas:agent", ctx.project_id)
