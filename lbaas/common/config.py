"""Every configuration option, with Neutron's names where Neutron had them.

``register_server_opts`` and ``register_agent_opts`` add the options to a
``cfg.ConfigOpts``; ``lbaas all-in-one`` registers both on one object. Code receives the
values it needs (or the ConfigOpts) from the command that built it; nothing reaches for
a global.
"""

from __future__ import annotations

import os
import re
import socket

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from lbaas.common import limits

SERVICE_AUTH_GROUP = "service_auth"

DEFAULT_STATE_PATH = "/var/lib/lbaas"

common_opts: list[cfg.Opt] = [
    cfg.StrOpt("state_path", default=DEFAULT_STATE_PATH,
               help="Where lbaas keeps its state (the SQLite database by default)."),
    cfg.BoolOpt("debug", default=False, help="Log at DEBUG level (default INFO)."),
]

# oslo.log's names and meanings, so a Neutron operator's logging settings carry over
# (lbaas/common/log.py says why this is not oslo.log itself).
logging_opts: list[cfg.Opt] = [
    cfg.StrOpt("log_file",
               help="Log to this file (relative to log_dir when that is set) instead of "
                    "stderr. Reopened when logrotate moves it."),
    cfg.StrOpt("log_dir",
               help="Log to <log_dir>/<program>.log (lbaas-server.log, lbaas-agent.log, "
                    "lbaas-all-in-one.log), or to log_file inside it, instead of stderr."),
    cfg.BoolOpt("use_syslog", default=False,
                help="Also log to syslog (/dev/log)."),
    cfg.StrOpt("syslog_log_facility", default="LOG_USER",
               help="Syslog facility: LOG_USER, LOG_DAEMON, LOG_LOCAL0 ... LOG_LOCAL7."),
    cfg.BoolOpt("use_json", default=False,
                help="One JSON object per log line: time, level, logger, message, "
                     "request_id, process, thread (and method, path, status, "
                     "duration_ms, project_id on access lines)."),
]

# Read by the servers (they move load balancers) and by the agents (they stop serving
# when cut off from every server, so that no VIP is on two hosts).
FAILOVER_OPT = cfg.BoolOpt(
    "allow_automatic_lbaas_agent_failover", default=True,
    help="Move the SINGLE load balancers of an agent that missed its heartbeats for "
         "[agent] agent_down_time (or of an admin-down one) to a live agent mapping the "
         "same physical network, and its ACTIVE_STANDBY amphorae to a live agent that "
         "runs neither of the load balancer's two. The agent side stops serving SINGLE "
         "ones when it cannot reach a server for that long (docs/architecture.md, 'High "
         "availability'); the agent "
         "reads this option too, for the time before any server has answered it: set "
         "it the same on servers and agents.")

server_opts: list[cfg.Opt] = [
    cfg.StrOpt("bind_host", default="127.0.0.1", help="Address the REST API listens on."),
    cfg.PortOpt("bind_port", default=9696, help="Port the REST API listens on."),
    cfg.StrOpt("auth_strategy", default="noauth", choices=["noauth", "token", "keystone"],
               help="noauth: every caller is admin, project from X-Project-Id (else "
                    "'admin'). token: X-Auth-Token looked up in tokens_file. keystone: "
                    "X-Auth-Token validated by keystonemiddleware's auth_token with the "
                    "[keystone_authtoken] section. What a caller may do is the policy's "
                    "decision ([oslo_policy] policy_file)."),
    cfg.StrOpt("tokens_file", default="/etc/lbaas/tokens",
               help="token mode: one 'token project role[,role...]' per line; '#' "
                    "starts a comment. Roles: admin, member, reader (admin implies member, "
                    "member implies reader, as in Keystone), agent or service (the "
                    "agent API)."),
    cfg.IntOpt("max_request_body_size", default=1048576, min=1024,
               help="Largest request body in bytes; a larger one is refused (413) before "
                    "it is read."),
    cfg.StrOpt("public_endpoint", default="",
               help="Base URL clients reach the API at (e.g. https://lb.example.com:9696), "
                    "used in pagination links; empty: the URL of the request."),
    cfg.IntOpt("api_workers", default=1, min=1,
               help="lbaas-server worker processes sharing the API's port, each with its "
                    "own database connections (and, on PostgreSQL, its own LISTEN "
                    "connection that wakes its agents' long-polls). With SQLite, keep 1: "
                    "writers queue on one file lock, and a long-poll learns of another "
                    "worker's change only by reading the database every second."),
    cfg.StrOpt("ssl_cert_file", default="",
               help="Serve the API over TLS with this certificate (PEM; the chain after "
                    "the server's own certificate). Empty: plain HTTP. Agents and clients "
                    "then use https:// URLs and verify it (docs/deploy.md)."),
    cfg.StrOpt("ssl_key_file", default="",
               help="The private key of ssl_cert_file (PEM, unencrypted); empty: the key "
                    "is in ssl_cert_file."),
    FAILOVER_OPT,
    cfg.StrOpt("loadbalancer_topology", default="SINGLE",
               choices=["SINGLE", "ACTIVE_STANDBY"],
               help="Topology of Octavia load balancers created without a flavor (a "
                    "flavor profile's loadbalancer_topology wins) and of every v1 pool. "
                    "SINGLE: one HAProxy on one agent. ACTIVE_STANDBY: two, on two "
                    "different agents mapping the VIP's physical network, the VIP held "
                    "by keepalived (VRRP) on one of them; it needs two live agents, and "
                    "waits for them as a SINGLE one waits for one (docs/architecture.md, "
                    "'ACTIVE_STANDBY')."),
    cfg.BoolOpt("metrics_enabled", default=True,
                help="Serve Prometheus metrics at GET /metrics, without authentication "
                     "(scrapers send no token): API requests, objects by status, agents, "
                     "and the load balancers' traffic totals with their project ids. "
                     "false: /metrics answers 404."),
]

database_opts: list[cfg.Opt] = [
    cfg.StrOpt("connection", default="", secret=True,
               help="SQLAlchemy URL; default sqlite:///<state_path>/lbaas.sqlite. "
                    "PostgreSQL: postgresql+psycopg://user:pass@host/db"),
    cfg.BoolOpt("listen_for_changes", default=True,
                help="PostgreSQL: keep one connection that LISTENs for the changes other "
                     "servers (and api_workers) commit, so the agents long-polling this "
                     "server learn of them at once. false: the long-polls re-read the "
                     "database every second instead (for a connection pooler that does "
                     "not pass LISTEN, such as PgBouncer in transaction mode). No effect "
                     "on SQLite."),
]

quota_opts: list[cfg.Opt] = [
    cfg.IntOpt("quota_pool", default=10, help="Pools per project (-1: unlimited)."),
    cfg.IntOpt("quota_vip", default=10, help="VIPs per project (-1: unlimited)."),
    cfg.IntOpt("quota_member", default=-1, help="Members per project (-1: unlimited)."),
    cfg.IntOpt("quota_health_monitor", default=-1,
               help="Health monitors per project (-1: unlimited)."),
    cfg.IntOpt("default_load_balancer_quota", default=-1,
               help="Octavia v2: load balancers per project (-1: unlimited)."),
    cfg.IntOpt("default_listener_quota", default=-1,
               help="Octavia v2: listeners per project (-1: unlimited)."),
    cfg.IntOpt("default_pool_quota", default=-1,
               help="Octavia v2: pools per project (-1: unlimited)."),
    cfg.IntOpt("default_member_quota", default=-1,
               help="Octavia v2: members per project (-1: unlimited)."),
    cfg.IntOpt("default_health_monitor_quota", default=-1,
               help="Octavia v2: health monitors per project (-1: unlimited)."),
    cfg.IntOpt("quota_network", default=-1,
               help="Networks per project (-1: unlimited)."),
    cfg.IntOpt("quota_subnet", default=-1,
               help="Subnets per project (-1: unlimited)."),
    cfg.IntOpt("quota_port", default=50,
               help="Ports a project creates through /v2.0/ports (-1: unlimited). VIP "
                    "ports are counted by quota_vip, not here."),
]

server_agent_opts: list[cfg.Opt] = [
    cfg.IntOpt("agent_down_time", default=8, min=1,
               help="Seconds after its last heartbeat an agent counts as down (server). "
                    "The agent reads it too, with the same value as the servers': when "
                    "it (re)starts and no server answers, it stops serving the load "
                    "balancers it found on the host about this long after its last "
                    "answered heartbeat (kept in <state_path>/agent-contact.json with the "
                    "server's own value, which wins; without that file, after its "
                    "start), since a server may have moved them (docs/ha.md). 8 s "
                    "(Neutron's is 75): four missed 2 s heartbeats, so a dead host's "
                    "VIPs serve again from another host within 15 s."),
]

agent_opts: list[cfg.Opt] = [
    cfg.StrOpt("host", default=socket.gethostname(), sample_default="<hostname>",
               help="Name of this network host, as the server knows it."),
    cfg.StrOpt("server_url", default="http://127.0.0.1:9696",
               help="lbaas-server base URL, or several separated by commas "
                    "(http://a:9696,http://b:9696: servers sharing one PostgreSQL "
                    "database). The agent uses one until it fails (unreachable, timeout, "
                    "HTTP 5xx), then the next (lbaas-agent only)."),
    cfg.StrOpt("agent_token", default="", secret=True,
               help="X-Auth-Token with the 'agent' role, when the server uses token auth. "
                    "Under Keystone, set [service_auth] instead (a user with the "
                    "'service' role)."),
    cfg.StrOpt("ca_file", default="",
               help="With an https:// server_url: verify the server's certificate "
                    "against the CA certificates in this PEM file; empty: the system's "
                    "CA store."),
    cfg.BoolOpt("insecure", default=False,
                help="With an https:// server_url: do not verify the server's certificate "
                     "(anyone on the path can read agent_token). For tests only; logged as "
                     "a warning at start."),
    cfg.BoolOpt("raise_kernel_limits", default=True,
                help="Raise the kernel limits a host of many load balancers needs "
                     "(neighbour table gc_thresh1-3, net.core.netdev_max_backlog) at start "
                     "when they are lower, as etc/sysctl.d/60-lbaas-agent.conf sets them. "
                     "false: never write a sysctl; a limit that is lower is logged as a "
                     "warning."),
    cfg.StrOpt("interface_driver", default="linuxbridge", choices=["linuxbridge", "ovs"],
               help="How VIP ports are plugged into the host's switch."),
    cfg.BoolOpt("ovs_use_veth", default=True,
                help="ovs driver: plug with a veth pair instead of an OVS internal port "
                     "(required with the userspace datapath)."),
    cfg.StrOpt("ovs_integration_bridge", default="br-int",
               help="ovs driver: bridge for networks not in bridge_mappings."),
    cfg.StrOpt("ovs_db", default="",
               help="ovs driver: the ovsdb-server to use, a unix socket path or an "
                    "ovs-vsctl --db target; empty: ovs-vsctl's default (the host's switch)."),
    cfg.IntOpt("network_device_mtu", min=68,
               help="MTU of VIP devices; default the network's mtu."),
    cfg.ListOpt("bridge_mappings", default=[],
                help="physical_network:bridge pairs. all-in-one default: default:br-lbaas"),
    cfg.IntOpt("periodic_interval", default=5, min=1,
               help="Seconds between stats reports and HAProxy liveness checks."),
    cfg.IntOpt("report_interval", default=2, min=1,
               help="Seconds between heartbeats (keep it below a third of the server's "
                    "[agent] agent_down_time)."),
    cfg.StrOpt("namespace_prefix", default="qlbaas-",
               regex=r"^[a-z][a-z0-9-]{0,14}$",
               help="Prefix of the agent's load balancer namespaces (<prefix><lb id>). "
                    "Only tests running several agents on one kernel change it; an "
                    "agent never touches a namespace without its own prefix."),
    cfg.IntOpt("deploy_workers", default=4, min=1,
               help="Pools deployed in parallel (one lock per pool)."),
    cfg.StrOpt("metrics_bind", default="",
               help="host:port ([v6addr]:port) the agent serves its Prometheus metrics "
                    "on at /metrics (deploys, failures, HAProxy restarts), e.g. "
                    "127.0.0.1:9101; empty: not served."),
]

haproxy_opts: list[cfg.Opt] = [
    cfg.StrOpt("loadbalancer_state_path", default=os.path.join(DEFAULT_STATE_PATH, "lbaas"),
               help="Per-pool state directories: conf, pid, sock, server state."),
    cfg.StrOpt("user_group", default="nogroup", help="Group HAProxy runs as."),
    cfg.IntOpt("send_gratuitous_arp", default=3, min=0,
               help="Gratuitous ARPs per VIP address after plugging (0: none)."),
    cfg.IntOpt("hard_stop_after", default=300, min=1,
               help="Seconds an old HAProxy may keep finishing connections after a reload."),
    cfg.StrOpt("access_log", default="",
               help="Where every load balancer's HAProxy sends its access log (one line "
                    "per HTTP request, option httplog; per TCP connection, option "
                    "tcplog): a unix datagram socket path such as /dev/log, or a syslog "
                    "server over UDP as a.b.c.d:port or [v6]:port. HAProxy runs in the "
                    "load balancer's network namespace as user nobody: a socket path is "
                    "on the host's filesystem and must be writable by nobody; a UDP "
                    "address must be reachable from inside that namespace (the tenant's "
                    "network). Empty (the default): no logging at all. A change applies "
                    "at the next agent start, with a hitless reload."),
    cfg.StrOpt("access_log_facility", default="local0",
               choices=list(limits.LOG_FACILITIES),
               help="Syslog facility of the access log lines."),
]


# What the server tells the agents about the VRRP groups of ACTIVE_STANDBY load
# balancers (the logical device's ``vrrp``); the group is Octavia's.
vrrp_opts: list[cfg.Opt] = [
    cfg.IntOpt("vrrp_advert_int_ms", default=100, min=10, max=40950,
               help="keepalived's VRRP advertisement interval, in milliseconds (VRRPv3 "
                    "counts centiseconds). A BACKUP takes the VIP after about 3.6 "
                    "intervals without an advertisement: 100 ms moves the VIP in under "
                    "half a second for ten small unicast packets a second per load "
                    "balancer; Octavia's 1 s would cost ~3.6 s of a host failure. Raise "
                    "it on congested networks, where a lost burst would flap the VIP."),
]


def register_common_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(common_opts)
    conf.register_opts(logging_opts)


key_manager_opts: list[cfg.Opt] = [
    cfg.StrOpt("encryption_key", secret=True, default="",
               help="The key that encrypts the key manager's secret payloads at rest "
                    "(docs/tls.md): a Fernet key, 32 random bytes in URL-safe base64 "
                    "(python3 -c 'import base64, os; "
                    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'). Empty: "
                    "the key in <state_path>/key_manager.key, made (mode 0600) on first "
                    "use; set it when several servers share a database. Losing it loses "
                    "every stored payload."),
]


def register_server_opts(conf: cfg.ConfigOpts) -> None:
    register_common_opts(conf)
    conf.register_opts(server_opts)
    conf.register_opts(key_manager_opts, group="key_manager")
    conf.register_opts(database_opts, group="database")
    conf.register_opts(quota_opts, group="quotas")
    conf.register_opts(server_agent_opts, group="agent")
    conf.register_opts(vrrp_opts, group="keepalived_vrrp")


def register_agent_opts(conf: cfg.ConfigOpts) -> None:
    register_common_opts(conf)
    conf.register_opts(agent_opts)
    conf.register_opts(haproxy_opts, group="haproxy")
    # The servers' down time and failover switch: what fences the agent before any
    # server has answered (lbaas/agent/manager.py, fence_after).
    conf.register_opt(FAILOVER_OPT)
    conf.register_opts(server_agent_opts, group="agent")
    # The agent's Keystone login (lbaas/agent/keystone_auth.py): keystoneauth's options.
    ks_loading.register_auth_conf_options(conf, SERVICE_AUTH_GROUP)


def database_url(conf: cfg.ConfigOpts) -> str:
    return conf.database.connection or "sqlite:///" + os.path.join(conf.state_path,
                                                                     "lbaas.sqlite")


def parse_bridge_mappings(mappings: list[str]) -> dict[str, str]:
    """``["physnet1:br-eth1", ...]`` → ``{"physnet1": "br-eth1"}``; a bad entry raises
    ValueError naming it."""
    result: dict[str, str] = {}
    for entry in mappings:
        physnet, sep, bridge = entry.strip().partition(":")
        if not sep or not physnet or not bridge:
            raise ValueError(f"bridge_mappings entry {entry!r} is not physnet:bridge")
        if physnet in result:
            raise ValueError(f"bridge_mappings names physical network {physnet!r} twice")
        result[physnet] = bridge
    return result


def check_haproxy_values(conf: cfg.ConfigOpts) -> None:
    """The [haproxy] values that oslo.config cannot check by itself (ValueError naming
    the option)."""
    if conf.haproxy.access_log:
        try:
            limits.log_target(conf.haproxy.access_log)
        except ValueError as exc:
            raise ValueError(f"[haproxy] access_log: {exc}") from None


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """For oslo-config-generator (etc/lbaas.conf.sample)."""
    return [
        ("DEFAULT", common_opts + logging_opts + server_opts + agent_opts),
        ("database", database_opts),
        ("quotas", quota_opts),
        ("agent", server_agent_opts),
        ("haproxy", haproxy_opts),
        ("key_manager", key_manager_opts),
        ("keepalived_vrrp", vrrp_opts),
        (SERVICE_AUTH_GROUP, list(ks_loading.get_auth_common_conf_options())),
    ]


def check_values(conf: cfg.ConfigOpts) -> None:
    """Read every registered option once, so that a bad value fails here, at start.

    oslo.config converts a value only when it is first read: a ``bind_port = abc``
    surfaced as a traceback after the database had been opened and migrated, and a
    ``quota_pool = x`` as a 500 on a tenant's first create. Raises what oslo.config
    raises (``cfg.ConfigFileValueError``, a ``cfg.Error`` and a ``ValueError``)."""
    for name in list(conf):
        value = conf[name]
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for opt in list(value):
                value[opt]


def error_line(prog: str, exc: BaseException) -> str:
    """One line for the operator: ``<prog>: configuration error: <what>``.

    oslo.config names the file as ``from LocationInfo(location=..., detail='<file>')``;
    that becomes ``in <file>``. An OSError (a config file that is a directory, or not
    readable) names the file too."""
    text = re.sub(r"from LocationInfo\(.*?detail='([^']*)'\)", r"in \1", str(exc))
    return f"{prog}: configuration error: {' '.join(text.split())}"
