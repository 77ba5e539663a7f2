"""The sandbox's HTTP surface: Nexudus-shaped routes plus the optional control API.

List paging follows DEV-LIST: `page` is 1-based, `size` defaults to 25, `orderBy` is any
record field (case-insensitive, default Id). `dir` is ambiguous in the docs; this sandbox
reads `1`, `0`, `asc`/`ascending` as ascending and `-1`, `desc`/`descending` as descending,
i.e. developers.nexudus.com wins where it disagrees with learn.nexudus.com (which says 1 is
descending). Query parameter names are matched case-insensitively. String filters
(`CourseSection_Title`, `CourseSection_Course_Title`) match a case-insensitive substring;
the others match exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from importer.sandbox.auth import GrantError
from importer.sandbox.config import SandboxConfig, apply_runtime_changes
from importer.sandbox.faults import DroppedResponse
from importer.sandbox.state import Handler, SandboxState, fault_response
from importer.sandbox.store import SECTION_FIELDS, Store, now_iso
from importer.sandbox.validation import REQUIRED, validate_section

SECTIONS = "/api/content/coursesections"
COURSES = "/api/content/courses"
ENTITY = "CourseSection"


class BadQuery(ValueError):
    """A query parameter the server cannot parse (-> 400)."""


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _not_found(what: str) -> JSONResponse:
    return _json({"Message": f"{what} was not found."}, 404)


def _write_ok(verb: str, value: Any, user: str) -> JSONResponse:
    return _json(
        {
            "Status": 200,
            "Message": f"{ENTITY} was successfully {verb}.",
            "Value": value,
            "Errors": None,
            "WasSuccessful": True,
            "OpenInDialog": False,
            "OpenInWindow": False,
            "RedirectURL": None,
            "JavaScript": None,
            "UpdatedOn": now_iso(),
            "UpdatedBy": user,
        }
    )


def _write_failed(state: SandboxState, errors: list[dict[str, Any]], status: int = 400) -> Response:
    first = errors[0]
    body = {
        "Message": f"{first['PropertyName']}: {first['Message']}",
        "Value": None,
        "Errors": errors,
        "WasSuccessful": False,
    }
    return _json(body, 200 if state.config.failures_as_200 and status == 400 else status)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _bad_body(state: SandboxState) -> Response:
    return _write_failed(
        state,
        [
            {
                "AttemptedValue": None,
                "Message": "the request body must be a JSON object",
                "PropertyName": "Body",
            }
        ],
    )


# --- token -----------------------------------------------------------------------------------
async def token(request: Request, state: SandboxState) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return _json(
            {
                "error": "unsupported_grant_type",
                "error_description": "send the token request form-encoded",
            },
            400,
        )
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(raw, keep_blank_values=True))
    try:
        grant = state.tokens.grant(form, state.config.token_ttl)
    except GrantError as error:
        return _json({"error": error.error, "error_description": error.description}, 400)
    return JSONResponse(grant, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# --- paging ----------------------------------------------------------------------------------
def _int_param(params: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.get(name.lower())
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name}: '{raw}' is not a whole number") from None
    if value < minimum:
        raise BadQuery(f"{name}: must be at least {minimum}")
    return value


def _direction(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    value = raw.strip().lower()
    if value in ("1", "0", "asc", "ascending"):
        return 1
    if value in ("-1", "desc", "descending"):
        return -1
    raise BadQuery(f"dir: '{raw}' is not a sort direction (use 1 or -1)")


def _page(
    records: list[dict[str, Any]], params: dict[str, str], fields: tuple[str, ...]
) -> dict[str, Any]:
    page = _int_param(params, "page", 1, 1)
    size = _int_param(params, "size", 25, 1)
    by_lower = {name.lower(): name for name in fields}
    order_raw = params.get("orderby") or "Id"
    order = by_lower.get(order_raw.lower())
    if order is None:
        raise BadQuery(f"orderBy: unknown field '{order_raw}'")
    direction = _direction(params.get("dir"))
    records = sorted(
        records,
        key=lambda r: (r.get(order) is not None, _or_zero(r.get(order)), r["Id"]),
        reverse=direction == -1,
    )
    total = len(records)
    start = (page - 1) * size
    chunk = records[start : start + size]
    pages = math.ceil(total / size) if total else 0
    return {
        "Records": chunk,
        "CurrentPage": page,
        "CurrentPageSize": size,
        "CurrentOrderField": order,
        "CurrentSortDirection": direction,
        "FirstItem": start + 1 if chunk else 0,
        "LastItem": start + len(chunk),
        "TotalItems": total,
        "TotalPages": pages,
        "HasNextPage": page < pages,
        "HasPreviousPage": page > 1,
        "PageNumber": page,
        "PageSize": size,
    }


def _or_zero(value: Any) -> Any:
    return 0 if value is None else value


def _params(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.query_params.items()}


def _filters(params: dict[str, str]) -> list[Callable[[dict[str, Any]], bool]]:
    tests: list[Callable[[dict[str, Any]], bool]] = []

    def exact_int(param: str, field: str) -> None:
        if param.lower() in params:
            raw = params[param.lower()]
            try:
                wanted = int(raw)
            except ValueError:
                raise BadQuery(f"{param}: '{raw}' is not a whole number") from None
            tests.append(lambda r: r[field] == wanted)

    def contains(param: str, field: str) -> None:
        if param.lower() in params:
            wanted = params[param.lower()].lower()
            tests.append(lambda r: wanted in (r[field] or "").lower())

    exact_int("CourseSection_Course", "CourseId")
    exact_int("CourseSection_DisplayOrder", "DisplayOrder")
    exact_int("CourseSection_UnlockType", "UnlockType")
    exact_int("CourseSection_UnlockAfterDays", "UnlockAfterDays")
    contains("CourseSection_Title", "Title")
    contains("CourseSection_Course_Title", "CourseTitle")
    contains("CourseSection_SectionContents", "SectionContents")
    if "coursesection_active" in params:
        raw = params["coursesection_active"].lower()
        if raw not in ("true", "false", "1", "0"):
            raise BadQuery(f"CourseSection_Active: '{raw}' is not true or false")
        active = raw in ("true", "1")
        tests.append(lambda r: r["Active"] is active)
    for bound, compare in (("from_", lambda v, b: v >= b), ("to_", lambda v, b: v <= b)):
        for field in ("DisplayOrder", "UnlockAfterDays"):
            name = f"{bound}CourseSection_{field}"
            if name.lower() in params:
                try:
                    limit = int(params[name.lower()])
                except ValueError:
                    raise BadQuery(f"{name}: not a whole number") from None
                tests.append(lambda r, f=field, c=compare, b=limit: c(r[f], b))
    return tests


def _batch_read(raw: str, fetch: Callable[[int], dict[str, Any] | None]) -> Response:
    """`?id=[1,2,3]`: the records that exist, as a bare JSON array (unknown ids left out)."""
    wanted = [p.strip() for p in raw.strip("[]").split(",") if p.strip()]
    if not all(p.lstrip("-").isdigit() for p in wanted):
        return _json({"Message": "id: expected a list of whole numbers"}, 400)
    found = (fetch(int(p)) for p in wanted)
    return _json([record for record in found if record is not None])


# --- courses ---------------------------------------------------------------------------------
async def course_get(request: Request, state: SandboxState) -> Response:
    state.require(request, "Course-Read")
    try:
        course = state.store.course(int(request.path_params["id"]))
    except ValueError:
        course = None
    return _json(course) if course else _not_found(f"Course {request.path_params['id']}")


async def course_list(request: Request, state: SandboxState) -> Response:
    params = _params(request)
    if "id" in params:  # batch read: /courses/?id=[101,103] answers a bare array
        state.require(request, "Course-Read")
        return _batch_read(params["id"], state.store.course)
    state.require(request, "Course-List")
    courses = state.store.courses()
    fields = tuple(courses[0]) if courses else ("Id",)
    try:
        return _json(_page(courses, _params(request), fields))
    except BadQuery as error:
        return _json({"Message": str(error)}, 400)


# --- sections --------------------------------------------------------------------------------
async def section_list(request: Request, state: SandboxState) -> Response:
    params = _params(request)
    if "id" in params:  # batch read: ?id=[1,2,3] answers a bare array
        state.require(request, "CourseSection-Read")
        return _batch_read(params["id"], state.store.section)
    state.require(request, "CourseSection-List")
    try:
        tests = _filters(params)
        records = [r for r in state.store.sections() if all(t(r) for t in tests)]
        return _json(_page(records, params, SECTION_FIELDS))
    except BadQuery as error:
        return _json({"Message": str(error)}, 400)


def _section_id(request: Request) -> int | None:
    try:
        return int(request.path_params["id"])
    except ValueError:
        return None


async def section_get(request: Request, state: SandboxState) -> Response:
    state.require(request, "CourseSection-Read")
    section_id = _section_id(request)
    section = state.store.section(section_id) if section_id is not None else None
    return _json(section) if section else _not_found(f"{ENTITY} {request.path_params['id']}")


def _course_exists(state: SandboxState) -> Callable[[int], bool]:
    return lambda course_id: state.store.course(course_id) is not None


async def section_post(request: Request, state: SandboxState) -> Response:
    user = state.require(request, "CourseSection-Create")
    body = await _body(request)
    if body is None:
        return _bad_body(state)
    values, errors = validate_section(body, course_exists=_course_exists(state))
    if errors:
        return _write_failed(state, errors)
    values.setdefault("Active", True)
    section = state.store.insert(values, user)
    state.stats.add("sections_created")
    outcome = state.faults.ambiguous()
    if outcome is not None:
        state.stats.bump(state.stats.faults, f"ambiguous_{outcome}")
        return DroppedResponse() if outcome == "drop" else fault_response(outcome)
    value = section if state.config.value_shape == "record" else {"Id": section["Id"]}
    return _write_ok("created", value, user)


async def section_put(request: Request, state: SandboxState) -> Response:
    """Update: Id in the body; the other required fields too, except UnlockType (DEV-PUT's
    example omits it). Optional fields left out keep their stored values."""
    user = state.require(request, "CourseSection-Edit")
    body = await _body(request)
    if body is None:
        return _bad_body(state)
    required = ("Id", *(name for name in REQUIRED if name != "UnlockType"))
    values, errors = validate_section(body, course_exists=_course_exists(state), required=required)
    if errors:
        return _write_failed(state, errors)
    if state.store.section(values["Id"]) is None:
        return _write_failed(
            state,
            [{"AttemptedValue": values["Id"], "Message": "record not found", "PropertyName": "Id"}],
            404,
        )
    section = state.store.update(values["Id"], values, user)
    return _write_ok("updated", {"Id": section["Id"]}, user)


async def section_delete(request: Request, state: SandboxState) -> Response:
    user = state.require(request, "CourseSection-Delete")
    section_id = _section_id(request)
    if section_id is None or not state.store.delete(section_id):
        return _write_failed(
            state,
            [
                {
                    "AttemptedValue": request.path_params["id"],
                    "Message": "record not found",
                    "PropertyName": "Id",
                }
            ],
            404,
        )
    return _write_ok("deleted", {"Id": section_id}, user)


# --- control API -----------------------------------------------------------------------------
async def control_stats(request: Request, state: SandboxState) -> Response:
    return _json(state.stats.snapshot(state.store.count()))


async def control_reset(request: Request, state: SandboxState) -> Response:
    state.reset()
    return _json({"reset": True})


async def control_config(request: Request, state: SandboxState) -> Response:
    body = await _body(request)
    if body is None:
        return _json({"Message": "send a JSON object of SandboxConfig fields"}, 400)
    try:
        apply_runtime_changes(state.config, body)
    except ValueError as error:
        return _json({"Message": str(error)}, 400)
    if "seed" in body:
        state.faults.reseed()
    return _json(state.config.as_dict())


async def control_sections(request: Request, state: SandboxState) -> Response:
    return _json(state.store.sections())


def _api(route: str, handler: Handler, *, content: bool = True) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        return await state.handle(request, route, handler, content=content)

    return endpoint


def _control(handler: Handler) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        return await handler(request, request.app.state.sandbox)

    return endpoint


def build_app(config: SandboxConfig, store: Store) -> Starlette:
    """The ASGI app for one sandbox; `app.state.sandbox` is its SandboxState."""
    by_id = SECTIONS + "/{id}"
    routes = [
        Route("/api/token", _api("/api/token", token, content=False), methods=["POST"]),
        Route(COURSES, _api(COURSES, course_list), methods=["GET"]),
        Route(COURSES + "/", _api(COURSES, course_list), methods=["GET"]),  # batch-read spelling
        Route(COURSES + "/{id}", _api(COURSES + "/{id}", course_get), methods=["GET"]),
    ]
    for path in (SECTIONS, SECTIONS + "/"):  # the docs use both spellings
        routes += [
            Route(path, _api(SECTIONS, section_list), methods=["GET"]),
            Route(path, _api(SECTIONS, section_post), methods=["POST"]),
            Route(path, _api(SECTIONS, section_put), methods=["PUT"]),
        ]
    routes += [
        Route(by_id, _api(by_id, section_get), methods=["GET"]),
        Route(by_id, _api(by_id, section_delete), methods=["DELETE"]),
    ]
    if config.control:
        routes += [
            Route("/sandbox/stats", _control(control_stats), methods=["GET"]),
            Route("/sandbox/reset", _control(control_reset), methods=["POST"]),
            Route("/sandbox/config", _control(control_config), methods=["POST"]),
            Route("/sandbox/sections", _control(control_sections), methods=["GET"]),
        ]
    app = Starlette(routes=routes)
    app.state.sandbox = SandboxState(config, store)
    return app
