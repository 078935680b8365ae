"""What every resource router shares: field types that carry their validation rules,
Neutron's list query (filters, fields, sorting, pagination), and the request plumbing."""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from lbaas.common import limits
from lbaas.server import errors
from lbaas.server.context import Context

T = TypeVar("T")

# C0, DEL, C1 (U+0085 is NEL, a newline too) and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _no_control(value: str) -> str:
    # Names and descriptions end up in HAProxy configurations and log lines: a newline
    # there would start a new configuration directive.
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (newline, tab, ...)")
    return value


def _uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a valid UUID") from None
    return value


def checked_by(rule: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A rule of lbaas.common.limits as a pydantic validator (its ValueError is the
    400's reason; the value is kept as sent)."""
    def check(value: Any) -> Any:
        rule(value)
        return value
    return check


def _not_bool(value: Any) -> Any:
    # pydantic would read true as 1: a boolean where a number belongs is a client bug.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


def _bool(value: Any) -> Any:
    # Neutron accepts "true"/"false" in any case, as the CLI sends them.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


Name = Annotated[str, Field(max_length=255), AfterValidator(_no_control)]
Description = Annotated[str, Field(max_length=255), AfterValidator(_no_control)]
TenantId = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_control)]
Uuid = Annotated[str, Field(max_length=36), AfterValidator(_uuid)]
# Canonical only: ipaddress alone takes "fe80::1%<anything>", newlines included.
IpAddress = Annotated[str, Field(max_length=45),
                      AfterValidator(checked_by(limits.canonical_ip))]
Cidr = Annotated[str, Field(max_length=49), AfterValidator(checked_by(limits.canonical_cidr))]
# Words placed in HAProxy's configuration (both APIs): lbaas.common.limits holds the one
# definition the agent's renderer checks again.
HttpMethod = Annotated[str, Field(max_length=limits.HTTP_METHOD_MAX),
                       AfterValidator(checked_by(limits.http_method))]
UrlPath = Annotated[str, Field(max_length=limits.URL_PATH_MAX),
                    AfterValidator(checked_by(limits.url_path))]
ExpectedCodes = Annotated[str, Field(max_length=limits.EXPECTED_CODES_MAX),
                          AfterValidator(checked_by(limits.expected_codes))]
CookieName = Annotated[str, Field(min_length=1, max_length=limits.COOKIE_NAME_MAX),
                       AfterValidator(checked_by(limits.cookie_name))]
Bool = Annotated[StrictBool, BeforeValidator(_bool)]
Int = Annotated[int, BeforeValidator(_not_bool)]
Port = Annotated[int, BeforeValidator(_not_bool),
                 Field(ge=limits.PORT_MIN, le=limits.PORT_MAX)]


class Body(BaseModel):
    """A request body object: unknown or read-only attributes are a 400."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def ctx_of(request: Request) -> Context:
    ctx: Context = request.state.ctx
    return ctx


def in_session(request: Request, fn: Callable[[Session], T], read_only: bool = False) -> T:
    """Run ``fn`` in one transaction of the app's database."""
    with request.app.state.db.session(read_only=read_only) as session:
        return fn(session)


def check_tenant(ctx: Context, tenant_id: str | None) -> str:
    """The tenant of a new object: the caller's own, or any when the caller is admin."""
    if tenant_id is None or tenant_id == ctx.project_id:
        return ctx.project_id
    if not ctx.is_admin:
        raise errors.HTTPBadRequest(
            "Specifying 'tenant_id' other than the authenticated tenant in request "
            "requires admin privileges")
    return tenant_id


def creation_body(request: Request, body: BaseModel) -> dict[str, Any]:
    """A create body as the plugin takes it: aliases restored, only what the caller
    sent, the tenant decided."""
    data = body.model_dump(by_alias=True, exclude_unset=True)
    tenant = data.pop("tenant_id", None) or data.pop("project_id", None)
    data.pop("project_id", None)
    data["tenant_id"] = check_tenant(ctx_of(request), tenant)
    return data


def update_body(body: BaseModel) -> dict[str, Any]:
    """Only the attributes the caller sent (the models' defaults mean "absent")."""
    return body.model_dump(by_alias=True, exclude_unset=True)


# --- lists: Neutron's query language -------------------------------------------------

RESERVED = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"}


def _as_filter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_sorts(q: Any) -> list[tuple[str, bool]]:
    """``sort_key``/``sort_dir`` as (key, descending) pairs, with Neutron's errors for
    the directions (a key's direction is that of its first mention)."""
    keys, dirs = q.getlist("sort_key"), q.getlist("sort_dir")
    if dirs and len(dirs) != len(keys):
        raise errors.HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    for d in dirs:
        if d not in ("asc", "desc"):
            raise errors.HTTPBadRequest(f"{d} is invalid attribute for sort_dir")
    return [(k, dirs[keys.index(k)] == "desc" if dirs else False) for k in keys]


def parse_limit(q: Any) -> int | None:
    """``limit``: None when absent, else an integer 0 or greater (0: no limit)."""
    raw = q.get("limit")
    if raw is None:
        return None
    try:
        limit = int(raw)
        if limit < 0:
            raise ValueError
    except ValueError:
        raise errors.HTTPBadRequest(
            f"Limit must be an integer 0 or greater and not '{raw}'") from None
    return limit


def list_query(request: Request, collection: str, items: list[dict[str, Any]],
               path: str) -> dict[str, Any]:
    """Apply filters (``?name=x&name=y``), sorting, pagination and ``fields`` the way
    Neutron does, and wrap the result as ``{collection: [...]}``."""
    q = request.query_params
    for key in {k for k in q.keys() if k not in RESERVED}:
        wanted = {v.lower() if v.lower() in ("true", "false") else v for v in q.getlist(key)}
        items = [i for i in items if key in i and _as_filter_text(i[key]) in wanted]

    known = set(items[0]) if items else None
    for key, desc in reversed(parse_sorts(q)):
        if known is not None and key not in known:
            raise errors.HTTPBadRequest(f"{key} is invalid attribute for sort_key")

        def sort_key(item: dict[str, Any], k: str = key) -> tuple[bool, Any]:
            return item.get(k) is None, _sort_value(item.get(k))
        items.sort(key=sort_key, reverse=desc)

    links: list[dict[str, str]] = []
    limit = parse_limit(q)
    if limit is not None:
        marker = q.get("marker")
        start = 0
        if marker:
            ids = [i.get("id") for i in items]
            if marker not in ids:
                raise errors.HTTPBadRequest(f"Marker {marker} could not be found")
            start = ids.index(marker) + 1
        if limit:
            page = items[start:start + limit]
            if start + limit < len(items) and page:
                params = [(k, v) for k, v in q.multi_items() if k != "marker"]
                params.append(("marker", page[-1]["id"]))
                links.append({"rel": "next", "href": page_link(request, f"v2.0/{path}",
                                                               params)})
            items = page
        else:
            items = items[start:]

    fields = q.getlist("fields")
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    result: dict[str, Any] = {collection: items}
    if links:
        result[f"{collection}_links"] = links
    return result


def page_link(request: Request, path: str, params: list[tuple[str, str]]) -> str:
    """A link to ``path`` with ``params``, every value percent-encoded (a filter value
    "x&tenant_id=other" stays one value), under ``public_endpoint`` when it is set:
    behind a proxy the request's Host is not what clients should follow."""
    public = settings_of(request).conf.public_endpoint
    base = public.rstrip("/") + "/" if public else str(request.base_url)
    return f"{base}{urllib.parse.quote(path)}?{urllib.parse.urlencode(params)}"


def _sort_value(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        return str(v)
    return v


def show_fields(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    fields = request.query_params.getlist("fields")
    return {k: v for k, v in item.items() if k in fields} if fields else item


def settings_of(request: Request) -> Any:
    return request.app.state.settings
