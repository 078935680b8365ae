"""Each resource's flags, and how each flag becomes an attribute of the request body.

A flag is named after the attribute it sets (``--lb-method`` → ``lb_method``); a flag
that names another object (``--subnet``, the pool positional) takes a name or an id and
is resolved to the id before the request.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbaas.cli.client import Client, Resource
from lbaas.common import constants

UNSET: Any = object()

CREATE = "create"
UPDATE = "update"
BOTH = (CREATE, UPDATE)


# -- value parsers (argparse types: a bad value is a usage error, exit 2) -----------------

def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not '{text}'")


def upper(text: str) -> str:
    return text.upper()


def key_values(allowed: Sequence[str], required: Sequence[str] = ()) -> Callable[[str], dict]:
    """A parser for ``key=value,key=value`` (Neutron's CLI syntax for dict attributes)."""

    def parse(text: str) -> dict[str, str]:
        result: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not key:
                raise argparse.ArgumentTypeError(f"expected key=value, not '{part}'")
            if key not in allowed:
                raise argparse.ArgumentTypeError(
                    f"unknown key '{key}' (expected: {', '.join(allowed)})")
            result[key] = value.strip()
        missing = [k for k in required if k not in result]
        if missing:
            raise argparse.ArgumentTypeError(f"missing {', '.join(missing)} in '{text}'")
        return result

    parse.__name__ = "key=value"
    return parse


# -- options --------------------------------------------------------------------------------

@dataclass
class Opt:
    """``--flag VALUE`` → ``body[attr]``; ``ref`` names the resource a value designates."""

    attr: str
    flags: tuple[str, ...]
    help: str = ""
    type: Callable[[str], Any] = str
    on: tuple[str, ...] = BOTH
    required: bool = False
    choices: Sequence[Any] | None = None
    ref: str | None = None
    append: bool = False
    metavar: str | None = None
    resolve: Callable[[Client, Any], Any] | None = None

    @property
    def dest(self) -> str:
        return "attr_" + self.attr.replace(":", "_")

    def add(self, parser: argparse.ArgumentParser, action: str) -> None:
        kwargs: dict[str, Any] = {"dest": self.dest, "help": self.help, "default": UNSET,
                                  "type": self.type}
        if self.choices is not None:
            kwargs["choices"] = self.choices
        if self.metavar or self.choices is None:
            kwargs["metavar"] = self.metavar or self.attr.split(":")[-1].upper()
        if self.append:
            kwargs["action"] = "append"
            kwargs["default"] = None   # append needs a list or None to start from
        if self.flags[0].startswith("-"):
            kwargs["required"] = self.required and action == CREATE
            parser.add_argument(*self.flags, **kwargs)
        else:
            del kwargs["dest"]
            kwargs["metavar"] = self.metavar or self.flags[0].upper()
            parser.add_argument(self.dest, **kwargs)

    def value(self, args: argparse.Namespace, client: Client) -> Any:
        value = getattr(args, self.dest, UNSET)
        if value is UNSET or (self.append and value is None):
            return UNSET
        if self.ref is not None:
            res = RESOURCES[self.ref]
            value = [client.find(res, v)["id"] for v in value] if self.append else \
                client.find(res, value)["id"]
        if self.resolve is not None:
            value = self.resolve(client, value)
        return value


@dataclass
class Pos(Opt):
    """A positional argument of ``create`` (Neutron's CLI had these, e.g. the pool)."""

    on: tuple[str, ...] = (CREATE,)


@dataclass
class FlagBool(Opt):
    """``--shared`` alone means true; ``--shared false`` says it."""

    type: Callable[[str], Any] = parse_bool

    def add(self, parser: argparse.ArgumentParser, action: str) -> None:
        parser.add_argument(*self.flags, dest=self.dest, type=parse_bool, nargs="?",
                            const=True, default=UNSET, metavar="{true,false}", help=self.help)


@dataclass
class AdminState(Opt):
    """``--admin-state-up [true|false]`` or ``--admin-state-down``."""

    attr: str = "admin_state_up"
    flags: tuple[str, ...] = ("--admin-state-up",)

    def add(self, parser: argparse.ArgumentParser, action: str) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--admin-state-up", dest=self.dest, type=parse_bool, nargs="?",
                           const=True, default=UNSET, metavar="{true,false}",
                           help="administrative state (default true)")
        group.add_argument("--admin-state-down", dest=self.dest, action="store_const",
                           const=False, default=UNSET, help="same as --admin-state-up false")


@dataclass
class Nullable(Opt):
    """A flag with its opposite that sends ``null`` (or ``[]``): ``--no-gateway``."""

    null_flag: str = ""
    null_value: Any = None
    null_on: tuple[str, ...] = BOTH

    def add(self, parser: argparse.ArgumentParser, action: str) -> None:
        if action not in self.null_on:
            super().add(parser, action)
            return
        group = parser.add_mutually_exclusive_group()
        super().add(group, action)  # type: ignore[arg-type]
        group.add_argument(self.null_flag, dest=self.dest, action="store_const",
                           const=_Null(self.null_value), default=UNSET, help=f"set {self.attr} to "
                           f"{'null' if self.null_value is None else self.null_value}")

    def value(self, args: argparse.Namespace, client: Client) -> Any:
        raw = getattr(args, self.dest, UNSET)
        if isinstance(raw, _Null):
            return raw.value
        return super().value(args, client)


@dataclass(frozen=True)
class _Null:
    value: Any


def _resolve_fixed_ips(client: Client, items: list[dict[str, str]]) -> list[dict[str, str]]:
    fixed_ips = []
    for item in items:
        entry = dict(item)
        subnet = entry.pop("subnet", None) or entry.pop("subnet_id", None)
        if subnet:
            entry["subnet_id"] = client.find(RESOURCES["subnet"], subnet)["id"]
        fixed_ips.append(entry)
    return fixed_ips


# -- the resources -------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    res: Resource
    list_columns: tuple[str, ...]
    options: tuple[Opt, ...] = ()
    # Attributes a create fills in from others when not given (ip_version from the cidr).
    complete: Callable[[dict[str, Any]], None] | None = None
    list_filters: tuple[Opt, ...] = field(default_factory=tuple)
    actions: tuple[str, ...] = ("create", "list", "show", "update", "delete")


def _tenant() -> Opt:
    return Opt("tenant_id", ("--tenant-id",), "owner project (admin only)", on=(CREATE,))


def _subnet_ip_version(body: dict[str, Any]) -> None:
    if "ip_version" not in body and isinstance(body.get("cidr"), str):
        try:
            body["ip_version"] = ipaddress.ip_network(body["cidr"], strict=False).version
        except ValueError:
            body["ip_version"] = 4   # let the server word the error about the cidr


ROUTE = key_values(("destination", "nexthop"), ("destination", "nexthop"))
POOL_RANGE = key_values(("start", "end"), ("start", "end"))
FIXED_IP = key_values(("subnet_id", "subnet", "ip_address"))
PERSISTENCE = key_values(("type", "cookie_name"), ("type",))

SPECS: dict[str, Spec] = {
    "network": Spec(
        Resource("network", "network", "networks", "networks"),
        ("id", "name", "provider:network_type", "provider:segmentation_id", "subnets"),
        (
            Pos("name", ("name",), "network name", on=(CREATE,)),
            Opt("name", ("--name",), "new name", on=(UPDATE,)),
            AdminState(),
            FlagBool("shared", ("--shared",), "visible to every project"),
            Opt("provider:network_type", ("--provider-network-type",), "flat or vlan",
                on=(CREATE,), choices=constants.NETWORK_TYPES, type=str.lower),
            Opt("provider:physical_network", ("--provider-physical-network",),
                "physical network (agents map it to a bridge)", on=(CREATE,)),
            Opt("provider:segmentation_id", ("--provider-segmentation-id",),
                "VLAN id (vlan networks)", on=(CREATE,), type=int),
            Opt("mtu", ("--mtu",), "MTU of the network", type=int),
            _tenant(),
        ),
    ),
    "subnet": Spec(
        Resource("subnet", "subnet", "subnets", "subnets"),
        ("id", "name", "network_id", "cidr", "gateway_ip", "allocation_pools"),
        (
            Pos("network_id", ("network",), "network name or id", ref="network"),
            Pos("cidr", ("cidr",), "e.g. 10.0.0.0/24"),
            Opt("name", ("--name",), "subnet name"),
            Opt("ip_version", ("--ip-version",), "4 or 6 (default: the cidr's)", type=int,
                choices=(4, 6), on=(CREATE,)),
            Nullable("gateway_ip", ("--gateway-ip",), "gateway address (default the first "
                     "address of the cidr)", null_flag="--no-gateway"),
            Opt("allocation_pools", ("--allocation-pool",), "start=IP,end=IP (repeatable)",
                type=POOL_RANGE, append=True, metavar="start=IP,end=IP"),
            Nullable("host_routes", ("--host-route",), "destination=CIDR,nexthop=IP "
                     "(repeatable)", type=ROUTE, append=True,
                     metavar="destination=CIDR,nexthop=IP", null_flag="--no-host-routes",
                     null_value=[], null_on=(UPDATE,)),
            Nullable("dns_nameservers", ("--dns-nameserver",), "DNS server (repeatable)",
                     append=True, metavar="IP", null_flag="--no-dns-nameservers",
                     null_value=[], null_on=(UPDATE,)),
            FlagBool("enable_dhcp", ("--enable-dhcp",), "stored only: lbaas runs no DHCP"),
            _tenant(),
        ),
        complete=_subnet_ip_version,
    ),
    "port": Spec(
        Resource("port", "port", "ports", "ports"),
        ("id", "name", "mac_address", "fixed_ips", "device_owner"),
        (
            Pos("network_id", ("network",), "network name or id", ref="network"),
            Opt("name", ("--name",), "port name"),
            Opt("fixed_ips", ("--fixed-ip",), "subnet=NAME_OR_ID[,ip_address=IP] "
                "(repeatable)", type=FIXED_IP, append=True,
                metavar="subnet=SUBNET,ip_address=IP", resolve=_resolve_fixed_ips),
            Opt("mac_address", ("--mac-address",), "MAC (default allocated)", on=(CREATE,)),
            Opt("device_id", ("--device-id",), "id of the owning device"),
            Opt("device_owner", ("--device-owner",), "owner kind"),
            Opt("binding:host_id", ("--binding-host-id",), "host the port is bound to"),
            AdminState(),
            _tenant(),
        ),
    ),
    "pool": Spec(
        Resource("pool", "pool", "pools", "lb/pools"),
        ("id", "name", "provider", "lb_method", "protocol", "admin_state_up", "status"),
        (
            Opt("name", ("--name",), "pool name"),
            Opt("description", ("--description",), "free text"),
            Opt("lb_method", ("--lb-method",), "how members are picked", type=upper,
                choices=constants.LB_METHODS, required=True),
            Opt("protocol", ("--protocol",), "protocol of the members", type=upper,
                choices=constants.PROTOCOLS, required=True, on=(CREATE,)),
            Opt("subnet_id", ("--subnet-id", "--subnet"), "subnet (name or id) of the members",
                ref="subnet", required=True, on=(CREATE,), metavar="SUBNET"),
            Opt("provider", ("--provider",), "driver provider (default haproxy)",
                on=(CREATE,)),
            AdminState(),
            _tenant(),
        ),
    ),
    "member": Spec(
        Resource("member", "member", "members", "lb/members", lookup_attr=None),
        ("id", "address", "protocol_port", "weight", "admin_state_up", "status"),
        (
            Pos("pool_id", ("pool",), "pool name or id", ref="pool"),
            Opt("address", ("--address",), "member IP address", required=True,
                on=(CREATE,)),
            Opt("protocol_port", ("--protocol-port",), "member port", type=int,
                required=True, on=(CREATE,)),
            Opt("weight", ("--weight",), "0-256 (default 1)", type=int),
            Opt("pool_id", ("--pool-id", "--pool"), "move the member to this pool",
                ref="pool", on=(UPDATE,), metavar="POOL"),
            AdminState(),
            _tenant(),
        ),
        list_filters=(Opt("pool_id", ("--pool",), "only the members of this pool",
                          ref="pool"),),
    ),
    "healthmonitor": Spec(
        Resource("healthmonitor", "health_monitor", "health_monitors", "lb/health_monitors",
                 lookup_attr=None),
        ("id", "type", "delay", "timeout", "max_retries", "admin_state_up"),
        (
            Opt("type", ("--type",), "what is probed", type=upper,
                choices=constants.HEALTH_MONITOR_TYPES, required=True, on=(CREATE,)),
            Opt("delay", ("--delay",), "seconds between probes", type=int, required=True),
            Opt("timeout", ("--timeout",), "seconds a probe may take", type=int,
                required=True),
            Opt("max_retries", ("--max-retries",), "failures before a member is down "
                "(1-10)", type=int, required=True),
            Opt("http_method", ("--http-method",), "HTTP monitors: method (default GET)"),
            Opt("url_path", ("--url-path",), "HTTP monitors: path (default /)"),
            Opt("expected_codes", ("--expected-codes",), "HTTP monitors: 200, 200,202 or "
                "200-204 (default 200)"),
            AdminState(),
            _tenant(),
        ),
    ),
    "vip": Spec(
        Resource("vip", "vip", "vips", "lb/vips"),
        ("id", "name", "address", "protocol", "protocol_port", "admin_state_up", "status"),
        (
            Pos("pool_id", ("pool",), "pool name or id", ref="pool"),
            Opt("name", ("--name",), "VIP name"),
            Opt("description", ("--description",), "free text"),
            Opt("address", ("--address",), "VIP address (default allocated)", on=(CREATE,)),
            Opt("protocol_port", ("--protocol-port",), "listening port", type=int,
                required=True, on=(CREATE,)),
            Opt("protocol", ("--protocol",), "must be the pool's", type=upper,
                choices=constants.PROTOCOLS, required=True, on=(CREATE,)),
            Opt("subnet_id", ("--subnet-id", "--subnet"), "subnet (name or id) of the VIP",
                ref="subnet", required=True, on=(CREATE,), metavar="SUBNET"),
            Opt("connection_limit", ("--connection-limit",), "-1 (unlimited) or >= 1",
                type=int),
            Nullable("session_persistence", ("--session-persistence",),
                     "type=SOURCE_IP|HTTP_COOKIE|APP_COOKIE[,cookie_name=NAME]",
                     type=PERSISTENCE, metavar="type=TYPE[,cookie_name=NAME]",
                     null_flag="--no-session-persistence", null_on=(UPDATE,)),
            Opt("pool_id", ("--pool-id", "--pool"), "serve another pool", ref="pool",
                on=(UPDATE,), metavar="POOL"),
            AdminState(),
            _tenant(),
        ),
    ),
    "agent": Spec(
        Resource("agent", "agent", "agents", "agents", lookup_attr="host"),
        ("id", "agent_type", "host", "alive", "admin_state_up"),
        (
            AdminState(on=(UPDATE,)),
            Opt("description", ("--description",), "free text", on=(UPDATE,)),
        ),
        actions=("list", "show", "update"),
    ),
}

RESOURCES: dict[str, Resource] = {word: spec.res for word, spec in SPECS.items()}


def body_from_args(spec: Spec, action: str, args: argparse.Namespace,
                   client: Client) -> dict[str, Any]:
    """The request body: only what the user said, names resolved to ids."""
    body: dict[str, Any] = {}
    for opt in spec.options:
        if action not in opt.on:
            continue
        value = opt.value(args, client)
        if value is not UNSET:
            body[opt.attr] = value
    if action == CREATE and spec.complete is not None:
        spec.complete(body)
    return body
