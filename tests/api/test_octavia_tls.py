"""Octavia's TLS over the key manager (docs/tls.md): TERMINATED_HTTPS listeners and TLS
pools whose refs are certificate containers or PKCS#12 secrets, Octavia's validation and
defaults, the certificates the agent's device carries, and what a certificate change or
a delete of a secret in use does."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.api.test_octavia import Octavia, octavia  # noqa: F401
from tests.helpers.server import Api

KM = "/key-manager/v1"
NOW = dt.datetime.now(dt.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject_cn: str, key: Any, issuer: tuple[x509.Name, Any] | None = None, *,
          sans: tuple[str, ...] = (), ca: bool = False, days: int = 30,
          start_days: int = -1) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    issuer_name, issuer_key = issuer or (name, key)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + dt.timedelta(days=start_days))
               .not_valid_after(NOW + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True))
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(obj: Any) -> str:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM).decode()
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@dataclass
class Material:
    ca_key: Any
    ca: x509.Certificate
    inter_key: Any
    inter: x509.Certificate
    key: Any
    leaf: x509.Certificate
    other_key: Any
    expired: x509.Certificate
    crl: x509.CertificateRevocationList


@pytest.fixture(scope="module")
def material() -> Material:
    ca_key, inter_key, key, other_key = _key(), _key(), _key(), _key()
    ca = _cert("Test Root CA", ca_key, ca=True, days=3650)
    inter = _cert("Test Intermediate", inter_key, (ca.subject, ca_key), ca=True)
    leaf = _cert("www.example.com", key, (inter.subject, inter_key),
                 sans=("www.example.com", "api.example.com"))
    expired = _cert("old.example.com", key, (ca.subject, ca_key), days=-1, start_days=-30)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
           .last_update(NOW - dt.timedelta(days=1)).next_update(NOW + dt.timedelta(days=7))
           .sign(ca_key, hashes.SHA256()))
    return Material(ca_key, ca, inter_key, inter, key, leaf, other_key, expired, crl)


class KeyManager:
    def __init__(self, api: Api) -> None:
        self.api = api

    def secret(self, payload: str | bytes, name: str = "s") -> str:
        if isinstance(payload, bytes):
            body = {"payload": base64.b64encode(payload).decode(),
                    "payload_content_type": "application/octet-stream",
                    "payload_content_encoding": "base64"}
        else:
            body = {"payload": payload, "payload_content_type": "text/plain"}
        resp = self.api.post(f"{KM}/secrets", {"name": name, **body})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["secret_ref"])

    def container(self, type_: str = "certificate", **secrets: str) -> str:
        resp = self.api.post(f"{KM}/containers", {"type": type_, "secret_refs": [
            {"name": name, "secret_ref": ref} for name, ref in secrets.items()]})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["container_ref"])

    def certificate(self, cert: x509.Certificate, key: Any, *,
                    intermediates: list[x509.Certificate] | None = None,
                    passphrase: bytes | None = None) -> str:
        refs = {"certificate": self.secret(pem(cert))}
        if passphrase:
            refs["private_key"] = self.secret(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(passphrase)).decode())
            refs["private_key_passphrase"] = self.secret(passphrase.decode())
        else:
            refs["private_key"] = self.secret(pem(key))
        if intermediates:
            refs["intermediates"] = self.secret("".join(pem(c) for c in intermediates))
        return self.container(**refs)


@pytest.fixture
def km(api: Api) -> KeyManager:
    return KeyManager(api)


def uuid_of(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def tls_listener(octavia: Octavia, lb_id: str, **attrs: Any) -> Any:  # noqa: F811
    return octavia.request("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        **attrs}})


def device_listener(octavia: Octavia, lb_id: str) -> dict[str, Any]:  # noqa: F811
    device = octavia.agent.typed_logical_device(lb_id)
    (listener,) = [li for li in device["loadbalancer"]["listeners"]
                   if li["protocol"] == "TERMINATED_HTTPS"]
    return dict(listener)


def test_a_terminated_https_listener_gets_octavias_defaults_and_its_certificates(
        octavia: Octavia, km: KeyManager, material: Material) -> None:  # noqa: F811
    lb = octavia.active_lb()
    default = km.certificate(material.leaf, material.key, intermediates=[material.inter])
    sni = km.certificate(material.expired, material.key, passphrase=b"open sesame")
    ca, crl = km.secret(pem(material.ca)), km.secret(
        material.crl.public_bytes(serialization.Encoding.PEM).decode())
    resp = tls_listener(octavia, lb["id"], default_tls_container_ref=default,
                        sni_container_refs=[sni], client_authentication="OPTIONAL",
                        client_ca_tls_container_ref=ca, client_crl_container_ref=crl,
                        hsts_max_age=31536000, hsts_include_subdomains=True,
                        insert_headers={"X-SSL-Client-CN": "true",
                                        "X-Forwarded-For": "true"})
    assert resp.status_code == 201, resp.text
    listener = resp.json()["listener"]
    assert listener["default_tls_container_ref"] == default
    assert listener["sni_container_refs"] == [sni]
    assert listener["client_authentication"] == "OPTIONAL"
    assert listener["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert listener["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert listener["tls_ciphers"].startswith("TLS_AES_256_GCM_SHA384:")
    assert listener["hsts_max_age"] == 31536000 and listener["hsts_include_subdomains"]
    assert listener["hsts_preload"] is False

    device = device_listener(octavia, lb["id"])
    cert = device["default_tls_container"]
    assert cert["id"] == uuid_of(default)
    assert cert["certificate"] == pem(material.leaf)
    assert cert["private_key"] == pem(material.key)
    assert cert["intermediates"] == [pem(material.inter)]
    assert cert["names"] == ["www.example.com", "api.example.com"]
    # The passphrase is gone from the key the agent gets; an expired certificate is
    # served, as Octavia serves it.
    (sni_cert,) = device["sni_containers"]
    assert sni_cert["private_key"] == pem(material.key)
    assert sni_cert["names"] == ["old.example.com"]
    assert device["client_ca_tls_container"] == pem(material.ca)
    assert "BEGIN X509 CRL" in device["client_crl_container"]
    assert device["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert device["hsts_max_age"] == 31536000
    assert device["insert_headers"]["X-SSL-Client-CN"] == "true"


def test_a_pkcs12_secret_is_a_certificate_ref(octavia: Octavia, km: KeyManager,  # noqa: F811
                                              material: Material) -> None:
    lb = octavia.active_lb()
    bundle = pkcs12.serialize_key_and_certificates(
        b"web", material.key, material.leaf, [material.inter],
        serialization.NoEncryption())
    # Octavia's documented form: the DER bundle stored as a binary secret...
    raw = km.secret(bundle)
    # ...and its base64 text stored as a text secret works too.
    text = km.secret(base64.b64encode(bundle).decode())
    resp = tls_listener(octavia, lb["id"], default_tls_container_ref=raw,
                        sni_container_refs=[text])
    assert resp.status_code == 201, resp.text
    device = device_listener(octavia, lb["id"])
    assert device["default_tls_container"]["certificate"] == pem(material.leaf)
    assert device["default_tls_container"]["intermediates"] == [pem(material.inter)]
    assert device["sni_containers"][0]["private_key"] == pem(material.key)


def test_bad_refs_are_400s_naming_the_ref(octavia: Octavia, km: KeyManager,  # noqa: F811
                                          material: Material, api: Api,
                                          project: str) -> None:
    lb = octavia.active_lb()
    mismatched = km.certificate(material.leaf, material.other_key)
    wrong_pass = km.container(
        certificate=km.secret(pem(material.leaf)),
        private_key=km.secret(material.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right")).decode()),
        private_key_passphrase=km.secret("wrong"))
    no_pass = km.container(
        certificate=km.secret(pem(material.leaf)),
        private_key=km.secret(material.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right")).decode()))
    generic = km.container("generic", certificate=km.secret(pem(material.leaf)))
    not_a_cert = km.container(certificate=km.secret("hello"),
                              private_key=km.secret(pem(material.key)))
    not_p12 = km.secret("just text")
    missing = f"{octavia.api.base_url}{KM}/containers/00000000-0000-4000-8000-000000000000"
    theirs = KeyManager(api.as_(project=project + "-other")).certificate(
        material.leaf, material.key)
    cases = {mismatched: "does not match", wrong_pass: "can't be decrypted",
             no_pass: "no private_key_passphrase", generic: "not a certificate container",
             not_a_cert: "not an X.509 certificate", not_p12: "not a PKCS#12",
             missing: "no such container", theirs: "no such container",
             "https://example.com/nothing": "not a key manager"}
    for ref, words in cases.items():
        fault = octavia.fault(tls_listener(octavia, lb["id"],
                                           default_tls_container_ref=ref), 400)
        assert fault.startswith(f"Could not retrieve certificate: ['{ref}']"), fault
        assert words in fault, fault
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"


def test_a_crl_must_come_from_the_client_ca(octavia: Octavia, km: KeyManager,  # noqa: F811
                                            material: Material) -> None:
    lb = octavia.active_lb()
    cert = km.certificate(material.leaf, material.key)
    other_ca = km.secret(pem(material.inter))
    crl = km.secret(material.crl.public_bytes(serialization.Encoding.PEM).decode())
    fault = octavia.fault(tls_listener(
        octavia, lb["id"], default_tls_container_ref=cert, client_authentication="MANDATORY",
        client_ca_tls_container_ref=other_ca, client_crl_container_ref=crl), 400)
    assert fault.startswith("The CRL specified is not valid") and crl in fault


@pytest.mark.parametrize("attrs, words", [
    ({}, "An SNI or default certificate container reference must be provided"),
    ({"client_authentication": "MANDATORY"}, "requires a client CA container reference"),
    ({"client_crl_container_ref": "CRL"}, "A client authentication CA reference is "
                                          "required"),
    ({"tls_versions": ["TLSv1.4"]}, "Invalid TLS versions: TLSv1.4"),
    ({"tls_versions": []}, "Empty TLS version list"),
    ({"tls_versions": ["TLSv1.2", "TLSv1.2"]}, "distinct"),
    ({"alpn_protocols": ["h3"]}, "Invalid ALPN protocol: h3"),
    ({"alpn_protocols": []}, "Empty ALPN protocol list"),
    ({"tls_ciphers": "ECDHE RSA"}, "OpenSSL cipher string"),
    ({"tls_ciphers": "A'B"}, "OpenSSL cipher string"),
    ({"hsts_preload": True}, "only make sense if hsts_max_age is set"),
    ({"hsts_max_age": -1}, "hsts_max_age"),
    ({"client_authentication": "SOMETIMES"}, "client_authentication"),
])
def test_octavias_rules_for_terminated_https(octavia: Octavia, km: KeyManager,  # noqa: F811
                                             material: Material, attrs: dict[str, Any],
                                             words: str) -> None:
    lb = octavia.active_lb()
    if attrs:
        attrs = {"default_tls_container_ref": km.certificate(material.leaf, material.key),
                 **attrs}
    fault = octavia.fault(tls_listener(octavia, lb["id"], **attrs), 400)
    assert words in fault, fault


@pytest.mark.parametrize("attrs, words", [
    ({"default_tls_container_ref": "REF"}, "only allowed on TERMINATED_HTTPS"),
    ({"sni_container_refs": ["REF"]}, "only allowed on TERMINATED_HTTPS"),
    ({"tls_versions": ["TLSv1.2"]}, "only valid on TERMINATED_HTTPS"),
    ({"hsts_max_age": 10}, "The HSTS feature can only be used for listeners using the "
                           "TERMINATED_HTTPS protocol."),
    ({"insert_headers": {"X-SSL-Client-DN": "true"}}, "only valid for TERMINATED_HTTPS"),
])
def test_tls_fields_on_an_http_listener_are_400s(octavia: Octavia,  # noqa: F811
                                                 attrs: dict[str, Any], words: str) -> None:
    lb = octavia.active_lb()
    resp = octavia.request("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80, **attrs}})
    assert words in octavia.fault(resp, 400)


def test_a_certificate_change_reaches_the_agent_and_secrets_in_use_stay(
        octavia: Octavia, km: KeyManager, material: Material) -> None:  # noqa: F811
    lb = octavia.active_lb()
    first = km.certificate(material.leaf, material.key)
    listener = tls_listener(octavia, lb["id"], default_tls_container_ref=first).json()[
        "listener"]
    octavia.deploy(lb["id"])
    revision = octavia.agent.typed_logical_device(lb["id"])["revision"]
    second = km.certificate(material.expired, material.key)
    updated = octavia.ok("PUT", f"/listeners/{listener['id']}", {"listener": {
        "default_tls_container_ref": second}})["listener"]
    assert updated["default_tls_container_ref"] == second
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    device = octavia.agent.typed_logical_device(lb["id"])
    assert device["revision"] > revision and lb["id"] in octavia.agent.ready_devices()
    assert device_listener(octavia, lb["id"])["default_tls_container"]["id"] == \
        uuid_of(second)
    octavia.deploy(lb["id"])
    # An update is checked as a create is.
    fault = octavia.fault(octavia.request("PUT", f"/listeners/{listener['id']}", {
        "listener": {"default_tls_container_ref": km.certificate(
            material.leaf, material.other_key)}}), 400)
    assert "does not match" in fault
    fault = octavia.fault(octavia.request("PUT", f"/listeners/{listener['id']}", {
        "listener": {"default_tls_container_ref": None}}), 400)
    assert "An SNI or default certificate" in fault
    # The container and the secrets it holds are in use: deleting them is refused
    # with the user's name, until the listener lets go.
    resp = octavia.api.delete(f"{KM}/containers/{uuid_of(second)}")
    assert resp.status_code == 409 and f"listener {listener['id']}" in \
        resp.json()["description"]
    assert octavia.api.delete(f"{KM}/containers/{uuid_of(first)}").status_code == 204
    octavia.ok("DELETE", f"/listeners/{listener['id']}", status=204)
    octavia.deploy(lb["id"])
    assert octavia.api.delete(f"{KM}/containers/{uuid_of(second)}").status_code == 204


def test_pool_reencryption(octavia: Octavia, km: KeyManager,  # noqa: F811
                           material: Material) -> None:
    lb = octavia.active_lb()
    client = km.certificate(material.leaf, material.key)
    ca = km.secret(pem(material.ca))
    pool = octavia.ok("POST", "/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "tls_container_ref": client, "ca_tls_container_ref": ca}},
        201)["pool"]
    assert pool["tls_enabled"] is True and pool["tls_container_ref"] == client
    assert pool["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert pool["alpn_protocols"] == ["http/1.1", "http/1.0"]
    device = octavia.agent.typed_logical_device(lb["id"])
    (dpool,) = device["loadbalancer"]["pools"]
    assert dpool["tls_enabled"] and dpool["tls_container"]["id"] == uuid_of(client)
    assert dpool["ca_tls_container"] == pem(material.ca)
    octavia.deploy(lb["id"])
    fault = octavia.fault(octavia.request("PUT", f"/pools/{pool['id']}", {"pool": {
        "crl_container_ref": ca, "ca_tls_container_ref": None}}), 400)
    assert "A CA reference is required" in fault
    plain = octavia.ok("PUT", f"/pools/{pool['id']}", {"pool": {
        "tls_enabled": False, "tls_container_ref": None, "ca_tls_container_ref": None}})
    assert plain["pool"]["tls_enabled"] is False
    octavia.deploy(lb["id"])
    assert octavia.agent.typed_logical_device(lb["id"])["loadbalancer"]["pools"][0][
        "tls_enabled"] is False


def test_a_terminated_https_listener_takes_only_http_pools(
        octavia: Octavia, km: KeyManager, material: Material) -> None:  # noqa: F811
    lb = octavia.active_lb()
    pool = octavia.ok("POST", "/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}},
        201)["pool"]
    octavia.deploy(lb["id"])
    fault = octavia.fault(tls_listener(
        octavia, lb["id"], default_tls_container_ref=km.certificate(material.leaf,
                                                                    material.key),
        default_pool_id=pool["id"]), 400)
    assert "The pool protocol 'TCP' is invalid" in fault


def test_single_call_create_checks_the_refs(octavia: Octavia, km: KeyManager,  # noqa: F811
                                            material: Material) -> None:
    good = km.certificate(material.leaf, material.key)
    lb = octavia.create_lb(listeners=[{
        "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": good,
        "default_pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}])
    listener = octavia.show("listener", lb["listeners"][0]["id"])
    assert listener["default_tls_container_ref"] == good
    bad = km.certificate(material.leaf, material.other_key)
    resp = octavia.request("POST", "/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": octavia.subnet["id"], "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": bad}]}})
    assert "does not match" in octavia.fault(resp, 400)


def test_only_agents_read_the_device(backend: str, server_factory: Any) -> None:
    srv = server_factory(backend, auth_strategy="token", tokens=[
        ("member", "p1", "member"), ("agent", "services", "agent")])
    with Api(srv.url, token="member") as member, Api(srv.url, token="agent") as agent:
        resp = member.get("/agent/v2/logical_devices/00000000-0000-4000-8000-000000000000")
        assert resp.status_code == 403
        resp = agent.get("/agent/v2/logical_devices/00000000-0000-4000-8000-000000000000")
        assert resp.status_code == 404
    srv.cleanup()


def test_client_certificate_l7_rules_on_terminated_https(
        octavia: Octavia, km: KeyManager, material: Material) -> None:  # noqa: F811
    lb = octavia.active_lb()
    listener = tls_listener(
        octavia, lb["id"], default_tls_container_ref=km.certificate(material.leaf,
                                                                    material.key),
        client_authentication="OPTIONAL",
        client_ca_tls_container_ref=km.secret(pem(material.ca))).json()["listener"]
    octavia.deploy(lb["id"])
    policy = octavia.ok("POST", "/l7policies", {"l7policy": {
        "listener_id": listener["id"], "action": "REJECT"}}, 201)["l7policy"]
    octavia.deploy(lb["id"])
    rules = f"/l7policies/{policy['id']}/rules"
    for body in ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True",
                  "invert": True},
                 {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0",
                  "invert": True},
                 {"type": "SSL_DN_FIELD", "compare_type": "STARTS_WITH", "key": "OU",
                  "value": "ops"}):
        rule = octavia.ok("POST", rules, {"rule": body}, 201)["rule"]
        assert rule["type"] == body["type"]
        octavia.deploy(lb["id"])
    device = device_listener(octavia, lb["id"])
    assert [r["type"] for r in device["l7policies"][0]["rules"]] == [
        "SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "SSL_DN_FIELD"]

    def bad(body: dict[str, Any]) -> str:
        return octavia.fault(octavia.request("POST", rules, {"rule": body}), 400)

    assert "must be True" in bad({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO",
                                  "value": "yes"})
    assert "EQUAL_TO" in bad({"type": "SSL_CONN_HAS_CERT", "compare_type": "REGEX",
                              "value": "True"})
    assert "verify result" in bad({"type": "SSL_VERIFY_RESULT",
                                   "compare_type": "EQUAL_TO", "value": "-1"})
    assert "key is not a valid option" in bad({"type": "SSL_VERIFY_RESULT", "key": "x",
                                               "compare_type": "EQUAL_TO", "value": "0"})
    assert "key must not be None" in bad({"type": "SSL_DN_FIELD",
                                          "compare_type": "EQUAL_TO", "value": "x"})
    assert "Distinguished Name" in bad({"type": "SSL_DN_FIELD", "key": "C N",
                                        "compare_type": "EQUAL_TO", "value": "x"})


def test_client_certificate_l7_rules_need_terminated_https(
        octavia: Octavia) -> None:  # noqa: F811
    lb = octavia.active_lb(listeners=[{"protocol": "HTTP", "protocol_port": 80}])
    octavia.deploy(lb["id"])
    policy = octavia.ok("POST", "/l7policies", {"l7policy": {
        "listener_id": lb["listeners"][0]["id"], "action": "REJECT"}}, 201)["l7policy"]
    octavia.deploy(lb["id"])
    fault = octavia.fault(octavia.request("POST", f"/l7policies/{policy['id']}/rules", {
        "rule": {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO",
                 "value": "True"}}), 400)
    assert "only allowed on TERMINATED_HTTPS listeners" in fault


def test_a_certificate_that_no_longer_decrypts_is_left_out_not_a_500(
        backend: str, server_factory: Any, material: Material) -> None:
    """The server's key changed under stored secrets: the agent still gets the device,
    without that certificate (the renderer then refuses the listener), and the server's
    log names the ref; the payload fetch says what happened."""
    from tests.api.builders import FakeAgent, make_network, make_subnet

    first = base64.urlsafe_b64encode(b"1" * 32).decode()
    srv = server_factory(backend, conf={"key_manager": {"encryption_key": first}})
    with Api(srv.url, project="p1") as api:
        agent = FakeAgent(api, ["phys-tls"]).register()
        net = make_network(api, **{"provider:physical_network": "phys-tls"})
        subnet = make_subnet(api, net["id"], cidr="10.61.0.0/24")
        lb_octavia = Octavia(api, agent, subnet)
        lb = lb_octavia.active_lb()
        ref = KeyManager(api).certificate(material.leaf, material.key)
        assert tls_listener(lb_octavia, lb["id"],
                            default_tls_container_ref=ref).status_code == 201
    srv.conf["key_manager"]["encryption_key"] = base64.urlsafe_b64encode(b"2" * 32).decode()
    srv._write_config()
    srv.restart()
    with Api(srv.url, project="p1") as api:
        agent = FakeAgent(api, ["phys-tls"])
        device = agent.typed_logical_device(lb["id"])
        (listener,) = device["loadbalancer"]["listeners"]
        assert listener["default_tls_container"] is None
        container = api.get(f"{KM}/containers/{uuid_of(ref)}").json()
        cert_id = uuid_of(container["secret_refs"][0]["secret_ref"])
        resp = api.get(f"{KM}/secrets/{cert_id}/payload")
        assert resp.status_code == 500 and "another encryption key" in \
            resp.json()["description"]
    assert f"certificate {ref} left out of the device" in srv.log_tail(20000)
    srv.cleanup()
