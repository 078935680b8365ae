"""The client of the benchmarks, run inside the client namespace and driven over
stdin/stdout one command per line (so no process start falls inside a measured time):

  first200 URL TIMEOUT            -> "ok <monotonic time of the first HTTP 200>"
  until URL BODY N TIMEOUT        -> "ok <time of the first of N answers in a row == BODY>"

Each request is a new connection with a short connect timeout: a VIP that does not exist
yet swallows the SYN (no ARP answer), and waiting for TCP's own 1 s retransmission would
measure TCP rather than the load balancer. Answers "timeout ..." when TIMEOUT passes.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.parse

CONNECT_TIMEOUT = 0.05
READ_TIMEOUT = 2.0
RETRY_PAUSE = 0.002


def get(host: str, port: int, path: str) -> tuple[int, str]:
    """(status, body) of one GET on a new connection; (0, reason) on failure."""
    try:
        s = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        return 0, type(exc).__name__
    try:
        s.settimeout(READ_TIMEOUT)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
        raw = b"".join(chunks).decode(errors="replace")
        head, _, body = raw.partition("\r\n\r\n")
        parts = head.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        return status, body.strip()
    except OSError as exc:
        return 0, type(exc).__name__
    finally:
        s.close()


def main() -> None:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        u = urllib.parse.urlsplit(words[1])
        host, port, path = u.hostname or "", u.port or 80, u.path or "/"
        deadline = time.monotonic() + float(words[-1])
        reply = "timeout"
        last = ""
        if words[0] == "first200":
            while time.monotonic() < deadline:
                status, last = get(host, port, path)
                if status == 200:
                    reply = f"ok {time.monotonic():.6f}"
                    break
                time.sleep(RETRY_PAUSE)
        elif words[0] == "until":
            want, needed = words[2], int(words[3])
            run_start, run = 0.0, 0
            while time.monotonic() < deadline:
                at = time.monotonic()
                status, last = get(host, port, path)
                if status == 200 and last == want:
                    if run == 0:
                        run_start = at
                    run += 1
                    if run >= needed:
                        reply = f"ok {run_start:.6f}"
                        break
                else:
                    run = 0
        else:
            reply = "error unknown-command"
        if reply == "timeout":
            reply = f"timeout last={last.split()[0] if last else '-'}"
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
