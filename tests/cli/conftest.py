"""Fixtures of the CLI tests: a real server per test and ``lbaas`` run in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lbaas.cli.main import main
from tests.helpers.server import Api, ServerProcess


@pytest.fixture(autouse=True)
def _no_lbaas_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own LBAAS_* settings must not point the tests elsewhere.
    for name in ("LBAAS_URL", "LBAAS_TOKEN", "LBAAS_PROJECT_ID", "OS_CACERT", "OS_CLOUD",
                 "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    # A server per test: in noauth mode everyone is admin and sees every object, so a
    # shared server would let one test's names make another's ambiguous.
    with ServerProcess() as proc:
        yield proc


@pytest.fixture
def project() -> str:
    return "cli-project"


class Cli:
    """``lbaas`` in this process, against the test server, as one project."""

    def __init__(self, url: str, project: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.project, self.capsys = url, project, capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        rc = main(["--os-url", self.url, "--os-project-id", self.project, *argv])
        captured = self.capsys.readouterr()
        return rc, captured.out, captured.err

    def ok(self, *argv: str) -> str:
        rc, out, err = self(*argv)
        assert rc == 0, f"lbaas {' '.join(argv)} → {rc}: {err}"
        assert "Traceback" not in err
        return out

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "-f", "json"))

    def fails(self, *argv: str) -> str:
        """The error line of a command that must fail with exit 1 (after any progress)."""
        rc, out, err = self(*argv)
        assert rc == 1, f"lbaas {' '.join(argv)} → {rc}, wanted 1: {out}{err}"
        assert err.endswith("\n") and "Traceback" not in err, err
        *progress, last = err.splitlines()
        assert last.startswith("lbaas: error: "), err
        assert all(line.startswith("waiting: ") for line in progress), err
        return last[len("lbaas: error: "):]


@pytest.fixture
def lbaas(server: ServerProcess, project: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(server.url, project, capsys)


@pytest.fixture
def api(server: ServerProcess, project: str) -> Iterator[Api]:
    client = Api(server.url, project=project)
    yield client
    client.close()


class TokenCli(Cli):
    """``lbaas`` with ``--os-token`` instead of a project header."""

    def __init__(self, url: str, token: str, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__(url, "", capsys)
        self.token = token

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        rc = main(["--os-url", self.url, "--os-token", self.token, *argv])
        captured = self.capsys.readouterr()
        return rc, captured.out, captured.err
