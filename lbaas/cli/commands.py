"""What each ``lbaas <resource> <action>`` does, once its arguments are parsed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lbaas.cli import output
from lbaas.cli.client import Client, ClientError, NotFound, Resource
from lbaas.cli.resources import CREATE, RESOURCES, SPECS, UNSET, UPDATE, Spec, body_from_args
from lbaas.cli.wait import follow


class UsageError(Exception):
    """Arguments that parse but say nothing to do; reported like argparse's (exit 2)."""


def _label(res: Resource, obj: dict[str, Any]) -> str:
    name = (obj.get("name") or obj.get("host")) if res.lookup_attr else None
    return f"{res.label} {name} ({obj.get('id')})" if name else f"{res.label} {obj.get('id')}"


def _fetcher(client: Client, res: Resource, obj_id: str):  # type: ignore[no-untyped-def]
    def fetch() -> dict[str, Any] | None:
        try:
            return client.show(res, obj_id)
        except NotFound:
            return None
    return fetch


def _wait(client: Client, args: argparse.Namespace, res: Resource, obj: dict[str, Any], *,
          until_gone: bool = False) -> dict[str, Any] | None:
    return follow(_fetcher(client, res, obj["id"]), _label(res, obj), until_gone=until_gone,
                  timeout=args.wait_timeout, stream=sys.stderr)


def _print(args: argparse.Namespace, obj: dict[str, Any], *, strict: bool = True) -> None:
    output.print_object(obj, args.format, args.columns, sys.stdout, strict=strict,
                        max_width=args.max_width)


def create(spec: Spec, client: Client, args: argparse.Namespace) -> int:
    obj = client.create(spec.res, body_from_args(spec, CREATE, args, client))
    if args.wait:
        obj = _wait(client, args, spec.res, obj) or obj
    # The object exists now whatever -c says: a bad column only warns.
    _print(args, obj, strict=False)
    return 0


def list_(spec: Spec, client: Client, args: argparse.Namespace) -> int:
    params: list[tuple[str, Any]] = []
    for opt in spec.list_filters:
        value = opt.value(args, client)
        if value is not UNSET:
            params.append((opt.attr, value))
    for key, value in args.filters or ():
        params.append((key, value))
    if args.sort_key:
        params.append(("sort_key", args.sort_key))
        params.append(("sort_dir", args.sort_dir))
    objs = client.list(spec.res, dict(params) if params else None)
    output.print_list(objs, spec.list_columns, args.format, args.columns, sys.stdout,
                      long=args.long, max_width=args.max_width)
    return 0


def show(spec: Spec, client: Client, args: argparse.Namespace) -> int:
    _print(args, client.find(spec.res, args.target))
    return 0


def update(spec: Spec, client: Client, args: argparse.Namespace) -> int:
    obj = client.find(spec.res, args.target)
    body = body_from_args(spec, UPDATE, args, client)
    if not body:
        flags = [o.flags[0] for o in spec.options if UPDATE in o.on]
        raise UsageError(f"nothing to update: give at least one of {', '.join(flags)}")
    obj = client.update(spec.res, obj["id"], body)
    if args.wait:
        obj = _wait(client, args, spec.res, obj) or obj
    _print(args, obj, strict=False)
    return 0


def delete(spec: Spec, client: Client, args: argparse.Namespace) -> int:
    for target in args.targets:
        obj = client.find(spec.res, target)
        client.delete(spec.res, obj["id"])
        if args.wait:
            _wait(client, args, spec.res, obj, until_gone=True)
        if args.format == "table":
            print(f"Deleted {_label(spec.res, obj)}", file=sys.stdout)
    return 0


def _association(client: Client, pool_id: str, monitor_id: str):  # type: ignore[no-untyped-def]
    """A fetch for ``follow``: the monitor's entry in the pool's health_monitors_status."""
    def fetch() -> dict[str, Any] | None:
        try:
            pool = client.show(RESOURCES["pool"], pool_id)
        except NotFound:
            return None
        for entry in pool.get("health_monitors_status") or ():
            if entry.get("monitor_id") == monitor_id:
                return dict(entry, id=monitor_id)
        if monitor_id in (pool.get("health_monitors") or ()):
            return {"id": monitor_id}
        return None
    return fetch


def associate(client: Client, args: argparse.Namespace) -> int:
    monitor = client.find(RESOURCES["healthmonitor"], args.monitor)
    pool = client.find(RESOURCES["pool"], args.pool)
    client.request("POST", f"lb/pools/{pool['id']}/health_monitors",
                   body={"health_monitor": {"id": monitor["id"]}})
    label = f"health monitor {monitor['id']} on {_label(RESOURCES['pool'], pool)}"
    if args.wait:
        follow(_association(client, pool["id"], monitor["id"]), label, until_gone=False,
               timeout=args.wait_timeout, stream=sys.stderr)
    print(f"Associated health monitor {monitor['id']} with "
          f"{_label(RESOURCES['pool'], pool)}", file=sys.stdout)
    return 0


def disassociate(client: Client, args: argparse.Namespace) -> int:
    monitor = client.find(RESOURCES["healthmonitor"], args.monitor)
    pool = client.find(RESOURCES["pool"], args.pool)
    client.request("DELETE", f"lb/pools/{pool['id']}/health_monitors/{monitor['id']}")
    label = f"health monitor {monitor['id']} on {_label(RESOURCES['pool'], pool)}"
    if args.wait:
        follow(_association(client, pool["id"], monitor["id"]), label, until_gone=True,
               timeout=args.wait_timeout, stream=sys.stderr)
    print(f"Disassociated health monitor {monitor['id']} from "
          f"{_label(RESOURCES['pool'], pool)}", file=sys.stdout)
    return 0


def pool_stats(client: Client, args: argparse.Namespace) -> int:
    pool = client.find(RESOURCES["pool"], args.pool)
    body = client.request("GET", f"lb/pools/{pool['id']}/stats")
    stats = body.get("stats") if isinstance(body, dict) else None
    if not isinstance(stats, dict):
        raise ClientError("unexpected answer from lbaas-server: no 'stats'")
    _print(args, stats)
    return 0


def pool_agent(client: Client, args: argparse.Namespace) -> int:
    pool = client.find(RESOURCES["pool"], args.pool)
    body = client.request("GET", f"lb/pools/{pool['id']}/loadbalancer-agent")
    agent = body.get("agent") if isinstance(body, dict) else None
    if not agent:
        if args.format in ("json", "yaml"):
            print("null", file=sys.stdout)
        else:
            print(f"{_label(RESOURCES['pool'], pool)} is not bound to an agent",
                  file=sys.stdout)
        return 0
    _print(args, agent)
    return 0


def agent_pools(client: Client, args: argparse.Namespace) -> int:
    agent = client.find(RESOURCES["agent"], args.agent)
    body = client.request("GET", f"agents/{agent['id']}/loadbalancer-pools")
    pools = body.get("pools") if isinstance(body, dict) else None
    if not isinstance(pools, list):
        raise ClientError("unexpected answer from lbaas-server: no 'pools'")
    output.print_list(pools, SPECS["pool"].list_columns, args.format, args.columns,
                      sys.stdout, long=args.long, max_width=args.max_width)
    return 0
