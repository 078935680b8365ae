"""``openstack secret ...`` (python-barbicanclient) and a TERMINATED_HTTPS listener made
with ``openstack loadbalancer ...`` (python-octaviaclient) work unchanged against lbaas'
key manager (docs/tls.md); the client venv and versions are those of
tests/compat/test_octaviaclient.py, python-barbicanclient among them.

How barbicanclient reaches the key manager without Keystone: with the admin_token auth
type, keystoneauth answers every service's endpoint with ``--os-endpoint`` as given,
and barbicanclient appends ``secrets``/``containers`` to it; it first reads the version
document there (``GET <endpoint>``, to pick a microversion). So the secret commands take
``--os-endpoint URL/key-manager/v1``, the load balancer commands ``--os-endpoint URL``.
Refs are full URLs, which both accept as they are.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.compat.cloud import Cloud, octavia_cloud
from tests.compat.test_octaviaclient import OpenStack, openstack_exe  # noqa: F401


class KeyManagerCli(OpenStack):
    """``openstack secret ...`` pointed at the key manager's v1 endpoint."""

    def run(self, *argv: str) -> Any:
        import subprocess

        return subprocess.run(
            [self.exe, "--os-auth-type", "admin_token", "--os-endpoint",
             self.cloud.url + "/key-manager/v1", "--os-token", self.token, *argv],
            env=self.env, capture_output=True, text=True, timeout=180,
            stdin=subprocess.DEVNULL)


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with octavia_cloud("osc-tls-sub", "10.73.0.0/24") as c:
        yield c


def _self_signed(name: str) -> tuple[str, str, Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem, cert, key


def test_secrets_containers_and_a_terminated_https_listener(
        openstack_exe: str, cloud: Cloud, tmp_path: Path) -> None:  # noqa: F811
    km = KeyManagerCli(openstack_exe, cloud)
    osc = OpenStack(openstack_exe, cloud)
    cert_pem, key_pem, cert, key = _self_signed("www.example.com")

    stored = km.json("secret", "store", "--name", "www-cert", "--payload-content-type",
                     "text/plain", "--payload", cert_pem)
    cert_ref = stored["Secret href"]
    assert cert_ref.startswith(cloud.url + "/key-manager/v1/secrets/")
    key_ref = km.json("secret", "store", "--name", "www-key", "--secret-type", "private",
                      "--payload-content-type", "text/plain", "--payload",
                      key_pem)["Secret href"]
    listed = km.json("secret", "list")
    assert {s["Secret href"] for s in listed} == {cert_ref, key_ref}
    shown = km.json("secret", "get", key_ref)
    assert shown["Name"] == "www-key" and shown["Secret type"] == "private"
    assert key_pem.strip() not in str(shown)
    payload = km.json("secret", "get", "--payload", cert_ref)
    assert payload["Payload"].strip() == cert_pem.strip()

    # (barbicanclient's certificate containers can't be shown with -f json: their
    # "Created" is a datetime its JSON formatter can't write, against Barbican too.)
    container_ref = km.ok(
        "secret", "container", "create", "--name", "www", "--type", "certificate",
        "--secret", f"certificate={cert_ref}", "--secret", f"private_key={key_ref}",
        "-f", "value", "-c", "Container href").strip()
    assert container_ref.startswith(cloud.url + "/key-manager/v1/containers/")
    containers = km.json("secret", "container", "list")
    assert [c["Container href"] for c in containers] == [container_ref]
    shown_container = km.ok("secret", "container", "get", container_ref, "-f", "value",
                            "-c", "Type", "-c", "Certificate", "-c", "Private Key")
    assert shown_container.split() == ["certificate", cert_ref, key_ref]

    # Octavia's other form: a PKCS#12 bundle in one secret, as Octavia's docs store it.
    sni_cert_pem, _, sni_cert, sni_key = _self_signed("api.example.com")
    bundle = pkcs12.serialize_key_and_certificates(b"api", sni_key, sni_cert, None,
                                                   serialization.NoEncryption())
    p12_ref = km.json("secret", "store", "--name", "api-p12", "--payload-content-type",
                      "application/octet-stream", "--payload-content-encoding", "base64",
                      "--payload", base64.b64encode(bundle).decode())["Secret href"]

    osc.json("loadbalancer", "create", "--name", "tls-lb", "--vip-subnet-id",
             "osc-tls-sub", "--wait")
    listener = osc.json("loadbalancer", "listener", "create", "--name", "https",
                        "--protocol", "TERMINATED_HTTPS", "--protocol-port", "443",
                        "--default-tls-container-ref", container_ref,
                        "--sni-container-refs", p12_ref, "--wait", "tls-lb")
    assert listener["protocol"] == "TERMINATED_HTTPS"
    assert listener["default_tls_container_ref"] == container_ref
    shown_listener = osc.json("loadbalancer", "listener", "show", "https")
    assert shown_listener["provisioning_status"] == "ACTIVE"
    assert p12_ref in str(shown_listener["sni_container_refs"])
    assert "TLSv1.2" in str(shown_listener["tls_versions"])

    # A key that isn't the certificate's: Octavia's 400, through the CLI.
    _, other_key_pem, _, _ = _self_signed("other.example.com")
    other_key_ref = km.json("secret", "store", "--payload-content-type", "text/plain",
                            "--payload", other_key_pem)["Secret href"]
    bad = km.ok("secret", "container", "create", "--type", "certificate",
                "--secret", f"certificate={cert_ref}", "--secret",
                f"private_key={other_key_ref}", "-f", "value", "-c", "Container href").strip()
    proc = osc.run("loadbalancer", "listener", "create", "--protocol", "TERMINATED_HTTPS",
                   "--protocol-port", "8443", "--default-tls-container-ref", bad, "tls-lb")
    assert proc.returncode != 0 and "does not match" in proc.stdout + proc.stderr

    # What a listener uses can't be deleted from under it.
    proc = km.run("secret", "container", "delete", container_ref)
    assert proc.returncode != 0 and "in use by listener" in proc.stdout + proc.stderr
    osc.ok("loadbalancer", "listener", "delete", "--wait", "https")
    km.ok("secret", "container", "delete", container_ref)
    km.ok("secret", "container", "delete", bad)
    for ref in (cert_ref, key_ref, p12_ref, other_key_ref):
        km.ok("secret", "delete", ref)
    assert km.json("secret", "list") == []
    proc = km.run("secret", "get", cert_ref)
    assert proc.returncode != 0 and "Secret not found" in proc.stdout + proc.stderr
    osc.ok("loadbalancer", "delete", "--wait", "tls-lb")
    assert cloud.agent.errors == []
