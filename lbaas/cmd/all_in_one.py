"""lbaas all-in-one: server and agent in one process over SQLite, for one machine.

The agent talks to the server in-process (LocalPluginApi): no HTTP between them, same
PluginApi interface as an agent on another host.
"""

from __future__ import annotations

import logging
import sys

from oslo_config import cfg

from lbaas.cmd.server import setup_logging
from lbaas.common import config

LOG = logging.getLogger(__name__)

DEFAULT_BRIDGE_MAPPINGS = ["default:br-lbaas"]


def load_config(argv: list[str] | None) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    config.register_server_opts(conf)
    config.register_agent_opts(conf)
    conf.set_default("bridge_mappings", DEFAULT_BRIDGE_MAPPINGS)
    try:
        conf(argv if argv is not None else sys.argv[1:], project="lbaas",
             prog="lbaas all-in-one")
        config.parse_bridge_mappings(conf.bridge_mappings)
    except (cfg.Error, ValueError) as e:
        print(f"lbaas all-in-one: configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return conf


def ensure_bridges(conf: cfg.ConfigOpts) -> None:
    """The one-machine setup creates the bridges it maps, so `make run` just works."""
    from lbaas.agent.linux.interface import get_interface_driver
    from lbaas.cmd.agent import read_settings

    options = read_settings(conf).interface
    vif_driver = get_interface_driver(options)
    for bridge in options.bridge_mappings.values():
        vif_driver.ensure_bridge(bridge)


def main(argv: list[str] | None = None) -> int:
    conf = load_config(argv)
    setup_logging(conf.debug)

    import uvicorn

    from lbaas.agent.host_checks import HostCheckError, check_host
    from lbaas.agent.linux.interface import InterfaceDriverError
    from lbaas.cmd.agent import build_agent
    from lbaas.server.app import create_app

    try:
        app = create_app(conf)
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        print(f"lbaas all-in-one: cannot open the database: {e}", file=sys.stderr)
        return 1
    try:
        check_host()
        ensure_bridges(conf)
        manager = build_agent(conf, app.state.local_api)
    except (HostCheckError, InterfaceDriverError, OSError, ValueError, cfg.Error) as e:
        print(f"lbaas all-in-one: {e}", file=sys.stderr)
        return 1
    manager.start()
    LOG.info("lbaas all-in-one: API on http://%s:%s, agent host %s", conf.bind_host,
             conf.bind_port, conf.host)
    try:
        uvicorn.run(app, host=conf.bind_host, port=conf.bind_port, log_level="warning",
                    # A stopping server doesn't wait out the agents' long-polls.
                    access_log=False, timeout_graceful_shutdown=3)
    finally:
        # Load balancers keep serving: stopping the agent never stops HAProxy.
        manager.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
