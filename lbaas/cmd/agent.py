"""``lbaas-agent``: one per network host, talks to lbaas-server over HTTP.

    lbaas-agent --config-file /etc/lbaas/agent.conf

SIGTERM or SIGINT stops the agent; the load balancers keep serving (an agent restart or
upgrade is invisible to clients) and the next agent adopts them in its sync_state.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import ssl
import sys
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from oslo_config import cfg

from lbaas.agent.drivers.haproxy.namespace_driver import (
    DeployError,
    HaproxyNSDriver,
    HaproxyOptions,
)
from lbaas.agent.host_checks import HostCheckError, check_host
from lbaas.agent.http_plugin_api import HttpPluginApi, parse_server_urls
from lbaas.agent.keystone_auth import KeystoneAuth
from lbaas.agent.linux.interface import (
    InterfaceDriverError,
    InterfaceOptions,
    get_interface_driver,
)
from lbaas.agent.manager import AgentOptions, LbaasAgentManager
from lbaas.agent.metrics import MetricsServer, parse_bind
from lbaas.common import config, constants, log, tls
from lbaas.common.plugin_api import PluginApi
from lbaas.common.version import version_string

LOG = logging.getLogger("lbaas.agent")
PROG = "lbaas-agent"

EXIT_CONFIG = 2
EXIT_HOST = 1


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent reads from its configuration, read and validated once,
    so a bad value fails at start with its option's name and not at first use."""

    host: str
    # What the server's certificate is checked against (https:// only).
    verify: ssl.SSLContext | bool
    interface: InterfaceOptions
    haproxy: HaproxyOptions
    agent: AgentOptions


def read_settings(conf: cfg.ConfigOpts) -> AgentSettings:
    """Raises cfg.Error or ValueError on a bad value."""
    bridge_mappings = config.parse_bridge_mappings(conf.bridge_mappings)
    if conf.metrics_bind:
        parse_bind(conf.metrics_bind)  # a bad value is a configuration error at start
    if not conf.host:
        raise ValueError("host must not be empty")
    parse_server_urls(conf.server_url)  # every URL of the list is http:// or https://
    verify = tls.client_verify(conf.ca_file, conf.insecure)  # TlsError is a ValueError
    interface = InterfaceOptions(
        interface_driver=conf.interface_driver,
        bridge_mappings=bridge_mappings,
        ovs_integration_bridge=conf.ovs_integration_bridge,
        ovs_use_veth=conf.ovs_use_veth,
        network_device_mtu=conf.network_device_mtu,
        ovsdb=conf.ovs_db or None,
    )
    haproxy = HaproxyOptions(
        loadbalancer_state_path=conf.haproxy.loadbalancer_state_path,
        user_group=conf.haproxy.user_group,
        send_gratuitous_arp=conf.haproxy.send_gratuitous_arp,
        hard_stop_after=conf.haproxy.hard_stop_after,
        access_log=conf.haproxy.access_log or None,
        access_log_facility=conf.haproxy.access_log_facility,
        namespace_prefix=conf.namespace_prefix,
    )
    agent = AgentOptions(
        periodic_interval=conf.periodic_interval,
        report_interval=conf.report_interval,
        deploy_workers=conf.deploy_workers,
        configurations={
            "device_drivers": [constants.DRIVER_HAPROXY_NS],
            "bridge_mappings": bridge_mappings,
            "interface_driver": conf.interface_driver,
        },
        deploy_errors=(DeployError,),
        agent_down_time=conf.agent.agent_down_time,
        allow_failover=conf.allow_automatic_lbaas_agent_failover,
        contact_file=os.path.join(conf.state_path, "agent-contact.json"),
    )
    return AgentSettings(host=conf.host, verify=verify, interface=interface,
                         haproxy=haproxy, agent=agent)


def build_agent(conf: cfg.ConfigOpts, plugin_rpc: PluginApi) -> LbaasAgentManager:
    """The agent of this host over ``plugin_rpc``: HTTP for lbaas-agent, in-process
    for the all-in-one. Not started. Raises cfg.Error / ValueError /
    InterfaceDriverError on a bad configuration."""
    settings = read_settings(conf)
    vif_driver = get_interface_driver(settings.interface)
    driver = HaproxyNSDriver(settings.haproxy, plugin_rpc, vif_driver, settings.host)
    return LbaasAgentManager(plugin_rpc, driver, settings.host, settings.agent)


def load_config(argv: list[str] | None) -> cfg.ConfigOpts:
    """Parsed and every value checked (raises cfg.Error, ValueError or OSError);
    ``--version`` prints the version and exits 0."""
    conf = cfg.ConfigOpts()
    config.register_agent_opts(conf)
    conf(args=sys.argv[1:] if argv is None else argv, project="lbaas",
         prog=PROG, version=version_string())
    config.check_values(conf)
    config.check_haproxy_values(conf)
    return conf


def transport_warnings(conf: cfg.ConfigOpts) -> list[str]:
    """What the log should say about how the agent reaches its server: a certificate
    not verified, or a token sent in clear over a network."""
    warnings = []
    for server_url in parse_server_urls(conf.server_url):
        url = urlsplit(server_url)
        if url.scheme == "https" and conf.insecure:
            warnings.append(f"insecure = true: the certificate of {server_url} is not "
                            "verified; anyone on the path can pose as the server and read "
                            "agent_token")
        if url.scheme == "http" and conf.agent_token and not _loopback(url.hostname or ""):
            warnings.append(f"agent_token is sent in clear to {server_url}: use an "
                            "https:// server_url (docs/deploy.md)")
    return warnings


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config_error(exc: BaseException) -> str:
    return config.error_line(PROG, exc)


def main(argv: list[str] | None = None) -> int:
    try:
        conf = load_config(argv)
        settings = read_settings(conf)
        server_urls = parse_server_urls(conf.server_url)
        # The deploy workers' names say which worker did what.
        log.setup(conf, PROG, thread_names=True)
    except (cfg.Error, ValueError, OSError) as exc:
        # LogSetupError (a log file that can't be opened) is a ValueError.
        print(_config_error(exc), file=sys.stderr)
        return EXIT_CONFIG

    for warning in transport_warnings(conf):
        LOG.warning("%s", warning)
    try:
        check_host(raise_neighbour_limits=conf.raise_kernel_limits)
    except HostCheckError as exc:
        print(f"lbaas-agent: {exc}", file=sys.stderr)
        return EXIT_HOST

    # A heartbeat waits report_interval for a server, then asks the next one: with
    # report_interval below a third of agent_down_time, one silent server costs no
    # failover (docs/ha.md, "A server dies").
    plugin_rpc = HttpPluginApi(server_urls, token=conf.agent_token or None,
                               verify=settings.verify,
                               auth=KeystoneAuth.from_conf(conf),
                               heartbeat_timeout=float(conf.report_interval))
    try:
        try:
            agent = build_agent(conf, plugin_rpc)
        except (cfg.Error, ValueError, InterfaceDriverError) as exc:
            print(_config_error(exc), file=sys.stderr)
            return EXIT_CONFIG
        except OSError as exc:
            print(f"lbaas-agent: {exc}", file=sys.stderr)
            return EXIT_HOST

        try:
            metrics = (MetricsServer(conf.metrics_bind, agent.metrics.registry)
                       if conf.metrics_bind else None)
        except OSError as exc:
            print(f"lbaas-agent: metrics_bind {conf.metrics_bind}: {exc}", file=sys.stderr)
            return EXIT_HOST
        stop_requested = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            LOG.info("%s received: stopping (load balancers keep running)",
                     signal.Signals(signum).name)
            stop_requested.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            LOG.info("%s %s starting on host %s, server %s, interface_driver %s", PROG,
                     version_string(), settings.host, ", ".join(plugin_rpc.server_urls),
                     conf.interface_driver)
            agent.start()
            # Short waits: the main thread must return to Python for the signal
            # handler to run.
            while not stop_requested.wait(1.0):
                pass
            agent.stop()
        finally:
            if metrics is not None:
                metrics.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    finally:
        plugin_rpc.close()
    LOG.info("%s stopped (load balancers keep running)", PROG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
