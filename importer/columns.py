"""The column dictionary: the only place the spreadsheet's columns are described.

The reader maps headers with it, the schema types fields with it, templates and docs are
generated from it. Add a column here and every stage learns about it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["integer", "text", "html", "unlock_type", "boolean", "url"]

#: UnlockType values of the API (enum eLessonUnlockType) and their names.
UNLOCK_TYPES: dict[int, str] = {1: "Immediate", 2: "Sequential", 3: "Timed"}
IMMEDIATE, SEQUENTIAL, TIMED = 1, 2, 3


@dataclass(frozen=True)
class Column:
    """One API field and how people write it in a spreadsheet."""

    field: str  # API name, PascalCase, as sent in the POST body
    header: str  # friendly header used in templates and reports
    kind: Kind
    required: bool
    description: str
    aliases: tuple[str, ...] = ()
    default: object | None = None  # value used when the cell is blank (None: no default)
    examples: tuple[str, ...] = ()  # template example values, one per unlock type row
    sent: bool = True  # False: read and checked, never part of the POST body
    stands_for: str | None = None  # a required field this column may replace (Course -> CourseId)


COLUMNS: tuple[Column, ...] = (
    Column(
        field="CourseId",
        header="Course ID",
        kind="integer",
        required=True,
        description="Id of the Nexudus course the section belongs to (a whole number).",
        aliases=("course id", "course_id", "courseid", "course number"),
        examples=("101", "101", "101"),
    ),
    Column(
        field="Title",
        header="Section title",
        kind="text",
        required=True,
        description="Title members see for this section (milestone).",
        aliases=("title", "section", "section name", "name", "milestone"),
        examples=("Welcome and orientation", "Core skills", "Final project"),
    ),
    Column(
        field="DisplayOrder",
        header="Display order",
        kind="integer",
        required=True,
        description="Position within the course; smaller numbers come first. Unique per course.",
        aliases=("order", "position", "sort order", "sequence", "display_order"),
        examples=("1", "2", "3"),
    ),
    Column(
        field="UnlockType",
        header="Unlock type",
        kind="unlock_type",
        required=True,
        description=(
            "When the section opens: Immediate (on enrolment), Sequential (after the previous "
            "section is completed) or Timed (a number of days after enrolment). 1, 2, 3 also work."
        ),
        aliases=("unlock", "unlock rule", "unlocktype", "unlock_type"),
        examples=("Immediate", "Sequential", "Timed"),
    ),
    Column(
        field="UnlockAfterDays",
        header="Unlock after days",
        kind="integer",
        required=False,
        description="Days after enrolment before a Timed section opens (0 to 3650). "
        "Leave blank for Immediate and Sequential sections.",
        aliases=("days", "unlock days", "unlock after", "after days", "delay days"),
        default=0,
        examples=("", "", "14"),
    ),
    Column(
        field="SectionContents",
        header="Introduction (HTML)",
        kind="html",
        required=False,
        description="Introduction shown at the top of the section; HTML is allowed.",
        aliases=("introduction", "intro", "description", "contents", "section contents", "html"),
        examples=("<p>Start here.</p>", "", "<p>Put it all together.</p>"),
    ),
    Column(
        field="Active",
        header="Active",
        kind="boolean",
        required=False,
        description="Whether enrolled members can see the section (Yes or No; blank means Yes).",
        aliases=("is active", "enabled", "visible", "published"),
        default=True,
        examples=("Yes", "Yes", "No"),
    ),
    Column(
        field="NewImageUrl",
        header="Thumbnail URL",
        kind="url",
        required=False,
        description="Public http(s) address of a JPG, PNG or GIF thumbnail (at most 10 MB).",
        aliases=("thumbnail", "image", "image url", "thumbnail url", "picture", "new image url"),
        examples=("https://images.example.com/welcome.png", "", ""),
    ),
    Column(
        field="ClearImageFile",
        header="Remove thumbnail",
        kind="boolean",
        required=False,
        description="Yes removes an existing thumbnail. Leave blank when giving a Thumbnail URL.",
        aliases=("remove image", "clear image", "clear image file", "remove thumbnail"),
        default=False,
        examples=("No", "No", "No"),
    ),
    Column(
        field="CourseName",
        header="Course",
        kind="text",
        required=False,
        description=(
            "The course's name, instead of (or beside) Course ID; it is looked up on the server "
            "when the import is planned (trimmed, any case). With both filled, they must agree."
        ),
        aliases=("course name", "course title", "coursename"),
        examples=("", "", ""),
        sent=False,
        stands_for="CourseId",
    ),
    Column(
        field="SystemId",
        header="System ID",
        kind="text",
        required=False,
        description="Key of the section in the system the course comes from (optional text); "
        "unique within a course.",
        aliases=("external id", "legacy id", "system id", "systemid", "system_id"),
        examples=("", "", ""),
    ),
    Column(
        field="Example",
        header="Example",
        kind="boolean",
        required=False,
        description="Yes marks an example row of the template: delete those rows before importing.",
        aliases=("example row", "is example"),
        default=False,
        examples=("Yes", "Yes", "Yes"),  # so a template imported as it is sends nothing
        sent=False,
    ),
)

BY_FIELD: dict[str, Column] = {column.field: column for column in COLUMNS}
FIELDS: tuple[str, ...] = tuple(column.field for column in COLUMNS)
REQUIRED_FIELDS: tuple[str, ...] = tuple(c.field for c in COLUMNS if c.required)
#: Fields that become part of the POST body (the others are read, checked and kept).
SENT_FIELDS: tuple[str, ...] = tuple(c.field for c in COLUMNS if c.sent)
#: Required field -> the optional fields that may stand instead of it.
STAND_INS: dict[str, tuple[str, ...]] = {
    field: tuple(c.field for c in COLUMNS if c.stands_for == field) for field in REQUIRED_FIELDS
}

#: Columns that results.xlsx / errors.csv add to a person's sheet. They are ignored (no
#: unknown_column warning) when such a file is fixed and imported again.
REPORT_COLUMNS: tuple[str, ...] = ("Error", "Status", "Section Id")
#: The section's Id in Nexudus (results.xlsx, `sections export`): `--update` matches by it.
SECTION_ID_HEADER = REPORT_COLUMNS[2]

_SEPARATORS = re.compile(r"[\s_\-]+")


def header_key(text: str) -> str:
    """Normalise a header for matching: case-, space-, underscore- and hyphen-insensitive."""
    return _SEPARATORS.sub("", str(text)).casefold()


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for column in COLUMNS:
        for name in (column.field, column.header, *column.aliases):
            key = header_key(name)
            owner = lookup.setdefault(key, column.field)
            if owner != column.field:  # pragma: no cover - guards the dictionary itself
                raise ValueError(f"header {name!r} maps to both {owner} and {column.field}")
    return lookup


_LOOKUP = _build_lookup()


def field_for_header(header: str) -> str | None:
    """The API field a spreadsheet header stands for, or None when it is not ours."""
    return _LOOKUP.get(header_key(header))


#: How alike (difflib ratio of header keys) a header must be to a known one to be suggested.
SUGGEST_CUTOFF = 0.8


def suggest_header(header: str) -> str | None:
    """The friendly header a near-miss header probably meant ("Secton title" -> "Section
    title"), by edit similarity over every accepted spelling; None when nothing is close."""
    import difflib

    key = header_key(header)
    if not key or key in _LOOKUP:
        return None
    close = difflib.get_close_matches(key, list(_LOOKUP), n=1, cutoff=SUGGEST_CUTOFF)
    return BY_FIELD[_LOOKUP[close[0]]].header if close else None


def resolve_column_map(column_map: Mapping[str, str]) -> dict[str, str]:
    """A person's header mappings ("Module name" -> "Section title") as header key -> field.

    Raises ValueError naming the first target that is no known column.
    """
    resolved: dict[str, str] = {}
    for source, target in column_map.items():
        field = field_for_header(target)
        if field is None:
            raise ValueError(
                f'--column "{source}={target}": "{target}" is not a known column '
                f"(use a header such as {', '.join(c.header for c in COLUMNS[:3])})"
            )
        resolved[header_key(source)] = field
    return resolved


def course_name_key(name: str) -> str:
    """Course names are compared trimmed and case-insensitively (validation and planning)."""
    return name.strip().casefold()


def accepted_headers(field: str) -> tuple[str, ...]:
    """Headers accepted for a field, friendly header first (for error messages and docs)."""
    column = BY_FIELD[field]
    return (column.header, column.field, *column.aliases)
