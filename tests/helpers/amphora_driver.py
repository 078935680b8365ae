"""One lbaas host's HAProxy namespace driver, driven over stdin/stdout, for the
ACTIVE_STANDBY tests and bench (no server: the tests hand-build logical devices).

Run inside the host's namespace (``nsenter --net=/run/netns/<host ns>``), as the agent
would be::

    python amphora_driver.py HOST STATE_PATH NAMESPACE_PREFIX

One JSON request per line, one JSON answer per line:
    {"op": "deploy", "device": {...}}  -> {"ok": true, "result": <deploy_instance's>}
    {"op": "undeploy", "id": ID}       -> {"ok": true}
    {"op": "ensure", "id": ID}         -> {"ok": true, "result": <ensure_running's>}
    {"op": "stats", "id": ID}          -> {"ok": true, "result": <get_stats'>}
A failure is {"ok": false, "error": "..."}. Stopping this process leaves every
instance running, as stopping the agent does (an "agent restart" is a new process).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from lbaas.agent.drivers.haproxy.namespace_driver import HaproxyNSDriver, HaproxyOptions
from lbaas.agent.linux.interface import InterfaceOptions, get_interface_driver
from lbaas.common.logical_device import LogicalDevice


class NoServer:
    """The plugin API calls the driver makes, answered locally."""

    def plug_vip_port(self, port_id: str, host: str) -> None:
        pass

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        pass


def main() -> None:
    host, state_path, prefix = sys.argv[1:4]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    vif = get_interface_driver(InterfaceOptions(interface_driver="linuxbridge",
                                                bridge_mappings={"default": "br-phys"}))
    options = HaproxyOptions(loadbalancer_state_path=state_path, namespace_prefix=prefix,
                             send_gratuitous_arp=2)
    driver = HaproxyNSDriver(options, NoServer(), vif, host)  # type: ignore[arg-type]
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result: Any = None
            op = request["op"]
            if op == "deploy":
                result = driver.deploy_instance(LogicalDevice.model_validate(
                    request["device"]))
            elif op == "undeploy":
                driver.undeploy_instance(request["id"])
            elif op == "ensure":
                result = driver.ensure_running(request["id"])
            elif op == "stats":
                result = driver.get_stats(request["id"])
            else:
                raise ValueError(f"unknown op {op!r}")
            answer = {"ok": True, "result": result}
        except Exception as exc:
            logging.exception("request failed")
            answer = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
