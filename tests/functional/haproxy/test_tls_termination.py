"""TLS through the HAProxy namespace driver with real HAProxy, real TLS clients
(python's ssl, openssl s_client, curl) in a client namespace and real TLS backends:
TERMINATED_HTTPS (SNI, versions, ALPN, HSTS, client authentication and its headers),
the SSL_* L7 rules, re-encryption to members, a certificate rotated under load, and the
certificate files on the agent host (see tls_topology.py for the topology)."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lbaas.common import logical_device as ld
from tests.functional.haproxy.tls_topology import (
    BACKENDS,
    HTTP_PORT,
    NS_PREFIX,
    TLS_PORT,
    VIP_ADDRESS,
    Driver,
    TlsTopology,
    tls_certificate,
    tls_driver,
    tls_topology,
    vip_port,
)

pytestmark = pytest.mark.functional

__all__ = ["tls_topology"]

LB_ID = "tc-lb-0001aaaa"
SSL_HEADERS = ("X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN",
               "X-SSL-Client-CN", "X-SSL-Issuer", "X-SSL-Client-SHA1",
               "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After")


def member(mid: str, backend: str, port: int) -> ld.Member:
    return ld.Member(id=mid, address=BACKENDS[backend], protocol_port=port)


def monitor(mid: str) -> ld.HealthMonitor:
    return ld.HealthMonitor(id=mid, type="HTTP", delay=1, timeout=1, max_retries=1,
                            max_retries_down=1)


def rule(rid: str, rtype: str, value: str, compare: str = "EQUAL_TO", key: str | None = None,
         invert: bool = False) -> ld.L7Rule:
    return ld.L7Rule(id=rid, type=rtype, compare_type=compare, key=key, value=value,
                     invert=invert)


def redirect(pid: str, position: int, target: str, *rules: ld.L7Rule) -> ld.L7Policy:
    return ld.L7Policy(id=pid, action="REDIRECT_TO_URL", position=position,
                       redirect_url=f"http://{target}.tc.test/", rules=list(rules))


# Each SSL_* rule type appears both plain and inverted; the policy that answers tells
# which rules matched.
L7_POLICIES = [
    redirect("tc-p1", 1, "nocert",
             rule("tc-r-hascert-inv", "SSL_CONN_HAS_CERT", "True", invert=True)),
    redirect("tc-p2", 2, "client-a",
             rule("tc-r-cn", "SSL_DN_FIELD", "tc-client-a", key="CN")),
    redirect("tc-p3", 3, "other-org",
             rule("tc-r-org-inv", "SSL_DN_FIELD", "tc-org", key="O", invert=True),
             rule("tc-r-verified", "SSL_VERIFY_RESULT", "0")),
    redirect("tc-p4", 4, "has-cert",
             rule("tc-r-hascert", "SSL_CONN_HAS_CERT", "True"),
             rule("tc-r-verify20-inv", "SSL_VERIFY_RESULT", "20", invert=True),
             rule("tc-r-cn-re", "SSL_DN_FIELD", "^tc-client-[a-z]$", compare="REGEX",
                  key="CN")),
]


def make_lb(topo: TlsTopology, default: ld.TlsCertificate | None = None) -> ld.LoadBalancer:
    leafs, ca, crl = topo.leafs, topo.ca.pem, topo.ca.crl()
    plain = "tc-pool-plain"
    www = default or tls_certificate("tc-c-www", leafs["www.tc.test"])
    listeners = [
        ld.Listener(
            id="tc-l-sni", protocol="TERMINATED_HTTPS", protocol_port=443,
            default_pool_id=plain,
            default_tls_container=www,
            sni_containers=[tls_certificate("tc-c-one", leafs["one.tc.test"]),
                            tls_certificate("tc-c-two", leafs["two.tc.test"])],
            tls_versions=["TLSv1.3"], alpn_protocols=["h2", "http/1.1"],
            hsts_max_age=31536000, hsts_include_subdomains=True, hsts_preload=True,
            insert_headers={"X-Forwarded-Proto": "true"}),
        ld.Listener(
            id="tc-l-mtls", protocol="TERMINATED_HTTPS", protocol_port=8443,
            default_pool_id=plain,
            default_tls_container=www,
            client_authentication="MANDATORY", client_ca_tls_container=ca,
            client_crl_container=crl, insert_headers={h: "true" for h in SSL_HEADERS}),
        ld.Listener(
            id="tc-l-l7", protocol="TERMINATED_HTTPS", protocol_port=9443,
            default_pool_id=plain,
            default_tls_container=www,
            client_authentication="OPTIONAL", client_ca_tls_container=ca,
            l7policies=L7_POLICIES),
        ld.Listener(id="tc-l-reenc", protocol="HTTP", protocol_port=80,
                    default_pool_id="tc-pool-good"),
        ld.Listener(id="tc-l-reenc-bad", protocol="HTTP", protocol_port=81,
                    default_pool_id="tc-pool-bad"),
    ]
    pools = [
        ld.Pool(id=plain, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                members=[member("tc-m-plain", "tcbe1", HTTP_PORT)]),
        ld.Pool(id="tc-pool-good", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                tls_enabled=True, ca_tls_container=ca, crl_container=crl,
                alpn_protocols=["http/1.1"], healthmonitor=monitor("tc-hm-good"),
                members=[member("tc-m-good", "tcbe2", TLS_PORT)]),
        ld.Pool(id="tc-pool-bad", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                tls_enabled=True, ca_tls_container=ca, healthmonitor=monitor("tc-hm-bad"),
                members=[member("tc-m-bad", "tcbe3", TLS_PORT)]),
    ]
    return ld.LoadBalancer(id=LB_ID, vip_address=VIP_ADDRESS, vip_port=vip_port(LB_ID),
                           listeners=listeners, pools=pools)


@pytest.fixture(scope="module")
def deployed(tls_topology: TlsTopology, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[Driver]:
    with tls_driver(tmp_path_factory.mktemp("tc-state")) as driver:
        driver.deploy(make_lb(tls_topology))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not tls_topology.https(443)["ok"]:
            time.sleep(0.2)
        yield driver


def body(result: dict[str, Any]) -> dict[str, Any]:
    assert result["ok"], result
    assert result["status"] == 200, result
    parsed: dict[str, Any] = json.loads(result["body"])
    # HAProxy sends header names in lower case over HTTP/1.
    parsed["headers"] = {k.lower(): v for k, v in parsed["headers"].items()}
    return parsed


# ------------------------------------------------------------------ termination


def test_default_certificate_without_sni_and_sni_certificates_by_name(
        tls_topology: TlsTopology, deployed: Driver):
    assert body(tls_topology.https(443))["name"] == "tcbe1"
    assert tls_topology.https(443)["cn"] == "www.tc.test"
    assert tls_topology.https(443, sni="unknown.tc.test")["cn"] == "www.tc.test"
    for name in ("one.tc.test", "two.tc.test"):
        assert tls_topology.https(443, sni=name)["cn"] == name
        # openssl s_client says the same.
        out = tls_topology.in_client(
            "openssl", "s_client", "-connect", f"{VIP_ADDRESS}:443", "-servername", name,
            "-CAfile", str(tls_topology.dir / "ca.pem"), "-verify_return_error",
            timeout=15)
        assert f"subject=CN = {name}" in out.stdout, out.stdout + out.stderr
        assert "Verify return code: 0 (ok)" in out.stdout


def test_tls13_only_refuses_a_tls12_client(tls_topology: TlsTopology, deployed: Driver):
    assert tls_topology.https(443)["version"] == "TLSv1.3"
    refused = tls_topology.https(443, max_version="TLSv1_2")
    assert not refused["ok"] and "VERSION" in refused["error"].upper(), refused
    out = tls_topology.in_client("openssl", "s_client", "-connect", f"{VIP_ADDRESS}:443",
                                 "-tls1_2", timeout=15)
    assert out.returncode != 0 and "Cipher is (NONE)" in out.stdout + out.stderr


def test_h2_by_alpn_and_hsts(tls_topology: TlsTopology, deployed: Driver):
    assert tls_topology.https(443, alpn=["h2", "http/1.1"], handshake_only=True,
                              )["alpn"] == "h2"
    assert tls_topology.https(443, alpn=["http/1.1"])["alpn"] == "http/1.1"
    out = tls_topology.in_client(
        "curl", "-sS", "--http2", "--cacert", str(tls_topology.dir / "ca.pem"),
        "--resolve", f"www.tc.test:443:{VIP_ADDRESS}", "-D", "-", "-o", "/dev/null",
        "-w", "version=%{http_version}", "https://www.tc.test/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("HTTP/2 200")
    assert ("strict-transport-security: max-age=31536000; includeSubDomains; preload"
            in out.stdout)
    assert out.stdout.endswith("version=2")
    headers = body(tls_topology.https(443))["headers"]
    assert headers["x-forwarded-proto"] == "https"


# ------------------------------------------------------------------ client authentication


def test_mandatory_client_auth_refuses_no_certificate_and_foreign_or_revoked_ones(
        tls_topology: TlsTopology, deployed: Driver):
    for cert in (None, "stranger", "revoked"):
        opts: dict[str, Any] = (
            {"cert": str(tls_topology.dir / f"client-{cert}.pem")} if cert else {})
        result = tls_topology.https(8443, **opts)
        assert not result["ok"], (cert, result)


def test_mandatory_client_auth_accepts_the_ca_s_client_and_tells_the_backend(
        tls_topology: TlsTopology, deployed: Driver):
    result = tls_topology.https(8443, cert=str(tls_topology.dir / "client-a.pem"))
    headers = body(result)["headers"]
    client = x509.load_pem_x509_certificate(tls_topology.clients["a"].certificate.encode())
    assert headers["x-ssl-client-verify"] == "0"
    assert headers["x-ssl-client-has-cert"] == "1"
    assert headers["x-ssl-client-cn"] == "tc-client-a"
    assert headers["x-ssl-client-dn"] == "/O=tc-org/CN=tc-client-a"
    assert headers["x-ssl-issuer"] == "/CN=tc test CA"
    assert headers["x-ssl-client-sha1"] == client.fingerprint(hashes.SHA1()).hex().upper()
    assert headers["x-ssl-client-not-before"].endswith("Z")
    assert headers["x-ssl-client-not-after"].endswith("Z")


def test_ssl_l7_rules_plain_and_inverted(tls_topology: TlsTopology, deployed: Driver):
    def answer(cert: str | None) -> str:
        opts: dict[str, Any] = (
            {"cert": str(tls_topology.dir / f"client-{cert}.pem")} if cert else {})
        result = tls_topology.https(9443, **opts)
        assert result["ok"] and result["status"] == 302, result
        return str(result["headers"]["location"])

    # No certificate: SSL_CONN_HAS_CERT inverted.
    assert answer(None) == "http://nocert.tc.test/"
    # SSL_DN_FIELD CN EQUAL_TO.
    assert answer("a") == "http://client-a.tc.test/"
    # SSL_DN_FIELD O inverted and SSL_VERIFY_RESULT 0.
    assert answer("b") == "http://other-org.tc.test/"
    # SSL_CONN_HAS_CERT, SSL_VERIFY_RESULT 20 inverted, SSL_DN_FIELD CN REGEX.
    assert answer("c") == "http://has-cert.tc.test/"


# ------------------------------------------------------------------ re-encryption


def test_reencryption_verifies_members_against_the_pool_ca(tls_topology: TlsTopology,
                                                           deployed: Driver):
    def members() -> dict[str, Any]:
        stats: dict[str, Any] = deployed.driver.get_stats(LB_ID)["members"]
        return stats

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
            members().get("tc-m-good", {}).get("status") != "ACTIVE"
            or members().get("tc-m-bad", {}).get("status") != "INACTIVE"):
        time.sleep(0.2)
    # Checks over TLS with the same verification: the good member up, the other down.
    assert members()["tc-m-good"]["status"] == "ACTIVE"
    assert members()["tc-m-bad"]["status"] == "INACTIVE"
    good = tls_topology.in_client("curl", "-sS", f"http://{VIP_ADDRESS}:80/")
    assert json.loads(good.stdout)["name"] == "tcbe2", good.stdout + good.stderr
    bad = tls_topology.in_client("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://{VIP_ADDRESS}:81/")
    assert bad.stdout == "503"


# ------------------------------------------------------------------ files, rotation


def certs_dir(driver: Driver) -> Path:
    return driver.state_path / LB_ID / "certs"


def test_certificate_files_are_0600_and_only_what_the_config_names(deployed: Driver):
    certs = certs_dir(deployed)
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    names = sorted(p.name for p in certs.iterdir())
    conf = (deployed.state_path / LB_ID / "conf").read_text()
    for name in names:
        path = certs / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == 0
        assert name in conf or any(name in (certs / c).read_text()
                                   for c in names if c.endswith(".crtlist"))
    view = json.loads((deployed.state_path / LB_ID / "view.json").read_text())
    assert sorted(view["tls_files"]) == names
    assert "PRIVATE KEY" not in json.dumps(view)


def test_rotation_under_load_drops_nothing_and_serves_the_new_certificate(
        tls_topology: TlsTopology, deployed: Driver):
    before = tls_topology.https(443)
    old_files = {p.name for p in certs_dir(deployed).iterdir()}
    new_leaf = tls_topology.ca.issue("www.tc.test", ("www.tc.test",))
    loop = tls_topology.client_loop(443, seconds=6)
    kept = tls_topology.client_loop(443, seconds=6, keepalive=True)
    time.sleep(2)
    # Same container id, new certificate and key.
    deployed.deploy(make_lb(tls_topology, tls_certificate("tc-c-www", new_leaf)))
    out, err = loop.communicate(timeout=60)
    result = json.loads(out)
    assert result["failures"] == 0, result
    kept_out, _ = kept.communicate(timeout=60)
    kept_result = json.loads(kept_out)
    # Kept connections: none failed; the old process closes them at most once each
    # (then the client goes on over a new connection, to the new certificate).
    assert kept_result["failures"] == 0, kept_result
    assert kept_result["closed"] <= 1, kept_result
    assert len(kept_result["seen"]) == 2, kept_result
    print("new connections:", result["requests"], "kept:", kept_result["requests"],
          "closed under a request:", kept_result["closed"])
    after = tls_topology.https(443)
    assert after["sha256"] != before["sha256"]
    assert set(result["seen"]) == {before["sha256"], after["sha256"]}, result
    assert result["requests"] > 20
    new_files = {p.name for p in certs_dir(deployed).iterdir()}
    # The old certificate's file is gone, the new one's took its place.
    assert len([n for n in old_files - new_files if n.startswith("tc-c-www-")]) == 1
    assert len([n for n in new_files - old_files if n.startswith("tc-c-www-")]) == 1


def test_undeploy_removes_every_certificate(tls_topology: TlsTopology, tmp_path: Path):
    with tls_driver(tmp_path / "state") as driver:
        lb = make_lb(tls_topology).model_copy(update={"id": "tc-lb-0002bbbb",
                                                      "vip_port": vip_port("tc-lb-0002bbbb"),
                                                      "vip_address": "10.98.90.20"})
        lb = lb.model_copy(update={"vip_port": lb.vip_port.model_copy(update={
            "mac_address": "fa:16:3e:98:90:20",
            "fixed_ips": [lb.vip_port.fixed_ips[0].model_copy(
                update={"ip_address": "10.98.90.20"})]})})
        driver.deploy(lb)
        certs = tmp_path / "state" / lb.id / "certs"
        assert any(certs.iterdir())
        driver.driver.undeploy_instance(lb.id)
        assert not (tmp_path / "state" / lb.id).exists()
        assert not Path(f"/run/netns/{NS_PREFIX}{lb.id}").exists()
