"""What an agent host needs before it can serve load balancers, checked at start.

A missing binary would otherwise surface as every deploy failing with a subprocess
error, one pool at a time; better one clear line at start.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable

LOG = logging.getLogger(__name__)

REQUIRED_BINARIES = {
    "haproxy": "apt-get install haproxy",
    "arping": "apt-get install iputils-arping",
}

# Every load balancer's namespace has its own neighbour table, but the kernel's
# gc_thresh limits count the entries of all of them together. With the defaults
# (128/512/1024) a host with ~170 load balancers starts dropping neighbour entries
# ("neighbour table overflow") and the VIPs stop answering ARP. thresh3 comes first, so
# the three are never out of order, even for a moment.
NEIGH_MINIMUMS = {"gc_thresh3": 8192, "gc_thresh2": 4096, "gc_thresh1": 1024}
NEIGH_FAMILIES = ("ipv4", "ipv6")
# A broadcast (every ARP request) on a bridge is queued once per port; with the default
# backlog of 1000 a bridge of ~1000 VIP ports drops the copies of the ports last in line,
# and those VIPs never hear who asks for them (bench/scale: 8.5 million drops and 2 of
# 1000 VIPs silent, all serving once raised).
KERNEL_MINIMUMS = {
    **{f"net.{family}.neigh.default.{name}": minimum
       for family in NEIGH_FAMILIES for name, minimum in NEIGH_MINIMUMS.items()},
    "net.core.netdev_max_backlog": 8192,
}


class HostCheckError(Exception):
    """The host cannot run load balancers; the message says what to install."""


def check_host(raise_neighbour_limits: bool = True, proc_sys: str = "/proc/sys",
               which: Callable[[str], str | None] = shutil.which) -> None:
    for binary, hint in REQUIRED_BINARIES.items():
        if which(binary) is None:
            raise HostCheckError(f"{binary} not found: {hint}")
    if raise_neighbour_limits:
        raise_kernel_limits(proc_sys)
    else:
        for sysctl, (current, minimum) in low_kernel_limits(proc_sys).items():
            LOG.warning("%s is %d, below the %d a host of many load balancers needs "
                        "(raise_kernel_limits is false: not raised; see "
                        "etc/sysctl.d/60-lbaas-agent.conf)", sysctl, current, minimum)


def _read_limit(path: str, sysctl: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        # IPv6 disabled: nothing to raise.
        LOG.debug("%s absent, not raised", sysctl)
    except (OSError, ValueError) as exc:
        LOG.warning("cannot read %s: %s", sysctl, exc)
    return None


def low_kernel_limits(proc_sys: str = "/proc/sys") -> dict[str, tuple[int, int]]:
    """The limits of KERNEL_MINIMUMS below their minimum: ``{name: (current, minimum)}``.
    Reads only."""
    low: dict[str, tuple[int, int]] = {}
    for sysctl, minimum in KERNEL_MINIMUMS.items():
        current = _read_limit(os.path.join(proc_sys, *sysctl.split(".")), sysctl)
        if current is not None and current < minimum:
            low[sysctl] = (current, minimum)
    return low


def raise_kernel_limits(proc_sys: str = "/proc/sys") -> dict[str, tuple[int, int]]:
    """Raise each limit of KERNEL_MINIMUMS that is below its minimum; never lower one.
    Returns what changed, ``{sysctl name: (old, new)}``. A limit that cannot be written
    (read-only /proc/sys in a container) is a warning: the agent works, only at lower
    density."""
    changed: dict[str, tuple[int, int]] = {}
    for sysctl, (current, minimum) in low_kernel_limits(proc_sys).items():
        path = os.path.join(proc_sys, *sysctl.split("."))
        try:
            with open(path, "w") as f:
                f.write(f"{minimum}\n")
        except OSError as exc:
            LOG.warning("cannot raise %s from %d to %d (%s): hosts with hundreds of load "
                        "balancers will have VIPs that stop answering ARP; run "
                        "'sysctl -w %s=%d'", sysctl, current, minimum, exc,
                        sysctl, minimum)
            continue
        LOG.info("raised %s: %d -> %d", sysctl, current, minimum)
        changed[sysctl] = (current, minimum)
    return changed
