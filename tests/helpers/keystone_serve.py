"""Serve Keystone's public WSGI application on 127.0.0.1:<port> with wsgiref, one thread
per request. Run by ``tests/helpers/identity.py`` with the Python of Keystone's own venv
(so it imports nothing of lbaas); the config file comes from OS_KEYSTONE_CONFIG_FILES."""

import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from keystone.server.wsgi import initialize_public_application


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    port = int(sys.argv[1])
    del sys.argv[1:]  # Keystone parses the command line as its own options
    app = initialize_public_application()
    server = make_server("127.0.0.1", port, app, ThreadingServer, QuietHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
