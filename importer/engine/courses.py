"""Courses by name: the `Course` column stands for (or checks) `Course ID` at plan time.

One paged listing of the account's courses; names are compared trimmed and case-insensitively
(columns.course_name_key, as validation compares them). A name no course has is
`course_not_found`, one that two or more courses share is `course_ambiguous`, and a row
with both columns whose Course ID is another course is `course_not_found`: each names the
row's text and the candidates, before anything is written.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from importer.columns import course_name_key
from importer.engine.actions import Action, ActionKind, PlannedRow
from importer.engine.ledger import payload_hash


class NamedRow(PlannedRow, Protocol):
    """A valid row (importer.validate.ValidRow): its course may be known only by name."""

    @property
    def course_name(self) -> str | None: ...
    @property
    def needs_course(self) -> bool: ...
    def with_course(self, course_id: int) -> Any: ...


def needs_names(rows: Iterable[NamedRow]) -> bool:
    """True when some row names its course (the account's courses must be listed)."""
    return any(row.course_name for row in rows)


def course_names(courses: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """Course Id -> name, from the records of a course listing."""
    names: dict[int, str] = {}
    for course in courses:
        name = course.get("Title") or course.get("Name")
        if course.get("Id") is not None and isinstance(name, str):
            names[int(course["Id"])] = name.strip()
    return names


def resolve(rows: Sequence[NamedRow], names: Mapping[int, str]) -> tuple[list[Any], list[Action]]:
    """(the rows with their course Id, the decisions of rows whose name does not resolve)."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for course_id, name in sorted(names.items()):
        by_key[course_name_key(name)].append(course_id)
    resolved: list[Any] = []
    refused: list[Action] = []
    for row in rows:
        if not row.course_name:
            resolved.append(row)
            continue
        found = by_key.get(course_name_key(row.course_name), [])
        if row.needs_course and len(found) == 1:
            resolved.append(row.with_course(found[0]))
        elif not row.needs_course and row.key[0] in found:
            resolved.append(row)
        else:
            refused.append(_refusal(row, found, names))
    return resolved, refused


def _refusal(row: NamedRow, found: list[int], names: Mapping[int, str]) -> Action:
    text = row.course_name or ""
    if len(found) >= 2:
        kind = ActionKind.COURSE_AMBIGUOUS
        listed = ", ".join(f"{c} '{names[c]}'" for c in found)
        reason = f"{len(found)} courses are named '{text}' ({listed}): use the Course ID column"
    elif found and not row.needs_course:
        kind = ActionKind.COURSE_NOT_FOUND
        reason = (
            f"Course ID {row.key[0]} is not the course named '{text}' (that is "
            f"{found[0]}): correct one of the two"
        )
    else:
        kind = ActionKind.COURSE_NOT_FOUND
        close = difflib.get_close_matches(text, list(names.values()), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        reason = f"no course is named '{text}'{hint} (or use the Course ID column)"
    return Action(
        kind,
        row.source_row,
        row.key,
        str(row.payload.get("Title") or ""),
        after=dict(row.payload),
        reason=reason,
        request_hash=payload_hash(row.payload),
    )
