"""Helpers for the Linux layer's functional tests (imported by conftest and tests)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from lbaas.agent.linux import ip_lib, ovs_lib

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A short name in our range, distinct per test run and call (≤ 15 characters)."""
    return f"{prefix}{os.getpid() % 1000}{next(_counter)}"[:15]


def port_id() -> str:
    return "tl" + uuid.uuid4().hex


def ns_run(namespace: str, argv: list[str], timeout: float = 10,
           check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ip_lib.netns_exec_argv(namespace, argv), capture_output=True,
                          text=True, timeout=timeout, check=check)


def can_arp(namespace: str, device: str, address: str, attempts: int = 2) -> bool:
    """L2 reachability: does ``address`` answer an ARP request sent from ``device``?"""
    argv = ["arping", "-c", "1", "-w", "1", "-I", device, address]
    return any(ns_run(namespace, argv).returncode == 0 for _ in range(attempts))


TCP_SERVER = (
    "import socket,sys\n"
    "s=socket.create_server((sys.argv[1],int(sys.argv[2])))\n"
    "s.settimeout(15)\n"
    "c,_=s.accept()\n"
    "c.sendall(b'hello from '+sys.argv[1].encode()+b' '+b'x'*int(sys.argv[3]))\n"
    "c.close()\n"
)
TCP_CLIENT = (
    "import socket,sys,time\n"
    "deadline=time.monotonic()+10\n"
    "while True:\n"
    "  try:\n"
    "    s=socket.create_connection((sys.argv[1],int(sys.argv[2])),2);break\n"
    "  except OSError:\n"
    "    if time.monotonic()>deadline: raise\n"
    "    time.sleep(0.1)\n"
    "s.settimeout(10)\n"
    "data=b''\n"
    "while True:\n"
    "  chunk=s.recv(65536)\n"
    "  if not chunk: break\n"
    "  data+=chunk\n"
    "print(len(data), data[:40].decode())\n"
)


def tcp_exchange(server_ns: str, client_ns: str, address: str, port: int = 8080,
                 payload: int = 200_000) -> str:
    """Serve ``payload`` bytes once from server_ns; return what the client printed.

    The payload is larger than one segment so a checksum or MTU problem shows up as a
    stall, not just the handshake passing.
    """
    server = subprocess.Popen(ip_lib.netns_exec_argv(
        server_ns, ["python3", "-c", TCP_SERVER, address, str(port), str(payload)]))
    try:
        result = ns_run(client_ns, ["python3", "-c", TCP_CLIENT, address, str(port)],
                        timeout=20)
        return result.stdout.strip() or result.stderr.strip()
    finally:
        server.kill()
        server.wait()


class Namespaces:
    def __init__(self) -> None:
        self.made: list[str] = []

    def new(self) -> str:
        name = unique("tl-ns")
        ip_lib.ensure_namespace(name)
        self.made.append(name)
        return name

    def add(self, name: str) -> str:
        self.made.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.made:
            ip_lib.delete_namespace(name)


class Wires:
    """Plain hosts on a bridge: a namespace with a veth whose other end is a bridge port."""

    def __init__(self, namespaces: Namespaces) -> None:
        self.namespaces = namespaces
        self.links: list[str] = []

    def host_on_linux_bridge(self, bridge: str, cidr: str) -> tuple[str, str]:
        ns = self.namespaces.new()
        outer, inner = unique("tlw"), unique("tlh")
        ip_lib.create_veth(outer, inner, ns)
        self.links.append(outer)
        ip_lib.set_device(outer, master=bridge, up=True)
        ip_lib.set_device(inner, ns, up=True)
        ip_lib.sync_addresses(inner, [cidr], ns)
        return ns, inner

    def cleanup(self) -> None:
        for link in self.links:
            ip_lib.delete_device(link)


class PrivateOVS:
    """ovsdb-server + ovs-vswitchd of our own, in a temp dir, reached by its socket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = str(root / "db.sock")
        self.pids: list[int] = []
        self.env = dict(os.environ, OVS_RUNDIR=str(root), OVS_DBDIR=str(root),
                        OVS_LOGDIR=str(root), OVS_PKGDATADIR="/usr/share/openvswitch")

    def _daemon(self, argv: list[str], pidfile: Path) -> None:
        subprocess.run(argv, env=self.env, check=True, timeout=30, capture_output=True)
        self.pids.append(int(pidfile.read_text().strip()))

    def start(self) -> None:
        conf = self.root / "conf.db"
        subprocess.run(["ovsdb-tool", "create", str(conf),
                        "/usr/share/openvswitch/vswitch.ovsschema"], check=True, timeout=30)
        self._daemon(["ovsdb-server", str(conf), f"--remote=punix:{self.db}",
                      f"--pidfile={self.root / 'ovsdb-server.pid'}",
                      f"--unixctl={self.root / 'ovsdb-server.ctl'}",
                      f"--log-file={self.root / 'ovsdb-server.log'}", "--detach"],
                     self.root / "ovsdb-server.pid")
        ovs_lib.vsctl(["--no-wait", "init"], self.db)
        self._daemon(["ovs-vswitchd", f"unix:{self.db}",
                      f"--pidfile={self.root / 'ovs-vswitchd.pid'}",
                      f"--unixctl={self.root / 'ovs-vswitchd.ctl'}",
                      f"--log-file={self.root / 'ovs-vswitchd.log'}", "--detach"],
                     self.root / "ovs-vswitchd.pid")

    def stop(self) -> None:
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
