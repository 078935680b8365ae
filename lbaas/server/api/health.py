"""``GET /healthcheck``: can this server do its work? For load balancers in front of
several lbaas-servers and for monitoring; open to anyone (lbaas/server/gate.py).

200 ``OK`` (text/plain) when the database answers and its schema is at the migrations'
head; otherwise 503 with the reasons, one per line. With ``Accept: application/json``
the body is ``{"detailed": false, "reasons": [...]}``, as oslo.middleware's healthcheck
answers. ``HEAD`` answers the same status without a body.

It costs one read of ``alembic_version`` (a read transaction: it never waits for
SQLite's write lock). The reasons are short and name no host, user or error text: the
caller is anonymous; the database's own words go to the log, with the request id. A
database that doesn't answer within ``TIMEOUT`` seconds is a 503 too, and while one
check hangs on it, later ones say so at once instead of stacking up threads.
"""

from __future__ import annotations

import logging
import threading

import anyio
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import text

from lbaas.server.db.session import MIGRATIONS, Database

LOG = logging.getLogger(__name__)

TIMEOUT = 5.0

router = APIRouter(tags=["health"])

_one_at_a_time = threading.Lock()


def schema_heads() -> frozenset[str]:
    """The revisions ``upgrade`` leaves a database at."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def check(db: Database, heads: frozenset[str]) -> list[str]:
    """The reasons the server is unhealthy; empty when it is healthy."""
    if not _one_at_a_time.acquire(blocking=False):
        return ["database did not answer (an earlier check is still waiting for it)"]
    try:
        with db.session(read_only=True) as session:
            current = frozenset(session.scalars(
                text("SELECT version_num FROM alembic_version")).all())
    except Exception as exc:  # noqa: BLE001 - whatever it is, the database is unusable
        LOG.warning("healthcheck: database unavailable: %s", exc)
        return ["database unavailable"]
    finally:
        _one_at_a_time.release()
    if current != heads:
        LOG.warning("healthcheck: database schema at %s, migrations' head %s",
                    sorted(current), sorted(heads))
        return [f"database schema at revision {', '.join(sorted(current)) or 'none'}, "
                f"expected {', '.join(sorted(heads))} (run lbaas-server --upgrade-only)"]
    return []


@router.api_route("/healthcheck", methods=["GET", "HEAD"], response_class=PlainTextResponse,
                  responses={503: {"description": "Unhealthy: the reasons, one per line"}})
async def healthcheck(request: Request) -> Response:
    state = request.app.state
    heads = getattr(state, "schema_heads", None)
    if heads is None:
        heads = state.schema_heads = schema_heads()
    reasons: list[str]
    try:
        with anyio.fail_after(TIMEOUT):
            reasons = await anyio.to_thread.run_sync(check, state.db, heads,
                                                     abandon_on_cancel=True)
    except TimeoutError:
        LOG.warning("healthcheck: the database did not answer within %g s", TIMEOUT)
        reasons = [f"database did not answer within {TIMEOUT:g} s"]
    status = 503 if reasons else 200
    headers = {"Cache-Control": "no-store"}
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"detailed": False, "reasons": reasons or ["OK"]},
                            status_code=status, headers=headers)
    return PlainTextResponse("\n".join(reasons) if reasons else "OK", status_code=status,
                             headers=headers)
