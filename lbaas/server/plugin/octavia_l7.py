"""Octavia's L7 policies and rules over the load balancer model.

A policy belongs to a listener and takes its action (REJECT, REDIRECT_TO_URL,
REDIRECT_PREFIX, REDIRECT_TO_POOL) on a request that matches all its rules; the
listener's policies are tried in ``position`` order (1-based, kept dense: a new policy
at position 2 moves the old second one to 3; a position past the end appends) and the
first that matches wins. Changing one is a change of its load balancer as any child's
is (lbaas/server/plugin/octavia.py: the lock, PENDING_UPDATE, the agent's ``deployed``).

Shapes are checked by the API's schemas; the values' rules are lbaas.common.l7's,
which the renderer applies again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.common import l7
from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import octavia

POLICY_DEFAULTS: dict[str, Any] = {"name": "", "description": ""}


def _live(objs: list[Any]) -> list[Any]:
    return [o for o in objs if o.provisioning_status != c.PENDING_DELETE]


def get_l7policy(session: Session, ctx: Context, policy_id: str) -> m.L7Policy:
    policy = session.get(m.L7Policy, policy_id)
    if policy is None or not octavia._ours(policy, ctx):
        raise errors.OctaviaNotFound("L7 Policy", policy_id)
    return policy


def get_l7rule(session: Session, ctx: Context, policy_id: str, rule_id: str) -> m.L7Rule:
    policy = get_l7policy(session, ctx, policy_id)
    rule = session.get(m.L7Rule, rule_id)
    if rule is None or rule.l7policy_id != policy.id:
        raise errors.OctaviaNotFound("L7 Rule", rule_id)
    return rule


def visible_policies(session: Session, ctx: Context,
                     all_projects: bool | None = None) -> list[m.L7Policy]:
    """Octavia's L7 policies ``ctx`` lists: every project's when ``all_projects`` (the
    policy's ``l7policy:get_all-global``; None: when ``ctx`` is an admin)."""
    q = select(m.L7Policy).join(m.Listener, m.Listener.id == m.L7Policy.listener_id).join(
        m.LoadBalancer, m.LoadBalancer.id == m.Listener.loadbalancer_id).where(
        m.LoadBalancer.api_version == octavia.OCTAVIA).order_by(
        m.L7Policy.created_at, m.L7Policy.id)
    if not (ctx.is_admin if all_projects is None else all_projects):
        q = q.where(m.L7Policy.tenant_id == ctx.project_id)
    return list(session.scalars(q))


def _args(policy_error: Any) -> errors.OctaviaBadRequest:
    return errors.OctaviaBadRequest(str(policy_error))


def _sanitized(action: str, values: dict[str, Any]) -> dict[str, Any]:
    """Octavia's rule: only the arguments of the action are kept (the others become
    null); a redirect has a code, 302 unless given."""
    out: dict[str, Any] = {"redirect_pool_id": None, "redirect_url": None,
                           "redirect_prefix": None,
           "redirect_http_code": None}
    if action == l7.REDIRECT_TO_POOL:
        out["redirect_pool_id"] = values.get("redirect_pool_id")
    elif action == l7.REDIRECT_TO_URL:
        out["redirect_url"] = values.get("redirect_url")
    elif action == l7.REDIRECT_PREFIX:
        out["redirect_prefix"] = values.get("redirect_prefix")
    if action in l7.REDIRECT_ACTIONS:
        out["redirect_http_code"] = values.get("redirect_http_code") or \
            l7.DEFAULT_REDIRECT_CODE
    return out


def _check_policy(session: Session, ctx: Context, listener: m.Listener,
                  action: str, args: dict[str, Any]) -> None:
    try:
        l7.policy(action, args["redirect_pool_id"], args["redirect_url"],
                  args["redirect_prefix"], args["redirect_http_code"])
    except ValueError as exc:
        raise _args(exc) from None
    pool_id = args["redirect_pool_id"]
    if pool_id is not None:
        pool = session.get(m.LbPool, pool_id)
        if pool is None or not octavia._ours(pool, ctx) or \
                pool.provisioning_status == c.PENDING_DELETE:
            raise errors.OctaviaBadRequest(f"Pool {pool_id} not found.")
        octavia._check_pool_for_listener(pool, listener)


def _place(listener: m.Listener, policy: m.L7Policy, position: int | None) -> None:
    """Put ``policy`` at ``position`` (None or past the end: last) among the listener's
    live policies, and number them 1, 2, 3..."""
    others = [p for p in _live(listener.l7policies) if p is not policy]
    others.sort(key=lambda p: p.position)
    index = len(others) if position is None else min(position, len(others) + 1) - 1
    others.insert(index, policy)
    for number, p in enumerate(others, start=1):
        p.position = number


def _renumber(listener: m.Listener) -> None:
    for number, p in enumerate(sorted(_live(listener.l7policies),
                                      key=lambda p: p.position), start=1):
        p.position = number


def _rule_check(policy_listener: m.Listener, rule_type: Any, compare_type: Any,
                key: Any, value: Any) -> None:
    tls_listener = policy_listener.protocol == "TERMINATED_HTTPS"
    if rule_type in l7.SSL_RULE_TYPES and not tls_listener:
        raise errors.OctaviaBadRequest(
            f"Error parsing L7Rule: Invalid L7 Rule: L7 rule type {rule_type} is only "
            f"allowed on TERMINATED_HTTPS listeners (listener {policy_listener.id} is "
            f"{policy_listener.protocol})")
    try:
        l7.rule(rule_type, compare_type, key, value, tls_listener=tls_listener)
    except ValueError as exc:
        text = str(exc)
        if not text.startswith("Unable to parse"):
            text = f"Invalid L7 Rule: {text}"
        raise errors.OctaviaBadRequest(f"Error parsing L7Rule: {text}") from None


def _new_rule(session: Session, policy: m.L7Policy, body: dict[str, Any]) -> m.L7Rule:
    _rule_check(policy.listener, body.get("type"), body.get("compare_type"),
                body.get("key"), body.get("value"))
    if len(_live(policy.rules)) >= l7.MAX_RULES_PER_POLICY:
        raise errors.OctaviaConflict(f"Too many rules on L7 policy {policy.id}")
    rule = m.L7Rule(
        id=m.new_id(), tenant_id=policy.tenant_id, l7policy=policy, type=body["type"],
        compare_type=body["compare_type"], key=body.get("key"), value=body["value"],
        invert=body.get("invert", False), admin_state_up=body.get("admin_state_up", True),
        tags=octavia._tags(body.get("tags")), provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE)
    session.add(rule)
    session.flush()
    return rule


def _check_listener_and_action(listener: m.Listener, action: str) -> None:
    if listener.protocol not in ("HTTP", "TERMINATED_HTTPS"):
        raise errors.OctaviaBadRequest(
            f"L7 policies are only supported on TERMINATED_HTTPS and HTTP listeners by "
            f"provider "
            f"'{c.PROVIDER_HAPROXY_NS}' (listener {listener.id} is {listener.protocol})")
    if action not in l7.ACTIONS:
        raise errors.OctaviaBadRequest(f"Invalid L7 Policy action specified: {action}")


def _new_policy(session: Session, listener: m.Listener, body: dict[str, Any],
                action: str, args: dict[str, Any]) -> m.L7Policy:
    """The policy and its rules, checked (``args``: ``_sanitized``, checked too)."""
    policy = m.L7Policy(
        id=m.new_id(), tenant_id=listener.tenant_id, listener=listener,
        name=body.get("name") or "", description=body.get("description") or "",
        admin_state_up=body.get("admin_state_up", True),
        tags=octavia._tags(body.get("tags")), action=action, position=0, **args,
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    session.add(policy)
    _place(listener, policy, body.get("position"))
    session.flush()
    for rule_body in body.get("rules") or []:
        _new_rule(session, policy, rule_body)
    return policy


def create_l7policy(session: Session, ctx: Context, s: Any,
                    body: dict[str, Any]) -> m.L7Policy:
    listener = session.get(m.Listener, body["listener_id"])
    if listener is None or not octavia._ours(listener, ctx):
        raise errors.OctaviaNotFound("Listener", body["listener_id"])
    action = body["action"]
    _check_listener_and_action(listener, action)
    args = _sanitized(action, body)
    _check_policy(session, ctx, listener, action, args)
    lb = listener.loadbalancer
    octavia._lock(lb)
    policy = _new_policy(session, listener, body, action, args)
    listener.provisioning_status = c.PENDING_UPDATE
    octavia._notify(session, s, lb)
    return policy


def create_in_tree(session: Session, listener: m.Listener, bodies: list[dict[str, Any]],
                   pool_named: Any) -> None:
    """Octavia's single-call create: the ``l7policies`` of a listener of the body, in
    order. ``pool_named(name)`` is the pool of the body a ``redirect_pool`` names (whole
    pools in a ``redirect_pool`` were made with the others, by name)."""
    for body in bodies:
        action = body["action"]
        _check_listener_and_action(listener, action)
        values = dict(body)
        redirect = body.get("redirect_pool")
        pool = None
        if action == l7.REDIRECT_TO_POOL and redirect is not None:
            pool = pool_named(redirect.get("name"))
            values["redirect_pool_id"] = pool.id
        args = _sanitized(action, values)
        try:
            l7.policy(action, args["redirect_pool_id"], args["redirect_url"],
                      args["redirect_prefix"], args["redirect_http_code"])
        except ValueError as exc:
            raise _args(exc) from None
        if pool is not None:
            octavia._check_pool_for_listener(pool, listener)
        _new_policy(session, listener, body, action, args)


def update_l7policy(session: Session, ctx: Context, s: Any, policy_id: str,
                    body: dict[str, Any]) -> m.L7Policy:
    policy = get_l7policy(session, ctx, policy_id)
    listener = policy.listener
    action = body.get("action") or policy.action
    if body.get("action") is None:
        # Octavia: an argument given alone switches to the action it belongs to.
        for name, implied in (("redirect_pool_id", l7.REDIRECT_TO_POOL),
                              ("redirect_url", l7.REDIRECT_TO_URL),
                              ("redirect_prefix", l7.REDIRECT_PREFIX)):
            if body.get(name) is not None:
                action = implied
    if action not in l7.ACTIONS:
        raise errors.OctaviaBadRequest(f"Invalid L7 Policy action specified: {action}")
    current = {k: getattr(policy, k) for k in ("redirect_pool_id", "redirect_url",
                                               "redirect_prefix", "redirect_http_code")}
    current.update({k: v for k, v in body.items() if k in current})
    args = _sanitized(action, current)
    _check_policy(session, ctx, listener, action, args)
    lb = listener.loadbalancer
    octavia._lock(lb)
    policy.action = action
    for key, value in args.items():
        setattr(policy, key, value)
    octavia._apply(policy, body, ("name", "description", "admin_state_up"),
                   POLICY_DEFAULTS)
    if "tags" in body:
        policy.tags = octavia._tags(body["tags"])
    if body.get("position") is not None:
        _place(listener, policy, body["position"])
    policy.provisioning_status = c.PENDING_UPDATE
    octavia._notify(session, s, lb)
    return policy


def delete_l7policy(session: Session, ctx: Context, s: Any, policy_id: str) -> None:
    policy = get_l7policy(session, ctx, policy_id)
    listener = policy.listener
    lb = listener.loadbalancer
    octavia._lock(lb)
    policy.provisioning_status = c.PENDING_DELETE
    for rule in policy.rules:
        rule.provisioning_status = c.PENDING_DELETE
    _renumber(listener)
    octavia._finish_or_notify(session, s, lb)


def create_l7rule(session: Session, ctx: Context, s: Any, policy_id: str,
                  body: dict[str, Any]) -> m.L7Rule:
    policy = get_l7policy(session, ctx, policy_id)
    lb = policy.listener.loadbalancer
    _rule_check(policy.listener, body.get("type"), body.get("compare_type"),
                body.get("key"), body.get("value"))
    octavia._lock(lb)
    rule = _new_rule(session, policy, body)
    policy.provisioning_status = c.PENDING_UPDATE
    octavia._notify(session, s, lb)
    return rule


def update_l7rule(session: Session, ctx: Context, s: Any, policy_id: str, rule_id: str,
                  body: dict[str, Any]) -> m.L7Rule:
    rule = get_l7rule(session, ctx, policy_id, rule_id)
    merged = {k: getattr(rule, k) for k in ("type", "compare_type", "key", "value")}
    merged.update({k: v for k, v in body.items() if k in merged and v is not None})
    if "key" in body and body["key"] is None:
        merged["key"] = None
    if body.get("type") is not None and body["type"] not in l7.KEYED_TYPES \
            and "key" not in body:
        merged["key"] = None  # a HEADER rule made a PATH rule loses its key
    _rule_check(rule.l7policy.listener, merged["type"], merged["compare_type"],
                merged["key"], merged["value"])
    lb = rule.l7policy.listener.loadbalancer
    octavia._lock(lb)
    for key, value in merged.items():
        setattr(rule, key, value)
    octavia._apply(rule, body, ("invert", "admin_state_up"), {"invert": False})
    if "tags" in body:
        rule.tags = octavia._tags(body["tags"])
    rule.provisioning_status = c.PENDING_UPDATE
    octavia._notify(session, s, lb)
    return rule


def delete_l7rule(session: Session, ctx: Context, s: Any, policy_id: str,
                  rule_id: str) -> None:
    rule = get_l7rule(session, ctx, policy_id, rule_id)
    lb = rule.l7policy.listener.loadbalancer
    octavia._lock(lb)
    rule.provisioning_status = c.PENDING_DELETE
    octavia._finish_or_notify(session, s, lb)
