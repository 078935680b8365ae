"""The client's output formats and connection settings as a user meets them: ``-f yaml``
and ``-f csv`` read back by a YAML and a CSV parser, ``--long``, ``--max-width``, the bash
completion run by bash itself, and ``--os-cloud`` with a clouds.yaml."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from lbaas.cli.main import main
from tests.cli.fake_neutron import FakeNeutron


@pytest.fixture
def neutron() -> FakeNeutron:
    fake = FakeNeutron()
    fake.add("lb/pools", name="web", lb_method="ROUND_ROBIN", protocol="HTTP",
             description="the front, with a long description that goes on and on",
             members=["m1", "m2"], admin_state_up=True, status="ACTIVE")
    fake.add("lb/pools", name="db, main", lb_method="LEAST_CONNECTIONS", protocol="TCP",
             description="", members=[], admin_state_up=False, status="ACTIVE")
    return fake


def run(neutron: FakeNeutron, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    rc = main(list(argv), transport=neutron.transport())
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return captured.out


def test_yaml_and_json_say_the_same(neutron, capsys):
    as_json = json.loads(run(neutron, capsys, "pool", "list", "-f", "json"))
    as_yaml = yaml.safe_load(run(neutron, capsys, "pool", "list", "-f", "yaml"))
    assert as_yaml == as_json and len(as_yaml) == 2
    shown = yaml.safe_load(run(neutron, capsys, "pool", "show", "web", "-f", "yaml",
                               "-c", "name", "-c", "members"))
    assert shown == {"name": "web", "members": ["m1", "m2"]}


def test_csv_has_a_header_and_one_row_per_object(neutron, capsys):
    rows = list(csv.reader(io.StringIO(run(neutron, capsys, "pool", "list", "-f", "csv",
                                           "-c", "name", "-c", "lb_method",
                                           "-c", "admin_state_up"))))
    assert rows == [["name", "lb_method", "admin_state_up"],
                    ["web", "ROUND_ROBIN", "True"],
                    ["db, main", "LEAST_CONNECTIONS", "False"]]
    record = list(csv.DictReader(io.StringIO(run(neutron, capsys, "pool", "show", "web",
                                                 "-f", "csv"))))
    assert len(record) == 1 and record[0]["members"] == "m1,m2"


def test_long_lists_every_attribute(neutron, capsys):
    short = run(neutron, capsys, "pool", "list", "-f", "csv").splitlines()[0]
    long = run(neutron, capsys, "pool", "list", "--long", "-f", "csv").splitlines()[0]
    assert "description" not in short and "members" not in short
    short_columns = next(csv.reader([short]))
    long_columns = next(csv.reader([long]))
    assert long_columns[:len(short_columns)] == short_columns
    assert {"description", "members", "status"} <= set(long_columns)


def test_max_width_wraps_the_table_to_fit(neutron, capsys):
    wide = run(neutron, capsys, "pool", "list", "--long")
    assert max(len(line) for line in wide.splitlines()) > 100
    narrow = run(neutron, capsys, "pool", "list", "--long", "--max-width", "100")
    assert max(len(line) for line in narrow.splitlines()) <= 100

    table = run(neutron, capsys, "pool", "list", "-c", "name", "-c", "description",
                "--max-width", "40")
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 40
    # Nothing lost: the description is wrapped over lines, every character still there.
    cells = [line.split("|")[2].strip() for line in lines if line.startswith("|")][1:]
    assert len(cells) > 2
    assert "".join(cells).replace(" ", "") == \
        "the front, with a long description that goes on and on".replace(" ", "")


def _complete(script: str, line: str) -> list[str]:
    """What bash offers after ``line`` (the last word being completed)."""
    words = line.split(" ")
    program = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
               f"COMP_CWORD={len(words) - 1}\n_lbaas\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return sorted(filter(None, done.stdout.splitlines()))


def test_bash_completes_commands_actions_and_options(neutron, capsys):
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    script = run(neutron, capsys, "completion", "bash")
    assert script.rstrip().endswith("complete -o default -F _lbaas lbaas")
    assert _complete(script, "lbaas po") == ["pool", "port"]
    assert {"agent", "create", "delete", "list", "show", "stats", "update"} <= set(
        _complete(script, "lbaas pool "))
    assert "--os-cloud" in _complete(script, "lbaas --os")
    assert _complete(script, "lbaas pool li") == ["list"]
    assert "--lb-method" in _complete(script, "lbaas pool create --")
    assert _complete(script, "lbaas --os-url http://x pool list --lo") == ["--long"]
    assert _complete(script, "lbaas pool list -f json --max") == ["--max-width"]
    assert _complete(script, "lbaas completion ") == ["--help", "bash"]


CLOUDS = """
clouds:
  lbaas-test:
    auth_type: admin_token
    auth:
      endpoint: {url}
      token: cloud-token
      project_id: cloud-project
  keystone-cloud:
    auth_type: password
    auth: {{auth_url: "https://keystone.example.com/v3", username: u, password: p}}
"""


class Recording(httpx.BaseTransport):
    """The fake's answers, and every request as sent (with its headers)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.requests = inner, []  # type: ignore[var-annotated]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


def test_os_cloud_takes_the_endpoint_and_token_from_clouds_yaml(
        neutron, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "clouds.yaml"
    config.write_text(CLOUDS.format(url="http://cloud.example:9696"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(config))
    recording = Recording(neutron.transport())
    assert main(["--os-cloud", "lbaas-test", "pool", "list"], transport=recording) == 0
    request = recording.requests[-1]
    assert str(request.url).startswith("http://cloud.example:9696/v2.0/lb/pools")
    assert request.headers["X-Auth-Token"] == "cloud-token"
    assert request.headers["X-Project-Id"] == "cloud-project"

    # OS_CLOUD does the same; a flag given beside it wins.
    monkeypatch.setenv("OS_CLOUD", "lbaas-test")
    assert main(["--os-token", "flag-token", "pool", "list"], transport=recording) == 0
    assert recording.requests[-1].headers["X-Auth-Token"] == "flag-token"
    assert str(recording.requests[-1].url).startswith("http://cloud.example:9696/")


@pytest.mark.parametrize("cloud, expected", [
    ("keystone-cloud", "cloud 'keystone-cloud': auth_type password needs Keystone, which "
                       "the lbaas client does not speak"),
    ("absent", "no cloud 'absent' (clouds: lbaas-test, keystone-cloud)"),
])
def test_a_cloud_the_client_cannot_use_is_one_line(neutron, capsys, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    cloud: str, expected: str):
    config = tmp_path / "clouds.yaml"
    config.write_text(CLOUDS.format(url="http://cloud.example:9696"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(config))
    assert main(["--os-cloud", cloud, "pool", "list"], transport=neutron.transport()) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lbaas: error: {config}: {expected}")
    assert err.count("\n") == 1
