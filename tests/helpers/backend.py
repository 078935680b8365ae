"""A small HTTP backend for tests, run inside a namespace: answers every GET with its own
name (and ``/health`` with ``HEALTH_CODE``, default 200; ``/headers`` with the
X-Forwarded-* headers it received). Threaded, so slow requests don't
block health checks. Usage: backend.py NAME ADDRESS PORT [--tls CERT KEY] [--slow S]"""

from __future__ import annotations

import argparse
import http.server
import os
import socketserver
import ssl
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("address")
    p.add_argument("port", type=int)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--slow", type=float, default=0.0, help="seconds to hold /slow")
    a = p.parse_args()
    health_code = int(os.environ.get("HEALTH_CODE", "200"))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            code = health_code if self.path.startswith("/health") else 200
            if self.path.startswith("/slow"):
                time.sleep(a.slow)
            body = (a.name + "\n").encode()
            if self.path.startswith("/headers"):
                # The X-Forwarded-* headers the load balancer added, one per line.
                body = "".join(f"{k}={v}\n" for k, v in sorted(self.headers.items())
                               if k.lower().startswith("x-forwarded")).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "text/plain")
            if self.path.startswith("/setcookie"):
                self.send_header("Set-Cookie", f"APPSESSION=s-{a.name}; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request: object, client_address: object) -> None:
            # Health checks hang up without reading the answer: not worth a traceback.
            pass

    server = Server((a.address, a.port), Handler)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
