"""TLS between the processes, as an operator sets it up: lbaas-server with a certificate
of a CA made for the test, lbaas-agent processes that trust that CA (they heartbeat), that
do not (they refuse the server, one clear line a period), or that are told not to verify
(they heartbeat, with a warning). Everything on loopback; no namespace is made (the
agents have no load balancer, their state directory is the test's)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lbaas.cli.main import main as cli_main
from tests.helpers.server import ServerProcess

BIN = Path(sys.executable).parent
ADMIN_TOKEN = "tls-admin-token"
AGENT_TOKEN = "tls-agent-token"


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path) -> Pki:
    """A throwaway CA and a server certificate it signed, for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder()
               .subject_name(_name("lbaas test CA")).issuer_name(_name("lbaas test CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, key_cert_sign=True, crl_sign=True,
                   content_commitment=False, key_encipherment=False, data_encipherment=False,
                   key_agreement=False, encipher_only=False, decipher_only=False),
                   critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    pki.key_file.chmod(0o600)
    return pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[ServerProcess]:
    with ServerProcess(
            auth_strategy="token",
            tokens=[(ADMIN_TOKEN, "admin", "admin"), (AGENT_TOKEN, "services", "agent")],
            conf={"DEFAULT": {"ssl_cert_file": pki.cert_file,
                              "ssl_key_file": pki.key_file}},
            verify=ssl.create_default_context(cafile=str(pki.ca_file))) as server:
        yield server


def _admin(server: ServerProcess, pki: Pki) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-Auth-Token": ADMIN_TOKEN},
                        verify=ssl.create_default_context(cafile=str(pki.ca_file)),
                        timeout=10)


class AgentProcess:
    """One lbaas-agent with its own config file, log and state directory."""

    def __init__(self, directory: Path, server: ServerProcess, **options: object) -> None:
        self.host = f"td-tls-{uuid.uuid4().hex[:8]}"
        self.log_file = directory / f"{self.host}.log"
        state = directory / f"{self.host}-state"
        settings = {"host": self.host, "server_url": server.url,
                    "agent_token": AGENT_TOKEN, "report_interval": 1,
                    # Nothing of the host is changed by these tests.
                    "raise_kernel_limits": "false", "state_path": state, **options}
        self.config_file = directory / f"{self.host}.ini"
        self.config_file.write_text(
            "[DEFAULT]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
            + f"[haproxy]\nloadbalancer_state_path = {state}/lbaas\n")
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "lbaas-agent"), "--config-file", str(self.config_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.proc.poll() is None, f"agent exited: {self.log()}"
            assert time.monotonic() < deadline, f"no {text!r} in the log: {self.log()}"
            time.sleep(0.2)
        return self.log()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


@pytest.fixture
def start_agent(tmp_path: Path, tls_server: ServerProcess) -> Iterator[
        type[AgentProcess]]:
    started: list[AgentProcess] = []

    def start(**options: object) -> AgentProcess:
        agent = AgentProcess(tmp_path, tls_server, **options)
        started.append(agent)
        return agent

    yield start  # type: ignore[misc]
    for agent in started:
        agent.stop()


def _wait_alive(server: ServerProcess, pki: Pki, agent: AgentProcess,
                timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    with _admin(server, pki) as admin:
        while True:
            agents = admin.get("/v2.0/agents", params={"host": agent.host}).json()["agents"]
            if agents and agents[0]["alive"]:
                return dict(agents[0])
            assert agent.proc.poll() is None, f"agent exited: {agent.log()}"
            assert time.monotonic() < deadline, f"agent not alive: {agent.log()}"
            time.sleep(0.2)


def _agents(server: ServerProcess, pki: Pki, host: str) -> list[object]:
    with _admin(server, pki) as admin:
        return list(admin.get("/v2.0/agents", params={"host": host}).json()["agents"])


def test_an_agent_with_the_ca_file_heartbeats_over_tls(
        tls_server: ServerProcess, pki: Pki, start_agent: type[AgentProcess]) -> None:
    assert tls_server.url.startswith("https://")
    agent = start_agent(ca_file=pki.ca_file)
    assert _wait_alive(tls_server, pki, agent)["host"] == agent.host
    log = agent.log()
    assert "WARNING" not in log and "Traceback" not in log, log


def test_the_server_speaks_no_plain_http(tls_server: ServerProcess) -> None:
    # A token sent to the https port without TLS never gets an answer.
    with pytest.raises(httpx.TransportError):
        httpx.get(tls_server.url.replace("https://", "http://") + "/v2.0/lb/pools",
                  headers={"X-Auth-Token": ADMIN_TOKEN}, timeout=5)


def test_an_agent_without_the_ca_refuses_the_server_in_one_line(
        tls_server: ServerProcess, pki: Pki, start_agent: type[AgentProcess]) -> None:
    # No ca_file: the system's CA store, which does not know the test's CA.
    agent = start_agent()
    log = agent.wait_for_log("CERTIFICATE_VERIFY_FAILED")
    failures = [line for line in log.splitlines() if "CERTIFICATE_VERIFY_FAILED" in line]
    assert "WARNING lbaas.agent.manager" in failures[0]
    assert "heartbeat failed" in failures[0]
    assert "set ca_file to the CA that signed it" in failures[0]
    assert "Traceback" not in log
    assert _agents(tls_server, pki, agent.host) == []


def test_an_agent_with_another_ca_refuses_the_server(
        tmp_path: Path, tls_server: ServerProcess, pki: Pki,
        start_agent: type[AgentProcess]) -> None:
    other = make_pki(tmp_path)
    agent = start_agent(ca_file=other.ca_file)
    log = agent.wait_for_log("CERTIFICATE_VERIFY_FAILED")
    assert "Traceback" not in log
    assert _agents(tls_server, pki, agent.host) == []


def test_an_insecure_agent_heartbeats_and_says_it_does_not_verify(
        tls_server: ServerProcess, pki: Pki, start_agent: type[AgentProcess]) -> None:
    agent = start_agent(insecure="true")
    _wait_alive(tls_server, pki, agent)
    warnings = [line for line in agent.log().splitlines() if " WARNING " in line]
    assert len(warnings) == 1, agent.log()
    assert "insecure = true: the certificate of " + tls_server.url in warnings[0]
    assert "not verified" in warnings[0]


def test_an_agent_warns_when_its_token_would_cross_a_network_in_clear(
        tmp_path: Path) -> None:
    conf = tmp_path / "agent.ini"
    # 10.98.30.1 is nobody's: the agent never gets an answer, the warning comes first.
    conf.write_text(f"[DEFAULT]\nserver_url = http://10.98.30.1:9\nagent_token = t\n"
                    f"raise_kernel_limits = false\nstate_path = {tmp_path}/s\n"
                    f"[haproxy]\nloadbalancer_state_path = {tmp_path}/s/lbaas\n")
    from lbaas.cmd import agent as cmd_agent

    warnings = cmd_agent.transport_warnings(cmd_agent.load_config(["--config-file",
                                                                    str(conf)]))
    assert warnings == ["agent_token is sent in clear to http://10.98.30.1:9: use an "
                        "https:// server_url (docs/deploy.md)"]


@pytest.mark.parametrize("program", ["lbaas-agent"])
def test_an_unreadable_ca_file_is_a_configuration_error(tmp_path: Path,
                                                        program: str) -> None:
    conf = tmp_path / "agent.ini"
    conf.write_text(f"[DEFAULT]\nserver_url = https://127.0.0.1:9\n"
                    f"ca_file = {tmp_path}/absent.pem\nstate_path = {tmp_path}/s\n")
    done = subprocess.run([str(BIN / program), "--config-file", str(conf)],
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr == (f"{program}: configuration error: CA file {tmp_path}/absent.pem: "
                           "No such file or directory\n")


@pytest.mark.parametrize("case", ["missing", "not_pem", "wrong_key", "key_only"])
def test_a_certificate_the_server_cannot_use_is_one_line_and_exit_2(
        tmp_path: Path, pki: Pki, case: str) -> None:
    other = make_pki(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    options = {
        "missing": f"ssl_cert_file = {tmp_path}/absent.pem\n",
        "not_pem": f"ssl_cert_file = {garbage}\nssl_key_file = {pki.key_file}\n",
        "wrong_key": f"ssl_cert_file = {pki.cert_file}\nssl_key_file = {other.key_file}\n",
        "key_only": f"ssl_key_file = {pki.key_file}\n",
    }[case]
    expected = {
        "missing": f"ssl_cert_file {tmp_path}/absent.pem: No such file or directory",
        "not_pem": f"ssl_cert_file {garbage} / ssl_key_file {pki.key_file}: ",
        "wrong_key": f"ssl_cert_file {pki.cert_file} / ssl_key_file {other.key_file}: "
                     "KEY_VALUES_MISMATCH",
        "key_only": "ssl_key_file is set but ssl_cert_file is not",
    }[case]
    state = tmp_path / "state"
    conf = tmp_path / "server.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {state}\n{options}")
    done = subprocess.run([str(BIN / "lbaas-server"), "--config-file", str(conf)],
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("lbaas-server: configuration error: " + expected)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not state.exists()


def test_the_cli_verifies_the_server_with_os_cacert(
        tls_server: ServerProcess, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--os-url", tls_server.url, "--os-token", ADMIN_TOKEN]
    assert cli_main([*base, "--os-cacert", str(pki.ca_file), "pool", "list",
                     "-f", "json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"

    assert cli_main([*base, "pool", "list"]) == 1
    err = capsys.readouterr().err
    assert "CERTIFICATE_VERIFY_FAILED" in err and "--os-cacert" in err
    assert err.count("\n") == 1 and "Traceback" not in err

    assert cli_main([*base, "--insecure", "pool", "list", "-f", "json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
