"""Names shared by the server and the agent: statuses, protocols, methods, owners."""

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
ERROR = "ERROR"
DOWN = "DOWN"
PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"

# v1's gate: an object in one of these states is wanted on the data plane.
ACTIVE_PENDING_STATUSES = (ACTIVE, PENDING_CREATE, PENDING_UPDATE)
PENDING_STATUSES = (PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE)

PROTOCOLS = ("TCP", "HTTP", "HTTPS")
LB_METHODS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
HEALTH_MONITOR_TYPES = ("PING", "TCP", "HTTP", "HTTPS")
SESSION_PERSISTENCE_TYPES = ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE")
NETWORK_TYPES = ("flat", "vlan")

DEVICE_OWNER_LOADBALANCER = "neutron:LOADBALANCER"
DRIVER_HAPROXY_NS = "haproxy_ns"
AGENT_TYPE_LOADBALANCER = "Loadbalancer agent"
AGENT_BINARY = "lbaas-agent"

# update_status obj_type values (v1's names).
OBJ_POOL = "pool"
OBJ_VIP = "vip"
OBJ_MEMBER = "member"
OBJ_HEALTH_MONITOR = "health_monitor"

# Octavia v2: provisioning and operating statuses.
DELETED = "DELETED"
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEGRADED = "DEGRADED"
NO_MONITOR = "NO_MONITOR"
DRAINING = "DRAINING"
# A v2 object under one of these can't be changed (Octavia's "immutable").
MUTABLE_STATUSES = (ACTIVE,)
DELETABLE_STATUSES = (ACTIVE, ERROR)

V2_PROTOCOLS = ("HTTP", "HTTPS", "TCP")
V2_LB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
V2_HEALTH_MONITOR_TYPES = ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO")
PROVIDER_HAPROXY_NS = "haproxy_ns"
# Clients hard-code Octavia's default provider name: it is an alias of ours.
PROVIDER_ALIASES = {"amphora": PROVIDER_HAPROXY_NS, "octavia": PROVIDER_HAPROXY_NS}
DEVICE_OWNER_LOADBALANCERV2 = "Octavia"
