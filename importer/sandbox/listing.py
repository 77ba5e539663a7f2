"""Paged lists, filters and batch reads, as DEV-LIST describes them.

`page` is 1-based, `size` defaults to 25 (above `max_page_size`, when set, it is clamped or
refused with a 400), `orderBy` is any record field (case-insensitive, default Id). `dir` is
ambiguous in the docs; this sandbox reads `1`, `0`, `asc`/`ascending` as ascending and `-1`,
`desc`/`descending` as descending, i.e. developers.nexudus.com wins where it disagrees with
learn.nexudus.com (which says 1 is descending). Query parameter names are matched
case-insensitively. String filters (`CourseSection_Title`, `CourseSection_Course_Title`,
`CourseSection_SectionContents`, `Course_Title`) match a case-insensitive substring;
`CourseSection_SystemId` and the number filters match exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from importer.sandbox.config import SandboxConfig

Record = dict[str, Any]
Test = Callable[[Record], bool]


class BadQuery(ValueError):
    """A query parameter the server cannot parse (-> 400)."""


def query_params(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.query_params.items()}


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


def _or_zero(value: Any) -> Any:
    return 0 if value is None else value


def page_size(params: dict[str, str], config: SandboxConfig) -> int:
    size = _int_param(params, "size", 25, 1)
    limit = config.max_page_size
    if limit > 0 and size > limit:
        if config.page_size_overflow == "error":
            raise BadQuery(f"size: must be at most {limit}")
        return limit
    return size


def page(
    records: list[Record], params: dict[str, str], fields: tuple[str, ...], config: SandboxConfig
) -> dict[str, Any]:
    """The list envelope for one page of `records` (filtered already)."""
    number = _int_param(params, "page", 1, 1)
    size = page_size(params, config)
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
    start = (number - 1) * size
    chunk = records[start : start + size]
    pages = math.ceil(total / size) if total else 0
    return {
        "Records": chunk,
        "CurrentPage": number,
        "CurrentPageSize": size,
        "CurrentOrderField": order,
        "CurrentSortDirection": direction,
        "FirstItem": start + 1 if chunk else 0,
        "LastItem": start + len(chunk),
        "TotalItems": total,
        "TotalPages": pages,
        "HasNextPage": number < pages,
        "HasPreviousPage": number > 1,
        "PageNumber": number,
        "PageSize": size,
    }


def _exact_int(params: dict[str, str], tests: list[Test], param: str, field: str) -> None:
    if param.lower() in params:
        raw = params[param.lower()]
        try:
            wanted = int(raw)
        except ValueError:
            raise BadQuery(f"{param}: '{raw}' is not a whole number") from None
        tests.append(lambda r: r[field] == wanted)


def _contains(params: dict[str, str], tests: list[Test], param: str, field: str) -> None:
    if param.lower() in params:
        wanted = params[param.lower()].lower()
        tests.append(lambda r: wanted in (r[field] or "").lower())


def section_filters(params: dict[str, str]) -> list[Test]:
    tests: list[Test] = []
    _exact_int(params, tests, "CourseSection_Course", "CourseId")
    _exact_int(params, tests, "CourseSection_DisplayOrder", "DisplayOrder")
    _exact_int(params, tests, "CourseSection_UnlockType", "UnlockType")
    _exact_int(params, tests, "CourseSection_UnlockAfterDays", "UnlockAfterDays")
    _contains(params, tests, "CourseSection_Title", "Title")
    _contains(params, tests, "CourseSection_Course_Title", "CourseTitle")
    _contains(params, tests, "CourseSection_SectionContents", "SectionContents")
    if "coursesection_systemid" in params:
        system_id = params["coursesection_systemid"]
        tests.append(lambda r: r["SystemId"] == system_id)
    if "coursesection_active" in params:
        raw = params["coursesection_active"].lower()
        if raw not in ("true", "false", "1", "0"):
            raise BadQuery(f"CourseSection_Active: '{raw}' is not true or false")
        active = raw in ("true", "1")
        tests.append(lambda r: r["Active"] is active)
    for bound in ("from_", "to_"):
        for field in ("DisplayOrder", "UnlockAfterDays"):
            name = f"{bound}CourseSection_{field}"
            if name.lower() in params:
                try:
                    limit = int(params[name.lower()])
                except ValueError:
                    raise BadQuery(f"{name}: not a whole number") from None
                tests.append(_bounded(field, limit, lower=bound == "from_"))
    return tests


def _bounded(field: str, limit: int, *, lower: bool) -> Test:
    if lower:
        return lambda r: bool(r[field] >= limit)
    return lambda r: bool(r[field] <= limit)


def course_filters(params: dict[str, str]) -> list[Test]:
    tests: list[Test] = []
    _contains(params, tests, "Course_Title", "Title")
    return tests


def batch_read(raw: str, fetch: Callable[[int], Record | None]) -> Response:
    """`?id=[1,2,3]`: the records that exist, as a bare JSON array (unknown ids left out)."""
    wanted = [p.strip() for p in raw.strip("[]").split(",") if p.strip()]
    if not all(p.lstrip("-").isdigit() for p in wanted):
        return JSONResponse({"Message": "id: expected a list of whole numbers"}, status_code=400)
    found = (fetch(int(p)) for p in wanted)
    return JSONResponse([record for record in found if record is not None])
