"""The five Neutron routes of a resource (create, list, show, update, delete), made once.

Each resource module declares its request models (which carry the validation rules) and
the plugin calls; this builds the routes, so every resource wraps, filters and answers
the same way. No ``from __future__ import annotations`` here: FastAPI reads the body
model off each route's annotations, which must be the real classes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from lbaas.server.api.common import (
    creation_body,
    ctx_of,
    in_session,
    settings_of,
    show_fields,
    update_body,
)
from lbaas.server.api.listing import Listing, list_response
from lbaas.server.context import Context

Settings = Any


@dataclass(frozen=True)
class Resource:
    member: str                 # "pool": the body wrapper of one object
    collection: str             # "pools": the wrapper of a list
    path: str                   # "/lb/pools", under /v2.0
    to_dict: Callable[[Any], dict[str, Any]]
    create: Callable[[Session, Context, Settings, dict[str, Any]], Any]
    get: Callable[[Session, Context, str], Any]
    # How its list query is answered by the database (listing.py).
    listing: Listing
    update: Callable[[Session, Context, Settings, str, dict[str, Any]], Any]
    delete: Callable[[Session, Context, Settings, str], None]
    # Turns the validated body into what the plugin takes (nested models made plain).
    prepare: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: data


def crud_router(res: Resource, create_request: type[BaseModel],
                update_request: type[BaseModel]) -> APIRouter:
    router = APIRouter(tags=[res.collection])

    def create(request: Request, body: create_request) -> dict[str, Any]:  # type: ignore[valid-type]
        data = res.prepare(creation_body(request, getattr(body, res.member)))
        ctx, settings = ctx_of(request), settings_of(request)
        return {res.member: in_session(request, lambda s: res.to_dict(
            res.create(s, ctx, settings, data)))}

    def list_all(request: Request) -> dict[str, Any]:
        return list_response(request, lambda fn: in_session(request, fn, read_only=True),
                             ctx_of(request), res.listing, res.to_dict, res.collection,
                             res.path.lstrip("/"))

    def show(request: Request, obj_id: str) -> dict[str, Any]:
        ctx = ctx_of(request)
        return {res.member: show_fields(request, in_session(
            request, lambda s: res.to_dict(res.get(s, ctx, obj_id)), read_only=True))}

    def update(request: Request, obj_id: str,
               body: update_request) -> dict[str, Any]:  # type: ignore[valid-type]
        data = res.prepare(update_body(getattr(body, res.member)))
        ctx, settings = ctx_of(request), settings_of(request)
        return {res.member: in_session(request, lambda s: res.to_dict(
            res.update(s, ctx, settings, obj_id, data)))}

    def delete(request: Request, obj_id: str) -> Response:
        ctx, settings = ctx_of(request), settings_of(request)
        in_session(request, lambda s: res.delete(s, ctx, settings, obj_id))
        return Response(status_code=204)

    item = f"{res.path}/{{obj_id}}"
    router.add_api_route(res.path, create, methods=["POST"], status_code=201,
                         name=f"create_{res.member}")
    router.add_api_route(res.path, list_all, methods=["GET"], name=f"list_{res.collection}")
    router.add_api_route(item, show, methods=["GET"], name=f"show_{res.member}")
    router.add_api_route(item, update, methods=["PUT"], name=f"update_{res.member}")
    router.add_api_route(item, delete, methods=["DELETE"], status_code=204,
                         name=f"delete_{res.member}")
    return router
