"""TLS termination end to end, driven the way docs/tls.md shows it: certificates stored
with ``openstack secret store`` / ``secret container create`` (python-barbicanclient, the
PKCS#12 form and the container form), a TERMINATED_HTTPS listener with SNI and an L7
policy made with ``openstack loadbalancer`` (python-octaviaclient), on the e2e lab's real
data plane (real namespaces, bridge, HAProxy and web servers; see conftest.py). A TLS
client in the client namespace checks the certificate each server name gets and where
each request goes."""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.compat.test_octaviaclient import OpenStack, openstack_exe  # noqa: F401
from tests.functional.e2e.conftest import BACKENDS, CLIENT_NS, Tenant
from tests.helpers.netlab import PY, Service, wait_until
from tests.helpers.tls_material import Authority, Issued

# One HTTPS request from the client namespace with a server name (SNI and Host):
# (subject CN the client saw, status, Location, body). The CA verifies the chain.
_REQUEST = """
import http.client, json, socket, ssl, sys
vip, name, path, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
sock = ctx.wrap_socket(socket.create_connection((vip, 443), 5), server_hostname=name)
cert = sock.getpeercert()
cn = [v for rdn in cert["subject"] for k, v in rdn if k == "commonName"][0]
c = http.client.HTTPConnection(vip, 443, timeout=5)
c.sock = sock
c.request("GET", path, headers={"Host": name})
r = c.getresponse()
print(json.dumps([cn, r.status, r.getheader("Location"), r.read().decode().strip()]))
"""

class _CliCloud:
    """What tests/compat's OpenStack needs of a cloud: its URL and a report."""

    def __init__(self, service: Service) -> None:
        self.url = service.url
        self.service = service

    def agent_report(self) -> str:
        return "service log:\n" + self.service.log_tail(3000)


class SecretCli(OpenStack):
    """``openstack secret ...``: the key manager's endpoint is /key-manager/v1."""

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.exe, "--os-auth-type", "admin_token", "--os-endpoint",
             self.cloud.url + "/key-manager/v1", "--os-token", self.token, *argv],
            env=self.env, capture_output=True, text=True, timeout=180,
            stdin=subprocess.DEVNULL)


@pytest.fixture
def material() -> Iterator[tuple[Authority, Path]]:
    ca = Authority("te-tls-ca")
    with tempfile.TemporaryDirectory(prefix="lbaas-tls-cli-") as tmp:
        ca_file = Path(tmp) / "ca.pem"
        ca_file.write_text(ca.pem)
        yield ca, ca_file


def _pkcs12_b64(issued: Issued) -> str:
    cert = x509.load_pem_x509_certificate(issued.certificate.encode())
    key = serialization.load_pem_private_key(issued.private_key.encode(), None)
    blob = pkcs12.serialize_key_and_certificates(
        b"www", key, cert, None, serialization.NoEncryption())  # type: ignore[arg-type]
    return base64.b64encode(blob).decode()


def _https(vip: str, name: str, path: str, ca_file: Path) -> tuple[Any, ...]:
    out = subprocess.run(["ip", "netns", "exec", CLIENT_NS, PY, "-c", _REQUEST, vip, name,
                          path, str(ca_file)], check=True, capture_output=True, text=True,
                         timeout=30)
    return tuple(json.loads(out.stdout))


def test_terminated_https_with_sni_and_an_l7_policy_through_the_openstack_cli(
        tenant: Tenant, service: Service, material: tuple[Authority, Path],
        openstack_exe: str) -> None:  # noqa: F811
    ca, ca_file = material
    cloud = _CliCloud(service)
    lb_cli, km = OpenStack(openstack_exe, cloud), SecretCli(openstack_exe, cloud)  # type: ignore[arg-type]
    www = ca.issue("www.te.example", ("www.te.example",))
    api = ca.issue("api.te.example", ("api.te.example",))
    made_secrets: list[str] = []
    lb_name = "te-tls"
    try:
        # The default certificate as Octavia's cookbook stores it: a PKCS#12 bundle.
        www_ref = km.ok("secret", "store", "--name", "te-www", "--payload-content-type",
                        "application/octet-stream", "--payload-content-encoding", "base64",
                        "--payload", _pkcs12_b64(www), "-f", "value", "-c",
                        "Secret href").strip()
        made_secrets.append(www_ref)
        # An SNI certificate as a certificate container of two secrets.
        refs = {}
        for part, payload in (("certificate", api.certificate),
                              ("private_key", api.private_key)):
            refs[part] = km.ok("secret", "store", "--name", f"te-api-{part}",
                               "--payload-content-type", "text/plain", "--payload",
                               payload, "-f", "value", "-c", "Secret href").strip()
            made_secrets.append(refs[part])
        container = km.ok("secret", "container", "create", "--name", "te-api", "--type",
                          "certificate", "--secret", f"certificate={refs['certificate']}",
                          "--secret", f"private_key={refs['private_key']}", "-f", "value",
                          "-c", "Container href").strip()

        subnet = tenant.subnet["id"]
        lb = lb_cli.json("loadbalancer", "create", "--name", lb_name, "--vip-subnet-id",
                         subnet, "--wait")
        lb_cli.ok("loadbalancer", "listener", "create", "--name", "te-https",
                  "--protocol", "TERMINATED_HTTPS", "--protocol-port", "443",
                  "--default-tls-container-ref", www_ref,
                  "--sni-container-refs", container, "--wait", lb["id"])
        for pool, backend in (("te-web", "b1"), ("te-api", "b2")):
            args = ["--listener", "te-https"] if pool == "te-web" else \
                ["--loadbalancer", lb["id"]]
            lb_cli.ok("loadbalancer", "pool", "create", "--name", pool, *args,
                      "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--wait")
            lb_cli.ok("loadbalancer", "member", "create", "--address", BACKENDS[backend],
                      "--protocol-port", "80", "--wait", pool)
        policy = lb_cli.json("loadbalancer", "l7policy", "create", "--name", "te-to-api",
                             "--action", "REDIRECT_TO_POOL", "--redirect-pool", "te-api",
                             "--wait", "te-https")
        lb_cli.ok("loadbalancer", "l7rule", "create", "--type", "HOST_NAME",
                  "--compare-type", "EQUAL_TO", "--value", "api.te.example", "--wait",
                  policy["id"])
        vip = lb["vip_address"]

        # Each name gets its own certificate, and the L7 policy routes by name.
        assert _https(vip, "www.te.example", "/", ca_file) == \
            ("www.te.example", 200, None, "b1")
        assert _https(vip, "api.te.example", "/", ca_file) == \
            ("api.te.example", 200, None, "b2")
        # A name no certificate serves gets the default one.
        assert _https(vip, "other.te.example", "/", ca_file)[:2] == ("www.te.example", 200)

        # A secret in use by the listener can't be deleted from under it.
        proc = km.run("secret", "delete", www_ref)
        assert proc.returncode != 0 and "in use" in (proc.stdout + proc.stderr), proc
    finally:
        lb_cli.run("loadbalancer", "delete", "--cascade", "--wait", lb_name)
        wait_until(lambda: lb_cli.run("loadbalancer", "show", lb_name).returncode != 0,
                   timeout=60, message="the load balancer deleted")
        km.run("secret", "container", "delete", locals().get("container", "") or "none")
        for ref in made_secrets:
            km.run("secret", "delete", ref)
