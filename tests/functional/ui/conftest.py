"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, against ``lbaas all-in-one`` with token auth on a
small lab network of its own (prefix ``tu``, 10.98.10.0/24)::

    tu-gw 10.98.10.1 ── tubr0 ── tu-b1 10.98.10.11, tu-b2 10.98.10.12 (web servers)
                              └── qlbaas-<lb>  VIPs 10.98.10.100-10.98.10.150

The gateway namespace is the client. Screenshots go to ``test-artifacts/ui/`` in the
repository (git ignores it), or to ``$LBAAS_UI_ARTIFACTS``. Everything made here is
removed at the end, even on failure: the browser and its driver by PID, the service, its
HAProxys and namespaces, the lab's namespaces and links.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import netlab
from tests.helpers.netlab import REPO, LabSpec, Service, Topology, free_port, sh

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.skip("the dashboard's browser tests need root and haproxy", allow_module_level=True)
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
        and importlib.util.find_spec("selenium")):
    pytest.skip("the dashboard's browser tests need chromium, chromium-driver and selenium "
                "(make setup installs them)", allow_module_level=True)

TOKENS = {"admin": ("tu-admin-token", "admin", "admin"),
          "alice": ("tu-alice-token", "project-a", "member")}


class TuSpec(LabSpec):
    """LabSpec's names with a /24 of its own: the tenant subnet 10.98.10.0/24."""

    @property
    def tenant_cidr(self) -> str:
        return "10.98.10.0/24"

    @property
    def tenant_gw(self) -> str:
        return "10.98.10.1"

    @property
    def vip_range(self) -> tuple[str, str]:
        return "10.98.10.100", "10.98.10.150"

    @property
    def backend_ips(self) -> dict[str, str]:
        return {f"b{i}": f"10.98.10.{10 + i}" for i in range(1, self.backends + 1)}


SPEC = TuSpec(prefix="tu", net="10.98", backends=2)


class TuTopology(Topology):
    """The bridge, the gateway (client) namespace and the backends; no routed client
    subnet (Topology's teardown removes what this made)."""

    def build(self, backend_args: tuple[str, ...] = ()) -> TuTopology:
        s = self.spec
        sh("ip", "link", "add", s.bridge, "type", "bridge")
        self.links.append(s.bridge)
        sh("ip", "link", "set", s.bridge, "up")
        self._add_ns(s.gw_ns)
        self._wire(s.gw_ns, f"{s.prefix}-gw0", f"{s.tenant_gw}/24", None)
        # A router with nowhere to go answers "unreachable" at once; without forwarding it
        # drops in silence, and the backends' start (HTTPServer looks its address up in
        # DNS) waits for the resolver's timeouts.
        netlab.netns(s.gw_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for name, address in s.backend_ips.items():
            self._add_ns(s.backend_ns(name))
            self._wire(s.backend_ns(name), f"{s.prefix}-{name}h", f"{address}/24", s.tenant_gw)
            self.start_backend(name, 80, *backend_args)
        return self


class TokenService(Service):
    """``lbaas all-in-one`` with ``auth_strategy = token`` and TOKENS in its tokens file."""

    def __init__(self, root: Path) -> None:
        tokens = root / "tokens"
        tokens.write_text("".join(" ".join(t) + "\n" for t in TOKENS.values()))
        super().__init__(root, SPEC, host="tu-host",
                         extra_conf=f"auth_strategy = token\ntokens_file = {tokens}\n")

    def _wait_agent(self, timeout: float) -> None:
        headers = {"X-Auth-Token": TOKENS["admin"][0]}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("lbaas exited:\n" + self.log_tail())
            try:
                r = httpx.get(f"{self.url}/v2.0/agents", headers=headers, timeout=2)
                if r.status_code == 200 and any(a["alive"] and a["host"] == self.host
                                                for a in r.json()["agents"]):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("lbaas did not come up:\n" + self.log_tail())


@pytest.fixture(scope="package")
def topology() -> Iterator[Topology]:
    topo = TuTopology(SPEC)
    try:
        yield topo.build()
    finally:
        topo.teardown()


@pytest.fixture(scope="package")
def service(topology: Topology) -> Iterator[Service]:
    root = Path(tempfile.mkdtemp(prefix="lbaas-ui-"))
    svc = TokenService(root)
    try:
        svc.start()
        yield svc
    finally:
        try:
            svc.stop()
        finally:
            svc.cleanup_data_plane()
            shutil.rmtree(root, ignore_errors=True)


def client_get(url: str, n: int = 1) -> list[str]:
    """``n`` requests from the gateway namespace; each result a body or ``ERR:...``."""
    return netlab.client_get(SPEC, url, n, ns=SPEC.gw_ns)


@pytest.fixture(scope="package")
def artifacts() -> Path:
    path = Path(os.environ.get("LBAAS_UI_ARTIFACTS") or REPO / "test-artifacts" / "ui")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (chromedriver → chromium → its helpers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium. Chromium as root needs --no-sandbox."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    profile = Path(tempfile.mkdtemp(prefix="lbaas-ui-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,900", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver_service = DriverService(executable_path=CHROMEDRIVER, port=free_port())
    driver = None
    try:
        driver = webdriver.Chrome(service=driver_service, options=options)
        driver.implicitly_wait(0)
        yield driver
    finally:
        pids: list[int] = []
        process = getattr(driver_service, "process", None)
        if process is not None:
            pids = [process.pid, *_descendants(process.pid)]
        try:
            if driver is not None:
                driver.quit()
        finally:
            for pid in reversed(pids):  # children first; only if still a browser's
                try:
                    if b"chrom" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    pass
            if process is not None:
                process.wait(10)
            shutil.rmtree(profile, ignore_errors=True)
