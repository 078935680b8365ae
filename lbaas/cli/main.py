"""``lbaas``: the command-line client of lbaas-server's REST API.

``lbaas <resource> <action> [options]``, in the words of Neutron's LBaaS v1 CLI:
``lbaas pool create --lb-method ROUND_ROBIN --protocol HTTP --subnet s1``. One entry
point also starts the embedded deployment: ``lbaas all-in-one`` is handed to
``lbaas.cmd.all_in_one``, imported only then (it pulls in the server and the agent).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.metadata
import os
import sys
import traceback
from collections.abc import Callable, Sequence

import httpx

from lbaas.cli import clouds, commands, completion, output
from lbaas.cli.client import Client, ClientError
from lbaas.cli.resources import CREATE, SPECS, UPDATE, Spec
from lbaas.common import tls

DEFAULT_URL = "http://127.0.0.1:9696"
DEFAULT_WAIT_TIMEOUT = 120.0

ACTION_HELP = {
    "create": "create a {label}",
    "list": "list {plural}",
    "show": "show one {label}",
    "update": "change a {label}",
    "delete": "delete {plural}",
}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _filter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not '{text}'")
    return key.replace("-", "_"), value


def _connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--os-* on the top parser (with env defaults) and again on each command.

    On commands their default is SUPPRESS, so ``lbaas pool list --os-url X`` works and
    an absent flag doesn't overwrite what the top parser or the environment said.
    """
    # On the top parser the defaults are None: the environment and --os-cloud are
    # consulted in _connection(), which knows whether a flag was given.
    default = None if top else argparse.SUPPRESS

    group = parser.add_argument_group("server") if not top else parser
    group.add_argument("--os-cloud", default=default, metavar="CLOUD",
                        help="take the endpoint, token and CA file from this cloud of "
                        "clouds.yaml, as openstack's client finds it (env OS_CLOUD); "
                        "--os-* flags given beside it win")
    group.add_argument("--os-url", default=default,
                        metavar="URL", help="lbaas-server endpoint (env LBAAS_URL, "
                        f"default {DEFAULT_URL})")
    group.add_argument("--os-token", default=default, metavar="TOKEN",
                        help="sent as X-Auth-Token (env LBAAS_TOKEN)")
    group.add_argument("--os-project-id", default=default,
                        metavar="PROJECT", help="sent as X-Project-Id, the project a "
                        "noauth server acts for (env LBAAS_PROJECT_ID)")
    group.add_argument("--os-cacert", default=default, metavar="CA_FILE",
                        help="verify an https:// server's certificate against the CA "
                        "certificates in this PEM file (env OS_CACERT; default: the "
                        "system's CA store)")
    group.add_argument("--insecure", action="store_true",
                        default=False if top else argparse.SUPPRESS,
                        help="do not verify an https:// server's certificate (tests only)")
    group.add_argument("--debug", action="store_true",
                        default=False if top else argparse.SUPPRESS,
                        help="print every request and response on stderr")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _output_options(parser: argparse.ArgumentParser, *, listing: bool = False) -> None:
    parser.add_argument("-f", "--format", choices=output.FORMATS, default="table",
                        help="table (default); json, yaml, csv or value for scripts")
    parser.add_argument("-c", "--column", dest="columns", action="append", default=[],
                        metavar="COLUMN", help="show only this column (repeatable)")
    parser.add_argument("--max-width", type=_non_negative_int, default=0, metavar="N",
                        help="table: at most N characters wide, cells wrapped "
                        "(default 0: no limit)")
    if listing:
        parser.add_argument("--long", action="store_true",
                            help="every attribute as a column, not only the usual ones")
    else:
        parser.set_defaults(long=False)


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="follow the object until ACTIVE, ERROR or gone")
    parser.add_argument("--wait-timeout", type=_positive_float, default=DEFAULT_WAIT_TIMEOUT,
                        metavar="SECONDS", help=f"give up waiting after this long "
                        f"(default {DEFAULT_WAIT_TIMEOUT:g})")


Handler = Callable[[Client, argparse.Namespace], int]


SubParsers = argparse._SubParsersAction  # type: ignore[type-arg]

RESOURCE_ACTIONS = {
    "create": commands.create,
    "list": commands.list_,
    "show": commands.show,
    "update": commands.update,
    "delete": commands.delete,
}


def _command(group: SubParsers, name: str, handler: Handler, help: str, *, out: bool = True,
             wait: bool = False, listing: bool = False) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help, description=help)
    _connection_options(parser, top=False)
    if out:
        _output_options(parser, listing=listing)
    else:
        parser.set_defaults(format="table", columns=[], max_width=0, long=False)
    if wait:
        _wait_options(parser)
    parser.set_defaults(handler=handler, parser=parser)
    return parser


def _add_resource(top: SubParsers, word: str, spec: Spec) -> SubParsers:
    label, plural = spec.res.label, spec.res.plural.replace("_", " ")
    res_parser = top.add_parser(word, help=f"{plural}", description=f"Manage {plural}.")
    group = res_parser.add_subparsers(title="actions", metavar="ACTION")
    res_parser.set_defaults(parser=res_parser, handler=None)
    ref = "NAME_OR_ID" if spec.res.lookup_attr == "name" else (
        "HOST_OR_ID" if spec.res.lookup_attr else "ID")
    for action in spec.actions:
        help = ACTION_HELP[action].format(label=label, plural=plural)
        handler = functools.partial(RESOURCE_ACTIONS[action], spec)
        parser = _command(group, action, handler, help, out=action != "delete",
                          wait=action in ("create", "update", "delete"),
                          listing=action == "list")
        if action == "list":
            for opt in spec.list_filters:
                opt.add(parser, CREATE)
            parser.add_argument("--filter", dest="filters", action="append",
                                type=_filter, metavar="KEY=VALUE",
                                help="only objects whose attribute KEY is VALUE (repeatable)")
            parser.add_argument("--sort-key", metavar="ATTR", help="sort by this attribute")
            parser.add_argument("--sort-dir", choices=("asc", "desc"), default="asc")
            continue
        if action == "delete":
            parser.add_argument("targets", nargs="+", metavar=ref, help=f"{label} to delete")
            continue
        if action in ("show", "update"):
            parser.add_argument("target", metavar=ref, help=f"the {label}")
        if action in (CREATE, UPDATE):
            for opt in spec.options:
                if action in opt.on:
                    opt.add(parser, action)
    return group


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbaas", description="Client of lbaas-server, Neutron LBaaS v1's REST API.",
        epilog="`lbaas all-in-one` runs the server and an agent in one process (as root); "
               "`lbaas all-in-one --help` tells how.")
    _connection_options(parser, top=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.set_defaults(parser=parser, handler=None)
    top = parser.add_subparsers(title="commands", metavar="COMMAND")
    top.add_parser("all-in-one", help="run lbaas-server and an agent in one process",
                   add_help=False)
    groups = {word: _add_resource(top, word, spec) for word, spec in SPECS.items()}

    hm = groups["healthmonitor"]
    for name, handler, verb in (("associate", commands.associate, "attach to"),
                                ("disassociate", commands.disassociate, "detach from")):
        p = _command(hm, name, handler, f"{verb} a pool a health monitor", out=False,
                            wait=True)
        p.add_argument("monitor", metavar="HEALTH_MONITOR_ID", help="the health monitor")
        p.add_argument("pool", metavar="POOL", help="pool name or id")

    pool = groups["pool"]
    p = _command(pool, "stats", commands.pool_stats, "show a pool's traffic counters")
    p.add_argument("pool", metavar="POOL", help="pool name or id")
    p = _command(pool, "agent", commands.pool_agent, "show the agent hosting a pool")
    p.add_argument("pool", metavar="POOL", help="pool name or id")

    p = top.add_parser("completion", help="print a shell completion script",
                       description="Print a completion script: "
                       "`source <(lbaas completion bash)`.")
    p.add_argument("shell", choices=completion.SHELLS)
    p.set_defaults(handler="completion", parser=p)

    p = _command(groups["agent"], "pools", commands.agent_pools,
                 "list the pools an agent hosts", listing=True)
    p.add_argument("agent", metavar="HOST_OR_ID", help="agent host or id")
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("lbaas")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _all_in_one(argv: Sequence[str]) -> int:
    # The server and the agent, imported only when asked for: the client stays light.
    try:
        all_in_one = importlib.import_module("lbaas.cmd.all_in_one")
    except ModuleNotFoundError as exc:
        if exc.name != "lbaas.cmd.all_in_one":
            raise
        print("lbaas: error: all-in-one is not part of this installation", file=sys.stderr)
        return 1
    result = all_in_one.main(list(argv))
    return int(result or 0)


def _connection(args: argparse.Namespace, transport: httpx.BaseTransport | None) -> Client:
    """The client for the flags given, else the cloud (--os-cloud / OS_CLOUD), else
    the LBAAS_* environment, else the defaults. Raises CloudError, TlsError."""
    cloud_name = args.os_cloud or os.environ.get("OS_CLOUD")
    cloud = clouds.load(cloud_name) if cloud_name else clouds.Cloud()
    url = args.os_url or cloud.url or os.environ.get("LBAAS_URL") or DEFAULT_URL
    token = args.os_token or cloud.token or os.environ.get("LBAAS_TOKEN")
    project = (args.os_project_id or cloud.project_id
               or os.environ.get("LBAAS_PROJECT_ID"))
    cacert = args.os_cacert or cloud.cacert or os.environ.get("OS_CACERT")
    verify = tls.client_verify(cacert, args.insecure or cloud.insecure)
    return Client(url, token=token, project_id=project, transport=transport,
                  debug=sys.stderr if args.debug else None, verify=verify)


def main(argv: Sequence[str] | None = None, *,
         transport: httpx.BaseTransport | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failed, 2 usage).

    ``transport`` lets tests answer the HTTP requests themselves.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["all-in-one"]:
        return _all_in_one(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:   # --help (0) or a usage error (2): argparse has printed
        return exc.code if isinstance(exc.code, int) else 2
    if args.handler is None:
        args.parser.print_help(sys.stderr)
        return 2

    if args.handler == "completion":
        print(completion.bash(parser), end="")
        return 0
    try:
        client = _connection(args, transport)
    except (clouds.CloudError, tls.TlsError) as exc:
        print(f"lbaas: error: {exc}", file=sys.stderr)
        return 1
    try:
        return int(args.handler(client, args))
    except commands.UsageError as exc:
        args.parser.print_usage(sys.stderr)
        print(f"{args.parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, output.ColumnError) as exc:
        print(f"lbaas: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lbaas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `lbaas pool list | head -1`: the reader left; nothing to report.
        return 0
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        if args.debug:
            traceback.print_exc()
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"lbaas: error: unexpected failure: {text} (--debug shows where)",
              file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
