"""HAProxy's stats/admin socket: one command per connection, text back.

The socket lives in the state directory on the host's filesystem, so the agent reaches
it from the root namespace although HAProxy runs inside ``qlbaas-<pool_id>``.
"""

from __future__ import annotations

import csv
import io
import socket
from typing import Any

DEFAULT_TIMEOUT = 5.0


class RuntimeApiError(Exception):
    """The socket is absent, refused the connection, or rejected the command."""


class RuntimeApi:
    def __init__(self, socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def command(self, line: str) -> str:
        if "\n" in line or ";" in line:
            # The CLI treats both as command separators: a name carrying one would run a
            # second command.
            raise RuntimeApiError(f"refusing multi-command line {line!r}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise RuntimeApiError(f"{self.socket_path}: {line!r}: {exc}") from exc
        finally:
            sock.close()
        return b"".join(chunks).decode(errors="replace")

    def alive(self) -> bool:
        try:
            return "Pid:" in self.command("show info")
        except RuntimeApiError:
            return False

    def show_info(self) -> dict[str, str]:
        info = {}
        for row in self.command("show info").splitlines():
            key, sep, value = row.partition(":")
            if sep:
                info[key.strip()] = value.strip()
        return info

    def show_stat(self) -> list[dict[str, str]]:
        text = self.command("show stat")
        if not text.startswith("# "):
            raise RuntimeApiError(f"unexpected 'show stat' answer: {text[:200]!r}")
        return list(csv.DictReader(io.StringIO(text[2:])))

    def show_servers_state(self) -> str:
        """The text HAProxy reads back from ``server-state-file`` after a reload."""
        text = self.command("show servers state")
        if "# be_id" not in text:
            raise RuntimeApiError(f"unexpected 'show servers state' answer: {text[:200]!r}")
        return text

    def servers_state(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(backend, server) → {"admin_state": int, "weight": int} of the running
        process, from ``show servers state``."""
        lines = self.show_servers_state().splitlines()
        header: list[str] = []
        result: dict[tuple[str, str], dict[str, Any]] = {}
        for row in lines:
            if row.startswith("# "):
                header = row[2:].split()
                continue
            fields = row.split()
            if not header or len(fields) < len(header):
                continue
            rec = dict(zip(header, fields, strict=False))
            result[(rec["be_name"], rec["srv_name"])] = {
                "admin_state": int(rec["srv_admin_state"]),
                "weight": int(rec["srv_uweight"]),
            }
        return result

    def _checked(self, line: str) -> None:
        answer = self.command(line).strip()
        # Successful 'set server' commands answer nothing (or a blank line).
        if answer:
            raise RuntimeApiError(f"{line!r}: {answer}")

    def set_server_weight(self, backend: str, server: str, weight: int) -> None:
        self._checked(f"set server {backend}/{server} weight {int(weight)}")

    def set_server_state(self, backend: str, server: str, enabled: bool) -> None:
        self._checked(f"set server {backend}/{server} state {'ready' if enabled else 'maint'}")
