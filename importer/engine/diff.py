"""Field by field: what a row would change in its server section (--update, undo, reconcile).

Values are compared as the API stores them (whole numbers, booleans, text), whatever shape
the record came in. A field the row does not carry is not compared and is kept: an update's
body is the server's record with the row's values laid over it, so a PUT that replaces the
whole record (the live API's) wipes nothing the sheet does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer.columns import BY_FIELD, SENT_FIELDS

#: Fields that ask the server to do something with the image rather than hold a value: sent
#: when the row has them, never compared (the server keeps a stored file name, not the URL).
IMAGE_INSTRUCTIONS: tuple[str, ...] = ("NewImageUrl", "ClearImageFile")
#: The fields a section stores and a PUT carries (the sheet's fields less the instructions).
STORED_FIELDS: tuple[str, ...] = tuple(f for f in SENT_FIELDS if f not in IMAGE_INSTRUCTIONS)
#: UnlockType value whose UnlockAfterDays means something (other types: compared as 0).
TIMED = 3


def stored_value(field: str, value: object) -> object:
    """`value` of `field` as the API stores it (None and "" are the same: nothing)."""
    if isinstance(value, Mapping):  # an enum as {"Value": 3, "Name": "Timed"}
        value = value.get("Value", value.get("Id"))
    kind = BY_FIELD[field].kind if field in BY_FIELD else "text"
    if value is None or value == "":
        return False if kind == "boolean" else None
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if field in ("CourseId", "DisplayOrder", "UnlockType", "UnlockAfterDays", "Id"):
        try:
            return int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return value
    return str(value)


def stored_values(values: Mapping[str, Any]) -> dict[str, object]:
    """The STORED_FIELDS that a record or row has, as the API stores them; UnlockAfterDays
    is 0 unless the section is Timed."""
    out = {field: stored_value(field, values[field]) for field in STORED_FIELDS if field in values}
    timed = stored_value("UnlockType", values.get("UnlockType")) == TIMED
    if "UnlockAfterDays" in out and not timed:
        out["UnlockAfterDays"] = 0
    return out


def changes(
    record: Mapping[str, Any], wanted: Mapping[str, Any]
) -> dict[str, tuple[object, object]]:
    """field -> (server's value, wanted value) for every field of `wanted` that differs from
    `record`; fields `record` lacks (a partial listing) are not judged."""
    have = stored_values(record)
    want = stored_values(wanted)
    return {
        field: (have[field], value)
        for field, value in want.items()
        if field in have and have[field] != value
    }


def describe(diff: Mapping[str, tuple[object, object]]) -> str:
    """`Title: "Intro" → "Introduction"; DisplayOrder: 2 → 3` (the plan's changes column)."""
    return "; ".join(
        f"{field}: {_shown(old)} → {_shown(new)}" for field, (old, new) in diff.items()
    )


def _shown(value: object) -> str:
    if value is None:
        return "(blank)"
    if isinstance(value, str):
        short = value if len(value) <= 60 else value[:57] + "..."
        return '"' + short.replace('"', '\\"') + '"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def update_body(
    record: Mapping[str, Any], row: Mapping[str, Any], section_id: int
) -> dict[str, object]:
    """The PUT body: the section's stored fields, the row's values over them, and its Id."""
    body: dict[str, object] = {
        field: stored_value(field, record[field])
        for field in STORED_FIELDS
        if record.get(field) is not None
    }
    body.update(row)
    body["Id"] = section_id
    return body


def restore_body(before: Mapping[str, Any], section_id: int) -> dict[str, object]:
    """The PUT body that puts a section back to its before-image."""
    body = {field: before[field] for field in STORED_FIELDS if field in before}
    body["Id"] = section_id
    return body
