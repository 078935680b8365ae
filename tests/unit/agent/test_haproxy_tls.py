"""TLS in the HAProxy view model and its files: TERMINATED_HTTPS listeners, the SSL_*
L7 rules, re-encryption to tls_enabled pools, and how the driver keeps the PEM files
(docs/architecture.md, "TLS"). Rendered configurations are checked by ``haproxy -c``
with their files written, as the driver writes them."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import cfg, namespace_driver
from lbaas.common import logical_device as ld
from tests.helpers.tls_material import Authority

CA = Authority("tc unit CA")
OTHER_CA = Authority("tc unit other CA")
LEAFS = {n: CA.issue(n, (n,)) for n in ("www.tc.test", "one.tc.test", "two.tc.test")}
CLIENT_CA = CA.pem
CRL = CA.crl()


def cert(cid: str, name: str) -> ld.TlsCertificate:
    leaf = LEAFS[name]
    return ld.TlsCertificate(id=cid, certificate=leaf.certificate,
                             private_key=leaf.private_key, names=[name])


def listener(**kwargs: Any) -> ld.Listener:
    fields: dict[str, Any] = {
        "id": "tc-listener", "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_pool_id": "tc-pool", "default_tls_container": cert("c-www", "www.tc.test")}
    return ld.Listener(**{**fields, **kwargs})


def pool(**kwargs: Any) -> ld.Pool:
    fields: dict[str, Any] = {
        "id": "tc-pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [ld.Member(id="tc-m1", address="10.98.90.11", protocol_port=8443)]}
    return ld.Pool(**{**fields, **kwargs})


def loadbalancer(li: ld.Listener | None = None, po: ld.Pool | None = None) -> ld.LoadBalancer:
    port = ld.Port(id="tc-port", network_id="tc-net", mac_address="fa:16:3e:98:90:10",
                   network=ld.Network.model_validate({"id": "tc-net"}))
    return ld.LoadBalancer(id="tc-lb", vip_address="10.98.90.10", vip_port=port,
                           listeners=[li or listener()], pools=[po or pool()])


def build(lb: ld.LoadBalancer, certs: Path | str = "/run/tc/certs",
          ) -> tuple[cfg.ConfigView, cfg.TlsFiles]:
    files = cfg.TlsFiles(str(certs))
    paths = cfg.StatePaths("/run/tc/sock", "/run/tc/state", str(certs))
    return cfg.build_view(lb, paths, "nogroup", 30, tls_files=files), files


def frontend_lines(view: cfg.ConfigView) -> list[str]:
    text = cfg.render(view)
    block = text.split("frontend ", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines()[1:]]


def bind_words(view: cfg.ConfigView) -> list[str]:
    line = next(li for li in frontend_lines(view) if li.startswith("bind "))
    return line.split()


def server_words(view: cfg.ConfigView) -> list[str]:
    return next(li for li in cfg.render(view).splitlines()
                if li.strip().startswith("server ")).split()


@pytest.fixture
def haproxy_c(tmp_path: Path):
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")

    def check(lb: ld.LoadBalancer) -> str:
        certs = tmp_path / "certs"
        view, files = build(lb, certs)
        namespace_driver._write_tls_files(certs, files.files)
        conf = tmp_path / "conf"
        conf.write_text(cfg.render(view))
        result = subprocess.run(["haproxy", "-c", "-f", str(conf)], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    return check


# ------------------------------------------------------------------ the listener


def test_crt_list_has_the_default_certificate_first_then_sni_ones_with_their_names():
    view, files = build(loadbalancer(listener(sni_containers=[
        cert("c-one", "one.tc.test"), cert("c-two", "two.tc.test"),
        # The default one again among the SNI ones: listed once.
        cert("c-www", "www.tc.test")])))
    words = bind_words(view)
    assert words[:4] == ["bind", "10.98.90.10:443", "ssl", "crt-list"]
    crt_list = files.files[Path(words[4]).name]
    rows = [line.split() for line in crt_list.splitlines()]
    assert [Path(r[0]).name.split("-")[1] for r in rows] == ["www", "one", "two"]
    assert [r[1:] for r in rows] == [[], ["one.tc.test"], ["two.tc.test"]]
    assert frontend_lines(view)[0] == "mode http"


def test_certificate_file_is_certificate_intermediates_and_key_and_named_by_content():
    intermediate = CA.pem
    c = cert("c-www", "www.tc.test").model_copy(update={"intermediates": [intermediate]})
    view, files = build(loadbalancer(listener(default_tls_container=c)))
    (name,) = [n for n in files.files if n.startswith("c-www-")]
    assert files.files[name] == (LEAFS["www.tc.test"].certificate + intermediate
                                 + LEAFS["www.tc.test"].private_key)
    assert name in view.tls_files
    # A new key under the same id is a new file name: the configuration text changes,
    # so the driver reloads instead of leaving HAProxy with the old certificate.
    other = CA.issue("www.tc.test", ("www.tc.test",))
    rotated = c.model_copy(update={"certificate": other.certificate,
                                   "private_key": other.private_key})
    view2, files2 = build(loadbalancer(listener(default_tls_container=rotated)))
    assert cfg.render(view2) != cfg.render(view)
    assert not cfg.runtime_only_difference(view, view2)


def test_the_view_never_holds_key_material():
    view, files = build(loadbalancer(listener(sni_containers=[cert("c-one", "one.tc.test")])))
    dumped = json.dumps(cfg.view_to_dict(view))
    assert "PRIVATE KEY" not in dumped and "BEGIN CERTIFICATE" not in dumped
    assert cfg.view_from_dict(json.loads(dumped)) == view
    assert "PRIVATE KEY" not in repr(listener())


@pytest.mark.parametrize(("versions", "expected"), [
    (["TLSv1.3"], ["ssl-min-ver", "TLSv1.3", "ssl-max-ver", "TLSv1.3"]),
    (["TLSv1.2", "TLSv1.3"], ["ssl-min-ver", "TLSv1.2", "ssl-max-ver", "TLSv1.3"]),
    (["TLSv1", "TLSv1.2"], ["ssl-min-ver", "TLSv1.0", "ssl-max-ver", "TLSv1.2",
                            "no-tlsv11"]),
    ([], []),
])
def test_versions(versions, expected, haproxy_c):
    lb = loadbalancer(listener(tls_versions=versions))
    words = bind_words(build(lb)[0])
    assert words[5:] == expected
    haproxy_c(lb)


def test_ciphers_split_into_tls12_ciphers_and_tls13_suites_and_alpn(haproxy_c):
    lb = loadbalancer(listener(
        tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                    "TLS_AES_128_GCM_SHA256",
        alpn_protocols=["h2", "http/1.1"]))
    words = bind_words(build(lb)[0])
    assert words[5:] == ["ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
                         "ciphersuites", "TLS_AES_128_GCM_SHA256", "alpn", "h2,http/1.1"]
    haproxy_c(lb)


@pytest.mark.parametrize(("change", "message"), [
    ({"tls_versions": ["TLSv1.4"]}, "tls_versions"),
    ({"tls_versions": ["TLSv1.2", "TLSv1.2"]}, "tls_versions"),
    ({"alpn_protocols": ["h3"]}, "alpn_protocols"),
    ({"alpn_protocols": ["h2 ssl crt /etc/passwd"]}, "alpn_protocols"),
    ({"tls_ciphers": "HIGH #comment"}, "tls_ciphers"),
    ({"tls_ciphers": "HIGH\n    bind :1"}, "tls_ciphers"),
    ({"tls_ciphers": "HIGH,LOW"}, "tls_ciphers"),
    ({"hsts_max_age": -1}, "hsts_max_age"),
    ({"default_tls_container": None}, "default certificate"),
    ({"client_authentication": "MANDATORY"}, "needs a CA"),
    ({"sni_containers": [ld.TlsCertificate(id="c-x", certificate=LEAFS["one.tc.test"]
                                           .certificate, private_key=LEAFS["one.tc.test"]
                                           .private_key, names=["a.test !b.test"])]},
     "host name"),
    ({"sni_containers": [ld.TlsCertificate(id="../x", certificate="x", private_key="y")]},
     "usable HAProxy name"),
])
def test_bad_listener_values_are_refused_at_render(change, message):
    with pytest.raises(cfg.ConfigError, match=message):
        build(loadbalancer(listener(**change)))


def test_a_bad_pem_is_refused_without_quoting_it():
    key = LEAFS["www.tc.test"].private_key
    bad = ld.TlsCertificate(id="c-bad", certificate=LEAFS["www.tc.test"].certificate,
                            private_key=key + "\nglobal\n    lua-load /tmp/x.lua\n")
    with pytest.raises(cfg.ConfigError) as info:
        build(loadbalancer(listener(default_tls_container=bad)))
    assert "PRIVATE" in str(info.value) and "MII" not in str(info.value)
    swapped = ld.TlsCertificate(id="c-bad", certificate=key, private_key=key)
    with pytest.raises(cfg.ConfigError, match="certificate c-bad is not PEM"):
        build(loadbalancer(listener(default_tls_container=swapped)))


@pytest.mark.parametrize(("auth", "verify"), [("OPTIONAL", "optional"),
                                              ("MANDATORY", "required")])
def test_client_authentication(auth, verify, haproxy_c):
    lb = loadbalancer(listener(client_authentication=auth, client_ca_tls_container=CLIENT_CA,
                               client_crl_container=CRL))
    view, files = build(lb)
    words = bind_words(view)
    i = words.index("verify")
    assert words[i:i + 3] == ["verify", verify, "ca-file"]
    assert files.files[Path(words[i + 3]).name] == CLIENT_CA
    assert words[i + 4] == "crl-file" and files.files[Path(words[i + 5]).name] == CRL
    haproxy_c(lb)


def test_no_client_authentication_renders_no_verify():
    words = bind_words(build(loadbalancer(listener(client_ca_tls_container=CLIENT_CA)))[0])
    assert "verify" not in words and "ca-file" not in words


def test_hsts_and_ssl_client_headers(haproxy_c):
    headers = {name: "true" for name in cfg.SSL_CLIENT_HEADERS}
    lb = loadbalancer(listener(hsts_max_age=31536000, hsts_include_subdomains=True,
                               hsts_preload=True,
                               insert_headers={**headers, "X-Forwarded-Proto": "true",
                                               "X-Unknown": "true"}))
    fe = frontend_lines(build(lb)[0])
    assert ('http-response set-header Strict-Transport-Security '
            '"max-age=31536000; includeSubDomains; preload"') in fe
    assert "http-request set-header X-Forwarded-Proto https" in fe
    assert "http-request set-header X-SSL-Client-Verify %[ssl_c_verify]" in fe
    assert "http-request set-header X-SSL-Client-CN %[ssl_c_s_dn(cn)]" in fe
    assert "http-request set-header X-SSL-Client-SHA1 %[ssl_c_sha1,hex]" in fe
    assert not any("X-Unknown" in line for line in fe)
    haproxy_c(lb)
    plain = frontend_lines(build(loadbalancer(listener(hsts_max_age=10)))[0])
    assert 'http-response set-header Strict-Transport-Security "max-age=10"' in plain


def test_plain_http_listener_renders_no_tls():
    li = ld.Listener(id="tc-listener", protocol="HTTP", protocol_port=80,
                     default_pool_id="tc-pool", hsts_max_age=100,
                     insert_headers={"X-SSL-Client-Verify": "true"})
    fe = frontend_lines(build(loadbalancer(li))[0])
    assert "bind 10.98.90.10:80" in fe
    assert not any("ssl" in line.lower() or "Strict" in line for line in fe)


# ------------------------------------------------------------------ L7 rules


def rules_policy(*rules: ld.L7Rule) -> ld.L7Policy:
    return ld.L7Policy(id="tc-policy", action="REJECT", position=1, rules=list(rules))


def test_ssl_rules_render_the_client_certificate_fetches(haproxy_c):
    rules = [
        ld.L7Rule(id="r-has", type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO",
                  value="True", invert=True),
        ld.L7Rule(id="r-verify", type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO",
                  value="0"),
        ld.L7Rule(id="r-dn", type="SSL_DN_FIELD", compare_type="STARTS_WITH", key="CN",
                  value="client", invert=True),
        ld.L7Rule(id="r-dnre", type="SSL_DN_FIELD", compare_type="REGEX", key="O",
                  value="^tc [a-z]+$"),
    ]
    lb = loadbalancer(listener(l7policies=[rules_policy(*rules)],
                               client_authentication="OPTIONAL",
                               client_ca_tls_container=CLIENT_CA))
    fe = frontend_lines(build(lb)[0])
    assert "acl r-has ssl_c_used" in fe
    assert "acl r-verify ssl_c_verify -m int eq 0" in fe
    assert "acl r-dn ssl_c_s_dn(CN) -m beg -- 'client'" in fe
    assert "acl r-dnre ssl_c_s_dn(O) -m reg -- '^tc [a-z]+$'" in fe
    assert any(line.startswith("http-request set-var(txn.l7policy) str(tc-policy) if "
                               "!r-has r-verify !r-dn r-dnre ") for line in fe)
    haproxy_c(lb)


@pytest.mark.parametrize(("rule", "message"), [
    (dict(type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="False"), "True"),
    (dict(type="SSL_CONN_HAS_CERT", compare_type="CONTAINS", value="True"), "EQUAL_TO"),
    (dict(type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO", value="0 or 1"), "code"),
    (dict(type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO", value="0", key="CN"), "key"),
    (dict(type="SSL_DN_FIELD", compare_type="EQUAL_TO", value="x"), "key"),
    (dict(type="SSL_DN_FIELD", compare_type="EQUAL_TO", value="x", key="CN)"), "key"),
    (dict(type="SSL_DN_FIELD", compare_type="EQUAL_TO", value="a'b", key="CN"), "value"),
])
def test_bad_ssl_rules_are_refused_at_render(rule, message):
    lb = loadbalancer(listener(l7policies=[rules_policy(ld.L7Rule(id="r1", **rule))]))
    with pytest.raises(cfg.ConfigError, match=message):
        build(lb)


def test_ssl_rules_need_a_tls_listener():
    li = ld.Listener(id="tc-listener", protocol="HTTP", protocol_port=80,
                     default_pool_id="tc-pool", l7policies=[rules_policy(ld.L7Rule(
                         id="r1", type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO",
                         value="True"))])
    with pytest.raises(cfg.ConfigError, match="TERMINATED_HTTPS"):
        build(loadbalancer(li))


# ------------------------------------------------------------------ re-encryption


def test_tls_pool_verifies_members_against_its_ca_and_checks_over_tls(haproxy_c):
    client = CA.issue("tc-lb-client", client=True)
    po = pool(tls_enabled=True, ca_tls_container=CA.pem, crl_container=CRL,
              tls_container=ld.TlsCertificate(id="c-client", certificate=client.certificate,
                                               private_key=client.private_key),
              tls_versions=["TLSv1.2", "TLSv1.3"], tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256",
              alpn_protocols=["http/1.1"],
              healthmonitor=ld.HealthMonitor(id="tc-hm", type="HTTP", delay=5, timeout=3,
                                             max_retries=3))
    lb = loadbalancer(po=po)
    view, files = build(lb)
    words = server_words(view)
    ssl = words[words.index("ssl"):]
    assert ssl[:3] == ["ssl", "crt", ssl[2]] and Path(ssl[2]).name.startswith("c-client-")
    assert ssl[3:6] == ["verify", "required", "ca-file"]
    assert files.files[Path(ssl[6]).name] == CA.pem
    assert ssl[7] == "crl-file"
    assert ssl[9:] == ["ssl-min-ver", "TLSv1.2", "ssl-max-ver", "TLSv1.3", "ciphers",
                       "ECDHE-ECDSA-AES128-GCM-SHA256", "alpn", "http/1.1", "check-ssl"]
    assert "sni" not in words and "verify none" not in " ".join(words)
    haproxy_c(lb)


def test_tls_pool_without_ca_does_not_verify(haproxy_c):
    lb = loadbalancer(po=pool(tls_enabled=True))
    words = server_words(build(lb)[0])
    assert words[-3:] == ["ssl", "verify", "none"]
    haproxy_c(lb)


def test_tls_needs_a_certificate_directory():
    paths = cfg.StatePaths("/run/tc/sock", "/run/tc/state")
    with pytest.raises(cfg.ConfigError, match="certificate directory"):
        cfg.build_view(loadbalancer(), paths, "nogroup", 30)


# ------------------------------------------------------------------ the files


def test_files_are_0600_in_a_0700_directory_and_stale_ones_go(tmp_path: Path):
    certs = tmp_path / "certs"
    _, files = build(loadbalancer(listener(sni_containers=[cert("c-one", "one.tc.test")])),
                     certs)
    namespace_driver._write_tls_files(certs, files.files)
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    for name, content in files.files.items():
        path = certs / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_uid == 0 or path.stat().st_uid == __import__("os").getuid()
        assert path.read_text() == content
    assert not [p for p in certs.iterdir() if p.name.endswith(".tmp")]
    _, fewer = build(loadbalancer(), certs)
    namespace_driver._write_tls_files(certs, fewer.files)
    namespace_driver._prune_tls_files(certs, set(fewer.files))
    assert sorted(p.name for p in certs.iterdir()) == sorted(fewer.files)
    namespace_driver._prune_tls_files(certs, set())
    assert not certs.exists()


def test_public_reason_names_certificate_files_without_the_state_path():
    conf = Path("/var/lib/lbaas/haproxy/tc-lb/conf")
    reason = ("unable to load SSL private key from PEM file "
              "'/var/lib/lbaas/haproxy/tc-lb/certs/c-www-0123.pem' in haproxy.cfg")
    assert namespace_driver._public_reason(reason, conf) == (
        "unable to load SSL private key from PEM file 'certs/c-www-0123.pem' in haproxy.cfg")


# ------------------------------------------------------------------ the value rules


def test_limits_tls_rules():
    from lbaas.common import limits

    assert limits.sni_name("*.tc.test") == "*.tc.test"
    for bad in ("a..b", "*.*.tc.test", "tc.test/x", "tc test", "!tc.test", "x" * 254):
        with pytest.raises(ValueError):
            limits.sni_name(bad)
    assert limits.tls_ciphers("ECDHE+AESGCM:!aNULL:@SECLEVEL=2")
    pem = LEAFS["www.tc.test"].certificate
    # CRLF and text around a block are not kept: only the blocks reach the file.
    assert limits.pem(pem.replace("\n", "\r\n"), "x", limits.CERTIFICATE_LABELS, 1) == pem
    with pytest.raises(ValueError, match="not PEM"):
        limits.pem("junk\n" + pem, "x", limits.CERTIFICATE_LABELS)
    with pytest.raises(ValueError, match="not PEM"):
        limits.pem(pem + pem, "x", limits.CERTIFICATE_LABELS, 1)
    with pytest.raises(ValueError, match="not PEM"):
        limits.pem(CRL, "x", limits.CERTIFICATE_LABELS)


def test_tls_pool_with_tls_hello_monitor_is_valid(haproxy_c):
    po = pool(tls_enabled=True, ca_tls_container=CA.pem,
              healthmonitor=ld.HealthMonitor(id="tc-hm", type="TLS-HELLO", delay=5,
                                             timeout=3, max_retries=3))
    haproxy_c(loadbalancer(po=po))
