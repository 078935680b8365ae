"""Gratuitous ARP for a freshly plugged VIP.

A router or client that talked to a deleted VIP still maps the address to the old port's
MAC; a re-created VIP gets a new MAC, so until their entry expires they send to nowhere.
Unsolicited ARP (``arping -U``) makes them relearn at once.

arping sends one probe per second, so ``count`` probes take ``count - 1`` seconds: the
caller (the plug path) must not wait for them. The probes run in a background thread
that also reaps the arping processes (no zombies) and logs failures.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import threading

from lbaas.agent.linux import ip_lib

LOG = logging.getLogger(__name__)

# Headroom over arping's own count-1 seconds before a stuck arping is killed.
_GRACE_SECONDS = 5


def _ipv4_only(addresses: list[str]) -> list[str]:
    # IPv6 has no ARP; its equivalent (unsolicited neighbour advertisement) is the
    # kernel's job when an address is added.
    out = []
    for address in addresses:
        ip = ipaddress.ip_interface(address).ip
        if ip.version == 4:
            out.append(str(ip))
    return out


def _run(namespace: str, device: str, addresses: list[str], count: int) -> None:
    try:
        device = ip_lib.resolve_device(device, namespace)
    except ip_lib.IpLibError as exc:
        LOG.warning("gratuitous ARP skipped: %s", exc)
        return
    procs = []
    for ip in addresses:
        argv = ip_lib.netns_exec_argv(
            namespace, ["arping", "-U", "-I", device, "-c", str(count), ip])
        try:
            procs.append((ip, subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        except OSError as exc:
            LOG.warning("gratuitous ARP for %s in %s failed to start: %s", ip, namespace, exc)
    for ip, proc in procs:
        try:
            _, err = proc.communicate(timeout=count + _GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            LOG.warning("gratuitous ARP for %s in %s timed out", ip, namespace)
            continue
        if proc.returncode != 0:
            LOG.warning("gratuitous ARP for %s on %s in %s failed (rc %s): %s",
                        ip, device, namespace, proc.returncode, (err or "").strip())


def send_garp(namespace: str, device: str, addresses: list[str],
              count: int) -> threading.Thread | None:
    """Announce ``addresses`` (IPv4 ones; ``ip`` or ``ip/len``) from ``device``, in the
    background. Returns the thread doing it (tests may join it), None when nothing to do.
    """
    ipv4 = _ipv4_only(addresses)
    if count <= 0 or not ipv4:
        return None
    thread = threading.Thread(target=_run, args=(namespace, device, ipv4, count),
                              name=f"garp-{namespace}", daemon=True)
    thread.start()
    return thread
