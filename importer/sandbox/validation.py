"""Server-side validation of CourseSection bodies, reporting every property error at once.

Rules beyond the documented required fields are the conservative reading of the API notes:
UnlockType 1..3, UnlockAfterDays >= 0, CourseId must exist, NewImageUrl must be an http(s)
URL of a JPG/JPEG/PNG/GIF, and NewImageUrl with ClearImageFile true is contradictory.
DisplayOrder is *not* required to be unique (the real API does not enforce it).
With `course_property="Course"` (live accounts name a foreign key by its navigation name) a
missing or unknown CourseId is reported as `Course: is a required field`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

REQUIRED = ("CourseId", "Title", "DisplayOrder", "UnlockType", "UnlockAfterDays")
INT_FIELDS = ("Id", "CourseId", "DisplayOrder", "UnlockType", "UnlockAfterDays")
STR_FIELDS = ("Title", "SectionContents", "NewImageUrl", "SystemId")
BOOL_FIELDS = ("Active", "ClearImageFile")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")

Error = dict[str, Any]


def _error(prop: str, message: str, attempted: Any) -> Error:
    return {"AttemptedValue": attempted, "Message": message, "PropertyName": prop}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_section(
    body: dict[str, Any],
    *,
    course_exists: Callable[[int], bool],
    required: tuple[str, ...] = REQUIRED,
    course_property: str = "CourseId",
) -> tuple[dict[str, Any], list[Error]]:
    """Check a POST/PUT body; return (values to store, errors). Unknown keys are ignored."""
    errors: list[Error] = []
    values: dict[str, Any] = {}
    missing: set[str] = set()
    for name in required:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.add(name)
            shown = course_property if name == "CourseId" else name
            errors.append(_error(shown, "is a required field", value))

    for name in INT_FIELDS:
        if name in body and body[name] is not None and name not in missing:
            if _is_int(body[name]):
                values[name] = body[name]
            else:
                errors.append(_error(name, "must be a whole number", body[name]))
    for name in STR_FIELDS:
        if name in body and body[name] is not None and name not in missing:
            if isinstance(body[name], str):
                values[name] = body[name]
            else:
                errors.append(_error(name, "must be text", body[name]))
    for name in BOOL_FIELDS:
        if name in body and body[name] is not None:
            if isinstance(body[name], bool):
                values[name] = body[name]
            else:
                errors.append(_error(name, "must be true or false", body[name]))

    if "Title" in values:
        values["Title"] = values["Title"].strip()
    if "UnlockType" in values and values["UnlockType"] not in (1, 2, 3):
        errors.append(
            _error(
                "UnlockType",
                "must be 1 (Immediate), 2 (Sequential) or 3 (Timed)",
                values.pop("UnlockType"),
            )
        )
    if "UnlockAfterDays" in values and values["UnlockAfterDays"] < 0:
        errors.append(_error("UnlockAfterDays", "must be 0 or more", values.pop("UnlockAfterDays")))
    if "CourseId" in values and not course_exists(values["CourseId"]):
        message = (
            f"course {values['CourseId']} does not exist"
            if course_property == "CourseId"
            else "is a required field"
        )
        errors.append(_error(course_property, message, values.pop("CourseId")))
    url = values.get("NewImageUrl")
    if url is not None:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            errors.append(_error("NewImageUrl", "must be an http or https URL", url))
        elif not parts.path.lower().endswith(IMAGE_SUFFIXES):
            errors.append(_error("NewImageUrl", "must point to a JPG, JPEG, PNG or GIF image", url))
        elif values.get("ClearImageFile") is True:
            errors.append(
                _error("ClearImageFile", "cannot be true when NewImageUrl is given", True)
            )
        else:
            values["ImageFileName"] = parts.path.rsplit("/", 1)[-1]
    if values.get("ClearImageFile") is True and "ImageFileName" not in values:
        values["ImageFileName"] = None
    return values, errors
