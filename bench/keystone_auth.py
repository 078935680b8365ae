"""What Keystone authentication adds to a request, beside the tokens file.

Starts a real Keystone (tests/helpers/identity.py: its own venv, SQLite, loopback) and
two lbaas-server processes side by side over their own SQLite databases: one with
``auth_strategy = token`` (a tokens file), one with ``auth_strategy = keystone``
(keystonemiddleware, its in-process token cache). Then, alternating between the two so
that both see the same machine load, it times ``GET /v2/lbaas/loadbalancers`` (an empty
list: what is measured is the gate, not the listing) and prints the median and p90 of
each, their ratio, and the uncached requests (round trips to Keystone).

    python bench/keystone_auth.py [--requests 400]

Everything it starts is stopped in ``finally`` blocks, by PID, and its files removed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.identity import Keystone  # noqa: E402
from tests.helpers.server import ServerProcess  # noqa: E402

PATH = "/v2/lbaas/loadbalancers"


def timed_get(client: httpx.Client, url: str, token: str) -> float:
    start = time.perf_counter()
    resp = client.get(url + PATH, headers={"X-Auth-Token": token})
    elapsed = time.perf_counter() - start
    if resp.status_code != 200:
        raise RuntimeError(f"{url}: {resp.status_code} {resp.text}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    keystone = Keystone()
    servers: list[ServerProcess] = []
    try:
        keystone.start()
        service = keystone.create("project", name="service", domain_id="default")["id"]
        project = keystone.create("project", name="bench", domain_id="default")["id"]
        for user, proj, role in (("lbaas", service, "service"), ("alice", project, "member")):
            uid = keystone.create("user", name=user, password=f"{user}-pw",
                                  domain_id="default")["id"]
            keystone.grant(uid, proj, role)
        token_server = ServerProcess(auth_strategy="token",
                                     tokens=[("file-token", "bench", "member")])
        ks_server = ServerProcess(auth_strategy="keystone", conf={"keystone_authtoken": {
            "www_authenticate_uri": keystone.auth_url, "auth_url": keystone.auth_url,
            "auth_type": "password", "username": "lbaas", "password": "lbaas-pw",
            "user_domain_id": "default", "project_name": "service",
            "project_domain_id": "default", "interface": "public"}})
        servers += [token_server, ks_server]
        for srv in servers:
            srv.start()
        ks_token = keystone.token("alice", "alice-pw", "bench")
        with httpx.Client(timeout=30) as client:
            first = timed_get(client, ks_server.url, ks_token)
            # A second new token: the server has its own service token by now.
            second = timed_get(client, ks_server.url,
                               keystone.token("alice", "alice-pw", "bench"))
            timed_get(client, token_server.url, "file-token")
            file_ms: list[float] = []
            ks_ms: list[float] = []
            for _ in range(args.requests):
                file_ms.append(timed_get(client, token_server.url, "file-token"))
                ks_ms.append(timed_get(client, ks_server.url, ks_token))
    finally:
        for srv in servers:
            srv.cleanup()
        keystone.cleanup()

    def p(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))]

    print(f"GET {PATH}, {args.requests} requests each, alternating")
    print(f"  tokens file: median {statistics.median(file_ms):.2f} ms, p90 {p(file_ms, .9):.2f}")
    print(f"  keystone   : median {statistics.median(ks_ms):.2f} ms, p90 {p(ks_ms, .9):.2f} "
          f"(token cached by keystonemiddleware)")
    print(f"  ratio keystone/tokens file (median): "
          f"{statistics.median(ks_ms) / statistics.median(file_ms):.2f}")
    print(f"  the server's first request (its own service token, then the caller's): "
          f"{first:.1f} ms")
    print(f"  a request with a new token (one validation by Keystone): {second:.1f} ms")


if __name__ == "__main__":
    main()
