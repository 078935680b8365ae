"""A real ``lbaas-server`` in a subprocess, and a terse HTTP client for it.

Tests that talk to the REST or agent API start the server the way a user would (the
console script, an INI file, a state directory) so that they exercise configuration
parsing, migrations on start and the HTTP stack too, not just the routers::

    with ServerProcess(database_url=None) as server:       # SQLite under state_path
        api = Api(server.url, project="p1")
        pool = api.create("pool", subnet_id=..., protocol="HTTP", lb_method="ROUND_ROBIN")
        assert api.get(f"/lb/pools/{pool['id']}").status_code == 200

Only loopback: the server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

# Resource singular name → collection path under /v2.0 (Neutron's names).
COLLECTIONS = {
    "network": "/networks",
    "subnet": "/subnets",
    "port": "/ports",
    "pool": "/lb/pools",
    "member": "/lb/members",
    "health_monitor": "/lb/health_monitors",
    "vip": "/lb/vips",
    "agent": "/agents",
}


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerError(RuntimeError):
    """The server did not come up (or died); the message carries its log's tail."""


class ServerProcess:
    """One ``lbaas-server`` process with its own config file and state directory.

    ``database_url``: SQLAlchemy URL, or None for the default SQLite file under the
    state path. ``auth_strategy``: ``noauth`` or ``token``; with ``token``, ``tokens``
    (``[("tok1", "project-a", "member"), ("atok", "svc", "agent,admin")]``) is written to
    the tokens file as ``token project role[,role]`` lines.
    ``conf``: extra options, ``{"quotas": {"quota_pool": 2}, "agent": {...}}``.

    :meth:`start` waits until the API answers; :meth:`stop` is SIGTERM then SIGKILL,
    :meth:`kill` a crash, :meth:`restart` stop + start; :meth:`cleanup` (or leaving the
    ``with`` block) also removes the config, log and state. The port stays the same
    across restarts, so clients keep working; :meth:`log_tail` shows the server's log.
    """

    def __init__(self, *, database_url: str | None = None, auth_strategy: str = "noauth",
                 tokens: list[tuple[str, str, str]] | None = None,
                 conf: dict[str, dict[str, Any]] | None = None,
                 start_timeout: float = 30.0, executable: str | None = None,
                 verify: Any = True) -> None:
        self.database_url = database_url
        self.auth_strategy = auth_strategy
        self.tokens = tokens or []
        self.conf = conf or {}
        self.start_timeout = start_timeout
        # The console script of the venv running the tests.
        self.executable = executable or str(Path(sys.executable).parent / "lbaas-server")
        # With ``ssl_cert_file`` in conf the server speaks https; ``verify`` is what
        # the readiness probe checks its certificate against (httpx's verify=).
        self.scheme = "https" if self.conf.get("DEFAULT", {}).get("ssl_cert_file") else "http"
        self.verify = verify
        self.port = free_port()
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="lbaas-api-test-"))
        self.state_path = self.workdir / "state"
        self.state_path.mkdir()
        self.config_file = self.workdir / "server.conf"
        self.tokens_file = self.workdir / "tokens"
        self.log_file = self.workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = False
        self._write_config()

    def _write_config(self) -> None:
        self.tokens_file.write_text(
            "".join(f"{tok} {project} {roles}\n" for tok, project, roles in self.tokens))
        sections: dict[str, dict[str, Any]] = {
            "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": self.port,
                        "state_path": self.state_path, "auth_strategy": self.auth_strategy,
                        "tokens_file": self.tokens_file},
            "database": {},
            # The API tests' fake agents heartbeat only when a test says so: with the
            # 8 s default a slow test would see their load balancers moved under it.
            # Tests of failover set it short themselves.
            "agent": {"agent_down_time": 75},
        }
        if self.database_url:
            sections["database"]["connection"] = self.database_url
        for section, options in self.conf.items():
            sections.setdefault(section, {}).update(options)
        lines = []
        for section, options in sections.items():
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {value}" for key, value in options.items())
            lines.append("")
        self.config_file.write_text("\n".join(lines))

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def start(self) -> ServerProcess:
        if self.proc is not None and self.proc.poll() is None:
            return self
        # Another process may grab the free port between free_port() and the bind (test
        # suites run side by side here): on the first start only, take another port.
        # A restart keeps its port, because clients hold the URL.
        attempts = 1 if self._started else 3
        for attempt in range(attempts):
            log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
            with open(self.log_file, "ab") as log:
                self.proc = subprocess.Popen(
                    [self.executable, "--config-file", str(self.config_file)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.workdir)
            try:
                self._wait_ready()
            except ServerError:
                self.kill()
                log_text = self.log_file.read_bytes()[log_start:].decode(errors="replace")
                if attempt + 1 < attempts and "address already in use" in log_text.lower():
                    self.port = free_port()
                    self.url = f"{self.scheme}://127.0.0.1:{self.port}"
                    self._write_config()
                    continue
                raise
            except BaseException:
                self.kill()
                raise
            break
        self._started = True
        return self

    def _wait_ready(self) -> None:
        """Until ``GET /v2.0/lb/pools`` answers at all (401 in token mode counts)."""
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"lbaas-server exited with {self.proc.returncode} while "
                                  f"starting; its log:\n{self.log_tail()}")
            try:
                httpx.get(self.url + "/v2.0/lb/pools", timeout=2.0, verify=self.verify)
                return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"lbaas-server did not answer on {self.url} within "
                                  f"{self.start_timeout}s; its log:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests. Nothing gets a chance to clean up."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the process and remove its config, log and state directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class ApiError(AssertionError):
    """A helper call got another status than the one it expects."""


class Api:
    """Terse client: ``api.post("/lb/pools", {"pool": {...}})`` → ``httpx.Response``.

    Paths without a known prefix get ``/v2.0`` (``/agent/...``, ``/openapi.json``,
    ``/v2/...``, ``/v2.0/...`` and ``/`` are used as they are). ``project`` sends
    ``X-Project-Id`` (noauth mode), ``token`` sends ``X-Auth-Token``; both can be
    overridden per call. The ``create``/``show``/``update``/``delete`` helpers assert the
    usual status and return the unwrapped object, for setting up the situation a test is
    about.
    """

    def __init__(self, base_url: str, *, project: str | None = None,
                 token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.project = project
        self.token = token
        self.client = httpx.Client(base_url=base_url, timeout=timeout)

    def as_(self, *, project: str | None = None, token: str | None = None) -> Api:
        """Another client for the same server, as another caller."""
        return Api(self.base_url, project=project, token=token)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _path(path: str) -> str:
        if path.startswith(("/v2.0", "/v2/", "/agent/", "/openapi", "/key-manager")) \
                or path == "/":
            return path
        return "/v2.0" + path

    def request(self, method: str, path: str, body: Any = None, *,
                project: str | None = None, token: str | None = None,
                params: Any = None, headers: dict[str, str] | None = None,
                content: bytes | str | None = None,
                timeout: float | None = None) -> httpx.Response:
        hdrs: dict[str, str] = {}
        if project or self.project:
            hdrs["X-Project-Id"] = project or self.project or ""
        if token or self.token:
            hdrs["X-Auth-Token"] = token or self.token or ""
        if content is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        kwargs: dict[str, Any] = {"params": params, "headers": hdrs}
        if content is not None:
            kwargs["content"] = content
        elif body is not None:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = timeout
        return self.client.request(method, self._path(path), **kwargs)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    # Resource helpers: resource is a singular name of COLLECTIONS ("pool", "vip", ...).

    @staticmethod
    def _expect(resp: httpx.Response, status: int) -> httpx.Response:
        if resp.status_code != status:
            raise ApiError(f"{resp.request.method} {resp.request.url} → "
                           f"{resp.status_code} (wanted {status}): {resp.text[:2000]}")
        return resp

    def create(self, resource: str, **attrs: Any) -> dict[str, Any]:
        resp = self.post(COLLECTIONS[resource], {resource: attrs})
        return dict(self._expect(resp, 201).json()[resource])

    def show(self, resource: str, obj_id: str) -> dict[str, Any]:
        resp = self.get(f"{COLLECTIONS[resource]}/{obj_id}")
        return dict(self._expect(resp, 200).json()[resource])

    def update(self, resource: str, obj_id: str, **attrs: Any) -> dict[str, Any]:
        resp = self.put(f"{COLLECTIONS[resource]}/{obj_id}", {resource: attrs})
        return dict(self._expect(resp, 200).json()[resource])

    def remove(self, resource: str, obj_id: str) -> None:
        self._expect(self.delete(f"{COLLECTIONS[resource]}/{obj_id}"), 204)

    def list(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        collection = COLLECTIONS[resource]
        resp = self._expect(self.get(collection, params=params), 200)
        return list(resp.json()[collection.rsplit("/", 1)[1]])
