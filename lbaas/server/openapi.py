"""/openapi.json with the status codes the API really answers.

FastAPI documents a 422 for every body it validates; this API answers 400 instead, with
its own error body: Neutron's under /v2.0 and /agent, Octavia's under /v2/lbaas and
/v2.0/lbaas. Every operation lists the errors it can answer with that body's schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from lbaas.server.gate import octavia_path

NEUTRON_ERROR = {
    "type": "object", "required": ["NeutronError"],
    "properties": {"NeutronError": {
        "type": "object", "required": ["type", "message", "detail"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                       "detail": {"type": "string"}}}}}
OCTAVIA_FAULT = {
    "type": "object", "required": ["faultcode", "faultstring", "debuginfo"],
    "properties": {"faultcode": {"type": "string"}, "faultstring": {"type": "string"},
                   "debuginfo": {"type": ["string", "null"]}}}

ERRORS = {
    "400": "Bad input: the message says which attribute and why",
    "401": "No token, or one that is not valid",
    "403": "The caller may not do this (Octavia: also a quota that is met)",
    "404": "No such object, or one of another project",
    "409": "Conflict: in use, exists already, or (Octavia) the load balancer is "
           "immutable while a change is pending",
    "413": "The request body is larger than max_request_body_size",
}


def install(app: FastAPI) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version,
                          description=app.description, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["NeutronError"] = NEUTRON_ERROR
        components["OctaviaFault"] = OCTAVIA_FAULT
        for path, item in doc.get("paths", {}).items():
            name = "OctaviaFault" if octavia_path(path) else "NeutronError"
            ref = {"$ref": f"#/components/schemas/{name}"}
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for code, text in ERRORS.items():
                    if method == "get" and code in ("409", "413"):
                        continue
                    responses.setdefault(code, {
                        "description": text,
                        "content": {"application/json": {"schema": ref}}})
        app.openapi_schema = doc
        return doc

    app.openapi = schema  # type: ignore[method-assign]
