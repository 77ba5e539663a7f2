"""The sandbox's HTTP surface: Nexudus-shaped routes plus the optional control API.

Lists, filters and batch reads: see `listing.py`. Writes follow the mutation envelope of
DEV-POST/DEV-PUT; where the documentation is silent the config decides (see config.py):
- POST: an omitted `Active` becomes `default_active`; an omitted `UnlockType` is a 400 unless
  `default_unlock_type` is set. `Value` is `{Id}` or, with `value_shape="record"`, the whole
  record plus `ToStringText`, `LocalizationDetails` and `CustomFields`.
- PUT (`Id` in the body): `put_semantics` "merge" keeps stored values of omitted fields;
  "strict" answers 400 `X is a required field` for an omitted required field and clears
  omitted optional ones (SectionContents, SystemId, Active -> default, UnlockType -> default
  when one is set); "replace" clears the same optional fields but keeps an omitted required
  one. The image changes only through NewImageUrl / ClearImageFile.
- DELETE by id: 404 when gone; refused while the section has lessons when
  `delete_blocked_by_children` (HTTP 500, or 200 with `WasSuccessful: false` when
  `delete_failure_as_200`); otherwise its lessons go with it.
- A POST/PUT naming a course that does not exist: 400 (`CourseId`, or `Course` with
  `foreign_key_name="navigation"`), or the generic 500 "Ooops" (`missing_course_error`).
Every write is throttled, may fail (`fail_rate`) and may be applied but answered badly
(`ambiguous_rate`).
"""

from __future__ import annotations

import json
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
from importer.sandbox.listing import (
    BadQuery,
    batch_read,
    course_filters,
    page,
    query_params,
    section_filters,
)
from importer.sandbox.state import Handler, SandboxState, fault_response, ooops_response
from importer.sandbox.store import SECTION_FIELDS, Store
from importer.sandbox.validation import REQUIRED, validate_section

SECTIONS = "/api/content/coursesections"
COURSES = "/api/content/courses"
ENTITY = "CourseSection"
#: Optional fields a strict or replacing PUT clears when the body leaves them out.
CLEARED_BY_PUT = ("SectionContents", "SystemId", "Active", "UnlockType")
#: Fields a partial list record leaves out (GET by id is always full).
PARTIAL_LIST_OMITS = ("SectionContents",)


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _not_found(what: str) -> JSONResponse:
    return _json({"Message": f"{what} was not found."}, 404)


def _write_ok(
    state: SandboxState, verb: str, value: Any, user: str, updated_on: str | None = None
) -> JSONResponse:
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
            "UpdatedOn": updated_on or state.store.now(),
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


def _gone(state: SandboxState, attempted: Any) -> Response:
    error = {"AttemptedValue": attempted, "Message": "record not found", "PropertyName": "Id"}
    return _write_failed(state, [error], 404)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _bad_body(state: SandboxState) -> Response:
    error = {
        "AttemptedValue": None,
        "Message": "the request body must be a JSON object",
        "PropertyName": "Body",
    }
    return _write_failed(state, [error])


def _listed(state: SandboxState, builder: Callable[[], dict[str, Any]]) -> Response:
    try:
        return _json(builder())
    except BadQuery as error:
        return _json({"Message": str(error)}, 400)


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
        grant = state.tokens.grant(
            form, state.config.token_ttl, request.headers.get("client_id") or None
        )
    except GrantError as error:
        return _json({"error": error.error, "error_description": error.description}, 400)
    return JSONResponse(grant, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# --- courses ---------------------------------------------------------------------------------
async def course_get(request: Request, state: SandboxState) -> Response:
    state.require(request, "Course-Read")
    try:
        course = state.store.course(int(request.path_params["id"]))
    except ValueError:
        course = None
    return _json(course) if course else _not_found(f"Course {request.path_params['id']}")


async def course_list(request: Request, state: SandboxState) -> Response:
    params = query_params(request)
    if "id" in params:  # batch read: /courses/?id=[101,103] answers a bare array
        state.require(request, "Course-Read")
        return batch_read(params["id"], state.store.course)
    state.require(request, "Course-List")

    def build() -> dict[str, Any]:
        tests = course_filters(params)
        courses = [c for c in state.store.courses() if all(t(c) for t in tests)]
        fields = tuple(courses[0]) if courses else ("Id", "Title", "DisplayOrder")
        return page(courses, params, fields, state.config)

    return _listed(state, build)


# --- sections: reads -------------------------------------------------------------------------
async def section_list(request: Request, state: SandboxState) -> Response:
    params = query_params(request)
    config = state.config
    if "id" in params:  # batch read: ?id=[1,2,3] answers a bare array
        role = "CourseSection-List" if config.batch_read_role == "list" else "CourseSection-Read"
        state.require(request, role)
        return batch_read(params["id"], state.store.section)
    state.require(request, "CourseSection-List")

    def build() -> dict[str, Any]:
        tests = section_filters(params)
        records = [r for r in state.store.sections() if all(t(r) for t in tests)]
        listing = page(records, params, SECTION_FIELDS, config)
        if config.list_fields == "partial":
            listing["Records"] = [
                {k: v for k, v in r.items() if k not in PARTIAL_LIST_OMITS}
                for r in listing["Records"]
            ]
        return listing

    return _listed(state, build)


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


# --- sections: writes ------------------------------------------------------------------------
def _course_exists(state: SandboxState) -> Callable[[int], bool]:
    return lambda course_id: state.store.course(course_id) is not None


def _required(config: SandboxConfig) -> tuple[str, ...]:
    if config.default_unlock_type is None:
        return REQUIRED
    return tuple(name for name in REQUIRED if name != "UnlockType")


def _validate(
    state: SandboxState, body: dict[str, Any], required: tuple[str, ...]
) -> tuple[dict[str, Any], Response | None]:
    """Checked values, or the answer to send instead (400, or 500 Ooops for a lost course)."""
    config = state.config
    course = body.get("CourseId")
    if (
        config.missing_course_error == "ooops"
        and isinstance(course, int)
        and not isinstance(course, bool)
        and state.store.course(course) is None
    ):
        return {}, ooops_response(500)
    values, errors = validate_section(
        body,
        course_exists=_course_exists(state),
        required=required,
        course_property="Course" if config.foreign_key_name == "navigation" else "CourseId",
    )
    return values, (_write_failed(state, errors) if errors else None)


def _ambiguous(state: SandboxState) -> Response | None:
    """After a write was applied: the bad answer to send instead, or None."""
    outcome = state.faults.ambiguous()
    if outcome is None:
        return None
    state.stats.bump(state.stats.faults, f"ambiguous_{outcome}")
    return (
        DroppedResponse() if outcome == "drop" else fault_response(outcome, state.config.fault_body)
    )


def _as_value(state: SandboxState, section: dict[str, Any]) -> dict[str, Any]:
    if state.config.value_shape != "record":
        return {"Id": section["Id"]}
    return {
        **section,
        "ToStringText": section["Title"],
        "LocalizationDetails": None,
        "CustomFields": None,
    }


async def section_post(request: Request, state: SandboxState) -> Response:
    user = state.require(request, "CourseSection-Create")
    body = await _body(request)
    if body is None:
        return _bad_body(state)
    values, refusal = _validate(state, body, _required(state.config))
    if refusal is not None:
        return refusal
    values.setdefault("Active", state.config.default_active)
    values.setdefault("UnlockType", state.config.default_unlock_type)
    section = state.store.insert(values, user)
    state.stats.add("sections_created")
    return _ambiguous(state) or _write_ok(
        state, "created", _as_value(state, section), user, section["UpdatedOn"]
    )


async def section_put(request: Request, state: SandboxState) -> Response:
    """Update: `Id` in the body; what an omitted field means depends on `put_semantics`."""
    user = state.require(request, "CourseSection-Edit")
    body = await _body(request)
    if body is None:
        return _bad_body(state)
    config = state.config
    strict = config.put_semantics == "strict"
    required = ("Id", *_required(config)) if strict else ("Id",)
    values, refusal = _validate(state, body, required)
    if refusal is not None:
        return refusal
    if state.store.section(values["Id"]) is None:
        return _gone(state, values["Id"])
    if config.put_semantics != "merge":
        cleared = {
            "SectionContents": None,
            "SystemId": None,
            "Active": config.default_active,
            "UnlockType": config.default_unlock_type,
        }
        for name in CLEARED_BY_PUT:
            keep = name == "UnlockType" and cleared[name] is None  # no default: keep it
            if name not in values and not keep:
                values[name] = cleared[name]
    section = state.store.update(values["Id"], values, user)
    return _ambiguous(state) or _write_ok(
        state, "updated", {"Id": section["Id"]}, user, section["UpdatedOn"]
    )


async def section_delete(request: Request, state: SandboxState) -> Response:
    user = state.require(request, "CourseSection-Delete")
    section_id = _section_id(request)
    if section_id is None or state.store.section(section_id) is None:
        return _gone(state, request.path_params["id"])
    config = state.config
    lessons = state.store.children(section_id)
    if config.delete_blocked_by_children and lessons > 0:
        status = 200 if config.delete_failure_as_200 else 500
        message = f"{ENTITY} cannot be deleted while it has {lessons} lesson(s)."
        body = {"Status": 500, "Message": message, "Value": None, "Errors": None}
        return _json({**body, "WasSuccessful": False}, status)
    state.store.delete(section_id)
    return _ambiguous(state) or _write_ok(state, "deleted", {"Id": section_id}, user)


# --- control API -----------------------------------------------------------------------------
async def control_stats(request: Request, state: SandboxState) -> Response:
    return _json(state.stats.snapshot(state.store.count()))


async def control_reset(request: Request, state: SandboxState) -> Response:
    """Empty the sandbox; `?config=1` also restores every run-time option's start value."""
    restore = query_params(request).get("config", "").lower() in ("1", "true")
    state.reset(config=restore)
    return _json({"reset": True, "config_restored": restore})


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
        state.store.reseed()
    return _json(state.config.as_dict())


async def control_sections(request: Request, state: SandboxState) -> Response:
    return _json(state.store.sections())


async def control_children(request: Request, state: SandboxState) -> Response:
    """POST {"lessons": N}: the section now holds N lessons (DELETE may refuse it)."""
    section_id = _section_id(request)
    body = await _body(request)
    lessons = body.get("lessons") if body else None
    if not isinstance(lessons, int) or isinstance(lessons, bool) or lessons < 0:
        return _json({"Message": 'send {"lessons": N} with N a whole number >= 0'}, 400)
    if section_id is None or state.store.section(section_id) is None:
        return _not_found(f"{ENTITY} {request.path_params['id']}")
    state.store.set_children(section_id, lessons)
    return _json({"Id": section_id, "lessons": lessons})


async def control_courses(request: Request, state: SandboxState) -> Response:
    """POST {"Id": 900, "Title": "..."}: add (or rename) a course."""
    body = await _body(request) or {}
    course_id, title = body.get("Id"), body.get("Title")
    if not isinstance(course_id, int) or isinstance(course_id, bool) or course_id < 1:
        return _json({"Message": "Id: a whole number >= 1 is required"}, 400)
    if not isinstance(title, str) or not title.strip():
        return _json({"Message": "Title: a non-empty text is required"}, 400)
    state.store.add_course(course_id, title.strip())
    return _json(state.store.course(course_id))


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
            Route("/sandbox/sections/{id}/children", _control(control_children), methods=["POST"]),
            Route("/sandbox/courses", _control(control_courses), methods=["POST"]),
        ]
    app = Starlette(routes=routes)
    app.state.sandbox = SandboxState(config, store)
    return app
