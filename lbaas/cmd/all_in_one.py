"""lbaas all-in-one: server and agent in one process over SQLite, for one machine.

The agent talks to the server in-process (LocalPluginApi): no HTTP between them, same
PluginApi interface as an agent on another host.
"""

from __future__ import annotations

import logging
import sys

from oslo_config import cfg

from lbaas.cmd.server import (
    EXIT_CONFIG,
    at_shutdown,
    check_tls,
    database_error,
    fatal,
    log_start,
    setup_logging,
    uvicorn_tls,
)
from lbaas.common import config
from lbaas.common.version import version_string

LOG = logging.getLogger("lbaas.all_in_one")
PROG = "lbaas all-in-one"
# The log file's name under log_dir.
LOG_NAME = "lbaas-all-in-one"

DEFAULT_BRIDGE_MAPPINGS = ["default:br-lbaas"]


def load_config(argv: list[str] | None) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    config.register_server_opts(conf)
    config.register_agent_opts(conf)
    conf.set_default("bridge_mappings", DEFAULT_BRIDGE_MAPPINGS)
    try:
        conf(argv if argv is not None else sys.argv[1:], project="lbaas",
             prog=PROG, version=version_string())
        config.check_values(conf)
        config.check_haproxy_values(conf)
        check_tls(conf)
        config.parse_bridge_mappings(conf.bridge_mappings)
    except (cfg.Error, ValueError, OSError) as e:
        print(config.error_line(PROG, e), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
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
    setup_logging(conf, PROG, LOG_NAME, thread_names=True)
    log_start(conf, PROG)

    import uvicorn

    from lbaas.agent.host_checks import HostCheckError, check_host
    from lbaas.agent.linux.interface import InterfaceDriverError
    from lbaas.agent.metrics import MetricsServer
    from lbaas.cmd.agent import build_agent
    from lbaas.server.app import create_app

    try:
        app = create_app(conf)
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        fatal(conf, PROG, f"cannot open the database: {database_error(e)}", LOG_NAME)
        return 1
    try:
        check_host(raise_neighbour_limits=conf.raise_kernel_limits)
        ensure_bridges(conf)
        manager = build_agent(conf, app.state.local_api)
        metrics = (MetricsServer(conf.metrics_bind, manager.metrics.registry)
                   if conf.metrics_bind else None)
    except (HostCheckError, InterfaceDriverError, OSError, ValueError, cfg.Error) as e:
        fatal(conf, PROG, str(e), LOG_NAME)
        return 1
    manager.start()
    LOG.info("%s: agent host %s, bridge_mappings %s", PROG, conf.host,
             ",".join(conf.bridge_mappings))

    def stop() -> None:
        # Load balancers keep serving: stopping the agent never stops HAProxy.
        manager.stop()
        if metrics is not None:
            metrics.stop()
        LOG.info("%s stopped (load balancers keep running)", PROG)

    # At uvicorn's shutdown: after uvicorn.run() nothing runs on SIGTERM.
    at_shutdown(app, stop)
    # log_config=None: uvicorn logs through our handlers. A stopping server doesn't wait
    # out the agents' long-polls.
    uvicorn.run(app, host=conf.bind_host, port=conf.bind_port, log_level="warning",
                log_config=None, access_log=False, timeout_graceful_shutdown=3,
                **uvicorn_tls(conf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
