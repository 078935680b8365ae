"""Neutron's errors: each class is a ``type`` in the error body, with its HTTP status.

Body: ``{"NeutronError": {"type": "PoolInUse", "message": "...", "detail": ""}}``.
"""

from __future__ import annotations


class NeutronError(Exception):
    status_code = 500
    message = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        self.msg = message if message is not None else self.message.format(**kwargs)
        super().__init__(self.msg)

    @property
    def type(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, dict[str, str]]:
        return {"NeutronError": {"type": self.type, "message": self.msg, "detail": ""}}


class BadRequest(NeutronError):
    status_code = 400
    message = "Bad {resource} request: {msg}."


class InvalidInput(BadRequest):
    message = "Invalid input for operation: {error_message}."


class HTTPBadRequest(BadRequest):
    """Malformed bodies, unknown attributes: Neutron's wsgi-level 400."""

    message = "{msg}"


class NotAuthorized(NeutronError):
    status_code = 401
    message = "Authentication required."
    # What the 401's WWW-Authenticate says: keystonemiddleware's words under Keystone.
    www_authenticate: str | None = None


class ServiceUnavailable(NeutronError):
    status_code = 503
    message = "The service is unavailable; retry later."


class Forbidden(NeutronError):
    status_code = 403
    message = "Not authorized."


class PolicyNotAuthorized(Forbidden):
    message = "rule:{rule} is disallowed by policy"


class RequestEntityTooLarge(NeutronError):
    status_code = 413
    message = "Request body is larger than {limit} bytes."


class NotFound(NeutronError):
    status_code = 404
    message = "An unknown exception occurred."


class Conflict(NeutronError):
    status_code = 409
    message = "A conflict occurred."


class InUse(Conflict):
    message = "The resource is in use."


class ExtensionNotFound(NotFound):
    message = "Extension with alias {alias} does not exist"


class NetworkNotFound(NotFound):
    message = "Network {id} could not be found."


class SubnetNotFound(NotFound):
    message = "Subnet {id} could not be found."


class PortNotFound(NotFound):
    message = "Port {id} could not be found."


class PoolNotFound(NotFound):
    message = "Pool {id} could not be found"


class MemberNotFound(NotFound):
    message = "Member {id} could not be found"


class HealthMonitorNotFound(NotFound):
    message = "Health_monitor {id} could not be found"


class VipNotFound(NotFound):
    message = "Vip {id} could not be found"


class AgentNotFound(NotFound):
    message = "Agent {id} could not be found."


class EntityNotFound(NotFound):
    # neutron-lbaas v2's name for a missing load balancer (or other v2 object).
    message = "{name} {id} could not be found"


class AgentInUse(InUse):
    message = ("Agent {id} is alive; stop it (it is then dead after agent_down_time) "
               "or drain it with admin_state_up=false before deleting it.")


class PoolMonitorAssociationNotFound(NotFound):
    message = "Monitor {monitor_id} is not associated with Pool {pool_id}"


class NoEligibleLbaasAgent(NotFound):
    message = "No eligible loadbalancer agent found for pool {pool_id}."


class NetworkInUse(InUse):
    message = ("Unable to complete operation on network {id}. There are one or more ports "
               "still in use on the network.")


class SubnetInUse(InUse):
    message = "Unable to complete operation on subnet {id}: {reason}."


class PortInUse(InUse):
    message = "Unable to complete operation on port {id}: it is owned by {owner} {device_id}."


class IpAddressInUse(InUse):
    message = "Unable to complete operation for network {net_id}. The IP address {ip} is in use."


class IpAddressGenerationFailure(Conflict):
    message = "No more IP addresses available on network {net_id}."


class MacAddressGenerationFailure(Conflict):
    message = "Unable to generate unique mac on network {net_id}."


class VlanIdInUse(InUse):
    message = ("Unable to create the network. The VLAN {vlan_id} on physical network "
               "{physical_network} is in use.")


class PoolInUse(InUse):
    message = "Pool {pool_id} is still in use"


class VipExists(InUse):
    message = "Another Vip already exists for pool {pool_id}"


class MemberExists(InUse):
    message = "Member with address {address} and port {port} already present in pool {pool}"


class HealthMonitorInUse(InUse):
    message = "Health monitor {monitor_id} still has associations with pools"


class PoolMonitorAssociationExists(Conflict):
    message = "health_monitor {monitor_id} is already associated with pool {pool_id}"


class StateInvalid(BadRequest):
    message = "Invalid state {state} of loadbalancer resource {id}"


class StateConflict(Conflict):
    message = "Invalid state {state} of loadbalancer resource {id}"


class OverQuota(Conflict):
    message = "Quota exceeded for resources: ['{resource}']."


# --- Octavia v2 ---------------------------------------------------------------------------
# Octavia's error body: {"faultcode": "Client", "faultstring": "...", "debuginfo": null}.


class OctaviaFault(Exception):
    status_code = 500
    faultcode = "Server"

    def __init__(self, faultstring: str) -> None:
        super().__init__(faultstring)
        self.faultstring = faultstring

    def body(self) -> dict[str, object]:
        return octavia_body(self.status_code, self.faultstring)


def octavia_body(status: int, faultstring: str) -> dict[str, object]:
    return {"faultcode": "Client" if status < 500 else "Server",
            "faultstring": faultstring, "debuginfo": None}


class OctaviaBadRequest(OctaviaFault):
    status_code = 400


class OctaviaForbidden(OctaviaFault):
    status_code = 403

    def __init__(self, faultstring: str = "Policy does not allow this request to be "
                                          "performed.") -> None:
        super().__init__(faultstring)


class OctaviaQuotaExceeded(OctaviaFault):
    status_code = 403

    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota has been met for resources: {resource}")


class OctaviaNotFound(OctaviaFault):
    status_code = 404

    def __init__(self, resource: str, obj_id: str) -> None:
        super().__init__(f"{resource} {obj_id} not found.")


class OctaviaConflict(OctaviaFault):
    status_code = 409


class OctaviaImmutable(OctaviaConflict):
    def __init__(self, resource: str, obj_id: str) -> None:
        super().__init__(f"{resource} {obj_id} is immutable and cannot be updated.")


# --- the key manager (Barbican's subset) ------------------------------------------------
# Barbican's error body: {"code": 404, "title": "Not Found", "description": "..."}
# (python-barbicanclient prints "<title>: <description>").

BARBICAN_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                   404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
                   409: "Conflict", 413: "Request Entity Too Large",
                   415: "Unsupported Media Type", 500: "Internal Server Error",
                   503: "Service Unavailable"}


def barbican_body(status: int, description: str) -> dict[str, object]:
    return {"code": status, "title": BARBICAN_TITLES.get(status, "Error"),
            "description": description}


class BarbicanFault(Exception):
    status_code = 400

    def __init__(self, description: str, status_code: int | None = None) -> None:
        super().__init__(description)
        self.description = description
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> dict[str, object]:
        return barbican_body(self.status_code, self.description)
