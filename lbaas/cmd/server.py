"""lbaas-server: the REST API, the database and the scheduler."""

from __future__ import annotations

import logging
import sys

from oslo_config import cfg

from lbaas.common import config


def load_config(argv: list[str] | None, conf: cfg.ConfigOpts | None = None,
                extra_cli: list[cfg.Opt] | None = None) -> cfg.ConfigOpts:
    conf = conf or cfg.ConfigOpts()
    config.register_server_opts(conf)
    if extra_cli:
        conf.register_cli_opts(extra_cli)
    try:
        conf(argv if argv is not None else sys.argv[1:], project="lbaas")
    except (cfg.Error, ValueError) as e:
        print(f"lbaas-server: configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return conf


def setup_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    upgrade_only = cfg.BoolOpt("upgrade-only", default=False,
                               help="Apply database migrations and exit.")
    conf = load_config(argv, extra_cli=[upgrade_only])
    setup_logging(conf.debug)
    from lbaas.server.db.session import Database, upgrade

    try:
        db = Database(config.database_url(conf))
        upgrade(db.engine)
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        print(f"lbaas-server: cannot open the database: {e}", file=sys.stderr)
        return 1
    if conf.upgrade_only:
        print("lbaas-server: database is up to date")
        return 0
    import uvicorn

    from lbaas.server.app import create_app

    app = create_app(conf, db=db, run_migrations=False)
    # A stopping server doesn't wait out the agents' long-polls.
    uvicorn.run(app, host=conf.bind_host, port=conf.bind_port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
