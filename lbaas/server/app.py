"""The lbaas-server application: routers, identity, and Neutron's error bodies."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from lbaas.common.version import version_string
from lbaas.server import errors, openapi
from lbaas.server.api import (
    agent_api,
    agents,
    dashboard,
    extensions,
    health,
    health_monitors,
    key_manager,
    members,
    networks,
    pools,
    ports,
    quotas,
    subnets,
    vips,
)
from lbaas.server.api.authorize import authorize_v1, authorize_v2
from lbaas.server.api.v2 import amphorae as v2_amphorae
from lbaas.server.api.v2 import catalog as v2_catalog
from lbaas.server.api.v2 import healthmonitors as v2_healthmonitors
from lbaas.server.api.v2 import l7policies as v2_l7policies
from lbaas.server.api.v2 import listeners as v2_listeners
from lbaas.server.api.v2 import loadbalancers as v2_loadbalancers
from lbaas.server.api.v2 import pools as v2_pools
from lbaas.server.api.v2.common import PREFIXES as OCTAVIA_PREFIXES
from lbaas.server.auth import Authenticator
from lbaas.server.db.session import Database, upgrade
from lbaas.server.gate import RequestGate, octavia_path
from lbaas.server.local_plugin_api import LocalPluginApi
from lbaas.server.metrics import ApiMetrics
from lbaas.server.plugin.key_manager import Vault
from lbaas.server.plugin.loadbalancer import Settings
from lbaas.server.policy import Policy
from lbaas.server.request_log import RequestLog
from lbaas.server.rescheduler import Rescheduler

LOG = logging.getLogger(__name__)


def is_octavia_path(path: str) -> bool:
    return octavia_path(path)


def is_key_manager_path(path: str) -> bool:
    return path == key_manager.PREFIX or path.startswith(key_manager.PREFIX + "/")


def _error(request: Request, status: int, type_: str, message: str) -> JSONResponse:
    """The API's own error body: Octavia's under /v2/lbaas and /v2.0/lbaas, Neutron's
    everywhere else."""
    if is_octavia_path(request.url.path):
        return JSONResponse(status_code=status, content=errors.octavia_body(status, message))
    if is_key_manager_path(request.url.path):
        return JSONResponse(status_code=status, content=errors.barbican_body(status, message))
    return JSONResponse(status_code=status, content={
        "NeutronError": {"type": type_, "message": message, "detail": ""}})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        # loc[0] is the resource wrapper ("pool"); the attribute follows.
        attr = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
        if err.get("type") == "extra_forbidden":
            parts.append(f"Unrecognized attribute(s) '{attr}'")
        elif err.get("type") == "json_invalid":
            parts.append("Malformed request body: not valid JSON")
        elif not loc:
            parts.append("The request body must be a JSON object")
        elif err.get("type") == "missing" and len(loc) <= 1:
            parts.append(f"Resource body required: expected {{\"{attr}\": {{...}}}}"
                         if attr else "Resource body required")
        else:
            msg = err.get("msg", "invalid")
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            parts.append(f"Invalid input for {attr}. Reason: {msg}")
    return "; ".join(parts) or "Malformed request body"


class JsonBodies:
    """Every request body is JSON, whatever Content-Type says: ``curl -d`` sends
    form-urlencoded, and a JSON body is all this API takes. (ASGI middleware.)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            # In place: what the router adds to the scope (the matched route) stays
            # visible to RequestLog, which labels the request's metrics with it.
            scope["headers"] = headers
        await self.app(scope, receive, send)


class LbaasApp(FastAPI):
    """FastAPI with :class:`RequestLog` around everything, Starlette's error middleware
    included: the 500 it answers gets the request id header too, and the error handler's
    log line the request's id (``add_middleware`` would put it inside)."""

    def build_middleware_stack(self) -> Any:
        return RequestLog(super().build_middleware_stack(), on_done=self._request_done)

    def _request_done(self, scope: dict[str, Any], method: str, status: int | None,
                      seconds: float) -> None:
        api_metrics = getattr(self.state, "api_metrics", None)
        if api_metrics is not None:
            api_metrics.observe(scope, method, status, seconds)


def _run_during_lifespan(app: FastAPI, start: Any, stop: Any) -> None:
    """``start`` when the server starts serving, ``stop`` when it shuts down (a test's
    TestClient used without ``with`` runs neither)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            stop()

    app.router.lifespan_context = lifespan


def create_app(conf: Any, db: Database | None = None, run_migrations: bool = True) -> FastAPI:
    from lbaas.common.config import database_url

    db = db or Database(database_url(conf))
    if run_migrations:
        upgrade(db.engine)
    # /docs is served with Swagger UI's assets from the swagger-ui-bundle package: the
    # default page loads them from a CDN and is blank on a host without internet.
    app = LbaasApp(title="lbaas", version=version_string(),
                  description="Neutron LBaaS v1 API, with the agent API under /agent/v1.",
                  docs_url=None, redoc_url=None)
    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_path)),
              name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="lbaas API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png")

    # The dashboard's script and style sheet, from the package: no CDN (works offline).
    app.mount("/static/ui", StaticFiles(directory=str(dashboard.STATIC_DIR)), name="ui")
    openapi.install(app)
    app.add_middleware(JsonBodies)
    # Added last, so it runs first: the caller is known and the body capped before
    # anything reads the body (lbaas/server/gate.py).
    app.add_middleware(RequestGate,
                       authenticator=Authenticator(conf.auth_strategy, conf.tokens_file,
                                                   conf),
                       max_body=conf.max_request_body_size)
    app.state.db = db
    app.state.policy = Policy(conf)
    if conf.database.listen_for_changes:
        # PostgreSQL: the LISTEN thread runs from the app's start to its shutdown, in
        # the process that serves (lbaas/server/db/listener.py).
        _run_during_lifespan(app, db.start_listener, db.stop_listener)
    app.state.settings = Settings(conf)
    app.state.vault = app.state.settings.vault = Vault(conf)
    app.state.local_api = LocalPluginApi(db, app.state.settings)
    app.state.rescheduler = Rescheduler(db, app.state.settings.agent_down_time,
                                        app.state.settings.allow_failover)
    _run_during_lifespan(app, app.state.rescheduler.start, app.state.rescheduler.stop)
    if conf.metrics_enabled:
        app.state.api_metrics = ApiMetrics(db, app.state.settings.agent_down_time,
                                           app.state.local_api.waiters)

        @app.get("/metrics", include_in_schema=False)
        def prometheus_metrics() -> Response:
            """Prometheus' text format; open to anyone (lbaas/server/gate.py)."""
            return Response(generate_latest(app.state.api_metrics.registry),
                            media_type=CONTENT_TYPE_LATEST,
                            headers={"Cache-Control": "no-store"})
    for module in (networks, subnets, ports, pools, members, health_monitors, vips, agents,
                   extensions, quotas):
        app.include_router(module.router, prefix="/v2.0",
                           dependencies=[Depends(authorize_v1)])
    app.include_router(health.router)
    app.include_router(dashboard.router)
    for prefix in OCTAVIA_PREFIXES:
        for v2_module in (v2_loadbalancers, v2_listeners, v2_pools, v2_healthmonitors,
                          v2_l7policies, v2_catalog):
            app.include_router(v2_module.router, prefix=prefix,
                               dependencies=[Depends(authorize_v2)])
    for prefix in v2_amphorae.PREFIXES:
        app.include_router(v2_amphorae.router, prefix=prefix)
    app.include_router(agent_api.router)
    app.include_router(key_manager.router)

    @app.get("/", include_in_schema=False)
    def versions(request: Request) -> dict[str, Any]:
        """Octavia's version document: clients discover the v2 endpoint here."""
        public = app.state.settings.conf.public_endpoint
        base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
        return {"versions": [{"id": "v2.0", "status": "CURRENT",
                              "updated": "2026-12-02T00:00:00Z",
                              "links": [{"href": f"{base}/v2", "rel": "self"}]}]}

    @app.exception_handler(errors.NeutronError)
    def _neutron(request: Request, exc: errors.NeutronError) -> JSONResponse:
        if is_octavia_path(request.url.path) or is_key_manager_path(request.url.path):
            return _error(request, exc.status_code, exc.type, exc.msg)
        return JSONResponse(status_code=exc.status_code, content=exc.body())

    @app.exception_handler(errors.BarbicanFault)
    def _barbican(request: Request, exc: errors.BarbicanFault) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content=exc.body())

    @app.exception_handler(errors.OctaviaFault)
    def _octavia(request: Request, exc: errors.OctaviaFault) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content=exc.body())

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, 400, "HTTPBadRequest", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "HTTPNotFound", 405: "HTTPMethodNotAllowed", 400: "HTTPBadRequest",
                 413: "RequestEntityTooLarge"}
        return _error(request, exc.status_code, names.get(exc.status_code, "HTTPError"),
                              str(exc.detail))

    @app.exception_handler(IntegrityError)
    def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        LOG.info("integrity conflict on %s %s: %s", request.method, request.url.path,
                 exc.orig)
        return _error(request, 409, "Conflict", "The request conflicts with an existing "
                                               "object (a unique or reference rule).")

    @app.exception_handler(DBAPIError)
    def _db(request: Request, exc: DBAPIError) -> JSONResponse:
        LOG.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return _error(request, 503, "ServiceUnavailable", "The database is unavailable; "
                                                         "retry later.")

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # exc_info=exc: Starlette calls this in a worker thread, where no exception is
        # being handled (LOG.exception logged "NoneType: None" instead of the traceback).
        LOG.error("unexpected error on %s %s", request.method, request.url.path,
                  exc_info=exc)
        return _error(request, 500, "InternalError", "Request failed: internal server error.")

    return app
