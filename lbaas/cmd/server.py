"""lbaas-server: the REST API, the database and the scheduler.

Start-up order matters to the operator: every option is read and checked and the log
set up *before* the database is opened, so a bad value or an unreadable config file is
one line on stderr and exit code 2, with nothing created on disk; then the start line
(version, database URL without its password, where the API listens, auth strategy);
then migrations; at the end a stop line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from oslo_config import cfg

from lbaas.common import config, log, tls
from lbaas.common.version import version_string

PROG = "lbaas-server"
EXIT_CONFIG = 2
EXIT_DATABASE = 1

LOG = logging.getLogger("lbaas.server")


def load_config(argv: list[str] | None, conf: cfg.ConfigOpts | None = None,
                extra_cli: list[cfg.Opt] | None = None, prog: str = PROG) -> cfg.ConfigOpts:
    """Parse the command line and config files and check every value; a problem is one
    line on stderr and SystemExit(2). ``--version`` prints the version and exits 0."""
    conf = conf or cfg.ConfigOpts()
    config.register_server_opts(conf)
    if extra_cli:
        conf.register_cli_opts(extra_cli)
    try:
        conf(argv if argv is not None else sys.argv[1:], project="lbaas", prog=prog,
             version=version_string())
        config.check_values(conf)
        check_tls(conf)
    except (cfg.Error, ValueError, OSError) as e:
        # OSError: a config file that is a directory or cannot be read.
        print(config.error_line(prog, e), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    return conf


def check_tls(conf: cfg.ConfigOpts) -> None:
    """A certificate or key that cannot be loaded is a configuration error (TlsError,
    a ValueError) before anything is opened."""
    if conf.ssl_key_file and not conf.ssl_cert_file:
        raise ValueError("ssl_key_file is set but ssl_cert_file is not")
    if conf.ssl_cert_file:
        tls.check_server_files(conf.ssl_cert_file, conf.ssl_key_file)


def uvicorn_tls(conf: cfg.ConfigOpts) -> dict[str, Any]:
    """uvicorn.run()'s TLS arguments: none without ssl_cert_file."""
    if not conf.ssl_cert_file:
        return {}
    return {"ssl_certfile": conf.ssl_cert_file, "ssl_keyfile": conf.ssl_key_file or None}


def setup_logging(conf: cfg.ConfigOpts, prog: str = PROG, log_name: str | None = None,
                  thread_names: bool = False) -> None:
    """The log as the options say (lbaas/common/log.py); a log file that can't be
    opened is a configuration error like any other. ``log_name``: the program's name
    in log_dir, when it isn't ``prog``."""
    try:
        log.setup(conf, log_name or prog, thread_names=thread_names)
    except log.LogSetupError as e:
        print(config.error_line(prog, e), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def masked_url(url: str) -> str:
    """The database URL for the log: the password as ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a database URL>"


def fatal(conf: cfg.ConfigOpts, prog: str, message: str, log_name: str | None = None) -> None:
    """One line on stderr, and in the log too when the log is elsewhere (``log_name``:
    the program's name in log_dir, when it isn't ``prog``)."""
    print(f"{prog}: {message}", file=sys.stderr)
    if not log.to_stderr(conf, log_name or prog):
        LOG.error("%s", message)


def database_error(exc: BaseException) -> str:
    """The driver's words on one line, without SQLAlchemy's statement and link."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())


def log_start(conf: cfg.ConfigOpts, prog: str) -> None:
    scheme = "https" if conf.ssl_cert_file else "http"
    LOG.info("%s %s starting: database %s, API on %s://%s:%s, auth_strategy %s", prog,
             version_string(), masked_url(config.database_url(conf)), scheme,
             conf.bind_host, conf.bind_port, conf.auth_strategy)


def at_shutdown(app: Any, fn: Callable[[], None]) -> None:
    """Run ``fn`` when uvicorn shuts ``app`` down (connections closed). Code after
    ``uvicorn.run()`` is no place for it: on SIGTERM uvicorn shuts down and then raises
    the signal again, and its default action ends the process there."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            yield state
        fn()

    app.router.lifespan_context = lifespan


# api_workers > 1: the command line each worker process reads its configuration from.
WORKER_ARGV_ENV = "LBAAS_SERVER_WORKER_ARGV"


def _cli_opts() -> list[cfg.Opt]:
    return [cfg.BoolOpt("upgrade-only", default=False,
                        help="Apply database migrations and exit.")]


def worker_app() -> Any:
    """The app of one of ``api_workers`` processes (uvicorn starts each as a fresh
    interpreter and calls this): the configuration read again from the server's command
    line, its own database engine, and on PostgreSQL its own LISTEN thread, so a change
    committed by any worker (or any other server) wakes the long-polls waiting in this
    one (docs/architecture.md, "Several servers")."""
    import json
    import os

    from lbaas.server.app import create_app
    from lbaas.server.db.session import Database

    conf = load_config(json.loads(os.environ[WORKER_ARGV_ENV]), extra_cli=_cli_opts())
    setup_logging(conf)
    app = create_app(conf, db=Database(config.database_url(conf)), run_migrations=False)
    at_shutdown(app, lambda: LOG.info("%s worker stopped", PROG))
    return app


def main(argv: list[str] | None = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    conf = load_config(argv, extra_cli=_cli_opts())
    setup_logging(conf)
    log_start(conf, PROG)
    from lbaas.server.db.session import Database, upgrade

    try:
        db = Database(config.database_url(conf))
        upgrade(db.engine)
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        fatal(conf, PROG, f"cannot open the database: {database_error(e)}")
        return EXIT_DATABASE
    if conf.upgrade_only:
        print("lbaas-server: database is up to date")
        return 0
    import uvicorn

    if conf.api_workers > 1:
        return _run_workers(conf, argv, db)

    from lbaas.server.app import create_app

    app = create_app(conf, db=db, run_migrations=False)
    at_shutdown(app, lambda: LOG.info("%s stopped", PROG))
    # log_config=None: uvicorn's own warnings go through the handlers set up above (the
    # log file, JSON) instead of a stderr handler of its own. A stopping server doesn't
    # wait out the agents' long-polls.
    uvicorn.run(app, host=conf.bind_host, port=conf.bind_port, log_level="warning",
                log_config=None, access_log=False, timeout_graceful_shutdown=3,
                **uvicorn_tls(conf))
    return 0


def _run_workers(conf: cfg.ConfigOpts, argv: list[str], db: Any) -> int:
    """``api_workers`` uvicorn worker processes on one socket, each its own app
    (worker_app); uvicorn restarts a worker that dies. The database was migrated here,
    once, before."""
    import json
    import os

    import uvicorn

    db.engine.dispose()
    if not db.postgres:
        LOG.warning("api_workers = %d with SQLite: a long-poll learns of a change made "
                    "through another worker within a second, not at once (use "
                    "PostgreSQL)", conf.api_workers)
    os.environ[WORKER_ARGV_ENV] = json.dumps(argv)
    uvicorn.run("lbaas.cmd.server:worker_app", factory=True, workers=conf.api_workers,
                host=conf.bind_host, port=conf.bind_port, log_level="warning",
                log_config=None, access_log=False, timeout_graceful_shutdown=3,
                **uvicorn_tls(conf))
    LOG.info("%s stopped", PROG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
