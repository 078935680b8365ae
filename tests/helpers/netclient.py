"""A bounded HTTP client run inside a namespace (``ip netns exec <ns> python netclient.py``).

Modes:
  once URL N            N requests, new connection each; prints a JSON list of bodies
                        (or "ERR:<reason>" per failed request)
  load URL SECONDS RATE new-connection requests at RATE/s for SECONDS; prints JSON
                        {"requests", "failed", "errors": [...first 10...], "bodies": {..}}
  trace URL SECONDS RATE
                        the same, open loop: each request starts on schedule in its own
                        thread (a request stuck in a SYN retransmit delays no other);
                        prints a JSON list of [start (epoch s), duration s, body or ERR]
Extra options: --cookie-jar (keep cookies between requests), --timeout S.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
import urllib.parse
from collections import Counter
from typing import Any


def fetch(url: str, timeout: float, cookies: dict[str, str]) -> str:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port or 80, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request("GET", u.path or "/", headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
        if resp.status != 200:
            return f"ERR:{resp.status}"
        return body
    except (OSError, http.client.HTTPException) as e:
        return f"ERR:{type(e).__name__}:{e}"
    finally:
        conn.close()


def trace(url: str, seconds: float, rate: float, timeout: float) -> list[list[Any]]:
    """Open-loop new-connection requests: bounded in count (seconds x rate) and time
    (each request ``timeout``)."""
    results: list[list[Any]] = []
    lock = threading.Lock()

    def one(start: float) -> None:
        began = time.monotonic()
        body = fetch(url, timeout, {})
        with lock:
            results.append([start, time.monotonic() - began, body])

    threads = []
    count = int(seconds * rate)
    first = time.monotonic()
    for i in range(count):
        delay = first + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(time.time(),), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout + 5)
    return sorted(results)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["once", "load", "trace"])
    p.add_argument("url")
    p.add_argument("args", nargs="+", type=float)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--cookie-jar", action="store_true")
    a = p.parse_args()
    cookies: dict[str, str] = {}
    if a.mode == "once":
        out = []
        for _ in range(int(a.args[0])):
            out.append(fetch(a.url, a.timeout, cookies))
            if not a.cookie_jar:
                cookies.clear()
        print(json.dumps(out))
        return
    seconds, rate = a.args[0], a.args[1]
    if a.mode == "trace":
        print(json.dumps(trace(a.url, seconds, rate, a.timeout)))
        return
    interval = 1.0 / rate
    end = time.monotonic() + seconds
    bodies: Counter[str] = Counter()
    errors: list[str] = []
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < end and n < int(seconds * rate) + 1:
        body = fetch(a.url, a.timeout, cookies)
        cookies.clear()
        n += 1
        if body.startswith("ERR:"):
            errors.append(body)
        else:
            bodies[body] += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(json.dumps({"requests": n, "failed": len(errors), "errors": errors[:10],
                      "bodies": dict(bodies)}))


if __name__ == "__main__":
    main()
