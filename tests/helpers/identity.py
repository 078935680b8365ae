"""A real Keystone for the tests: Keystone from PyPI in a throwaway venv of its own
(``tests/helpers/clients.py``: its pins cannot clash with lbaas'), over SQLite, with fernet
keys in a temporary directory, ``keystone-manage db_sync``/``fernet_setup``/``bootstrap``,
served on a free loopback port by ``tests/helpers/keystone_serve.py`` (wsgiref, threads).

:meth:`Keystone.start` brings it up; :meth:`admin_token`, :meth:`create` and friends set up
projects, users, roles and the catalog through its REST API; :meth:`cleanup` stops the
process (by its PID) and removes every file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.clients import client_venv
from tests.helpers.server import free_port

# keystone 30.0.0 and every dependency exactly (a pip freeze of a working install).
KEYSTONE_REQUIREMENTS = [
    "alembic==1.20.1",
    "amqp==5.4.2",
    "aniso8601==10.0.1",
    "attrs==26.1.0",
    "bcrypt==5.0.0",
    "blinker==1.9.0",
    "cachetools==8.0.2",
    "certifi==2026.10.19.post1",
    "cffi==2.1.1",
    "charset-normalizer==3.5.3",
    "click==8.5.1",
    "cryptography==50.0.2",
    "debtcollector==3.1.0",
    "decorator==5.3.1",
    "defusedxml==0.7.1",
    "dnspython==2.9.2",
    "dogpile.cache==1.5.0",
    "elementpath==4.8.0",
    "eventlet==0.41.3",
    "fasteners==0.20",
    "Flask==3.1.3",
    "Flask-RESTful==0.3.10",
    "futurist==3.5.0",
    "greenlet==3.5.6",
    "idna==3.20",
    "iso8601==2.1.0",
    "itsdangerous==2.2.0",
    "Jinja2==3.1.6",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "keystone==30.0.0",
    "keystoneauth1==5.18.1",
    "keystonemiddleware==13.0.1",
    "kombu==5.7.0",
    "Mako==1.4.3",
    "MarkupSafe==3.0.4",
    "msgpack==1.2.4",
    "netaddr==1.3.0",
    "oauthlib==4.0.1",
    "os-service-types==1.9.0",
    "oslo.cache==4.3.0",
    "oslo.concurrency==7.6.1",
    "oslo.config==10.7.0",
    "oslo.context==6.5.0",
    "oslo.db==18.1.1",
    "oslo.i18n==6.9.0",
    "oslo.log==8.3.2",
    "oslo.messaging==18.3.1",
    "oslo.metrics==0.17.0",
    "oslo.middleware==8.2.0",
    "oslo.policy==6.0.1",
    "oslo.serialization==5.11.0",
    "oslo.service==4.8.0",
    "oslo.upgradecheck==2.8.0",
    "oslo.utils==10.2.0",
    "osprofiler==4.4.0",
    "packaging==26.4",
    "Paste==3.10.1",
    "PasteDeploy==3.1.0",
    "pbr==7.1.3",
    "prettytable==3.19.0",
    "prometheus_client==0.26.0",
    "psutil==7.2.2",
    "pycadf==4.1.0",
    "pycparser==3.12",
    "PyJWT==2.15.1",
    "pyOpenSSL==26.4.0",
    "pyparsing==3.3.3",
    "pysaml2==7.5.5",
    "python-dateutil==4.0.0",
    "python-keystoneclient==6.0.0",
    "pytz==2026.6",
    "PyYAML==6.0.4",
    "referencing==0.37.0",
    "repoze-lru==0.8",
    "requests==2.34.2",
    "rfc3986==2.0.0",
    "Routes==2.5.1",
    "rpds-py==2026.9.1",
    "six==1.17.0",
    "SQLAlchemy==2.1.9",
    "statsd==4.0.1",
    "stevedore==5.10.0",
    "testresources==2.1.2",
    "testscenarios==0.7.0",
    "typing_extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
    "vine==5.1.0",
    "wcwidth==0.9.4",
    "WebOb==1.8.11",
    "Werkzeug==3.1.9",
    "wrapt==2.5.2",
    "xmlschema==2.5.1",
    "yappi==1.7.6",
]
ADMIN_PASSWORD = "keystone-admin-secret"
SERVE = Path(__file__).with_name("keystone_serve.py")


class Keystone:
    def __init__(self) -> None:
        self.bin = client_venv("keystone", KEYSTONE_REQUIREMENTS)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth_url = f"{self.url}/v3"
        self.workdir = Path(tempfile.mkdtemp(prefix="lbaas-keystone-test-"))
        self.config_file = self.workdir / "keystone.conf"
        self.log_file = self.workdir / "keystone.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        for keys in ("fernet-keys", "credential-keys"):
            (self.workdir / keys).mkdir(mode=0o700)
        self.config_file.write_text(
            "[DEFAULT]\n"
            f"log_file = {self.log_file}\n"
            "[database]\n"
            f"connection = sqlite:///{self.workdir / 'keystone.db'}\n"
            "[token]\n"
            "provider = fernet\n"
            "[fernet_tokens]\n"
            f"key_repository = {self.workdir / 'fernet-keys'}\n"
            "[fernet_receipts]\n"
            f"key_repository = {self.workdir / 'fernet-keys'}\n"
            "[credential]\n"
            f"key_repository = {self.workdir / 'credential-keys'}\n"
            "[cache]\n"
            "enabled = false\n")

    def _manage(self, *args: str) -> None:
        user = os.environ.get("USER") or "root"
        argv = [str(self.bin / "keystone-manage"), "--config-file", str(self.config_file),
                *args]
        if args[0] in ("fernet_setup", "credential_setup"):
            argv += ["--keystone-user", user, "--keystone-group", user]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"keystone-manage {args[0]}: {proc.returncode}\n"
                               f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def start(self) -> Keystone:
        self._manage("db_sync")
        self._manage("fernet_setup")
        self._manage("credential_setup")
        self._manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                     "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
                     "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
                     "--bootstrap-region-id", "RegionOne",
                     "--bootstrap-public-url", self.auth_url)
        env = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(self.config_file)}
        env.pop("PYTHONPATH", None)
        with open(self.workdir / "serve.log", "ab") as out:
            self.proc = subprocess.Popen(
                [str(self.bin / "python"), str(SERVE), str(self.port)], env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.workdir)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keystone exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if httpx.get(self.auth_url, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"keystone did not answer:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        text = ""
        for name in ("serve.log", "keystone.log"):
            path = self.workdir / name
            if path.exists():
                text += path.read_text(errors="replace")[-3000:]
        return text

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the identity API ------------------------------------------------------------------

    def token(self, user: str, password: str, project: str) -> str:
        resp = httpx.post(f"{self.auth_url}/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
        if resp.status_code != 201:
            raise RuntimeError(f"token for {user}: {resp.status_code} {resp.text}")
        return resp.headers["X-Subject-Token"]

    def admin_token(self) -> str:
        if self._token is None:
            self._token = self.token("admin", ADMIN_PASSWORD, "admin")
        return self._token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             **headers: str) -> httpx.Response:
        resp = httpx.request(method, f"{self.auth_url}{path}", json=body, timeout=30,
                             headers={"X-Auth-Token": self.admin_token(), **headers})
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp

    def create(self, kind: str, **attrs: Any) -> dict[str, Any]:
        """``create("project", name="p")`` → the new object."""
        obj: dict[str, Any] = self.call("POST", f"/{kind}s", {kind: attrs}).json()[kind]
        return obj

    def role_id(self, name: str) -> str:
        roles = self.call("GET", f"/roles?name={name}").json()["roles"]
        return str(roles[0]["id"]) if roles else str(self.create("role", name=name)["id"])

    def grant(self, user_id: str, project_id: str, role: str) -> None:
        self.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{self.role_id(role)}")

    def revoke_token(self, token: str) -> None:
        self.call("DELETE", "/auth/tokens", **{"X-Subject-Token": token})

    def register_service(self, service_type: str, name: str, url: str) -> None:
        service = self.create("service", type=service_type, name=name)
        for interface in ("public", "internal", "admin"):
            self.create("endpoint", service_id=service["id"], interface=interface,
                        url=url, region_id="RegionOne")
