"""`sections export`: the server's sections as a sheet in the template's format.

One row per section, ordered by course then display order, under the template's friendly
headers (importer.columns), plus `Section Id`. The `Course` column carries the course's name
for reading; `Unlock after days` is filled only for Timed sections; `Thumbnail URL` stays blank
because the API returns a stored file name, not the URL it was loaded from. An export of an
untouched course validates with no error, and `sections plan` of it finds every row there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from importer.client import NexudusClient
from importer.columns import COLUMNS, SECTION_ID_HEADER, UNLOCK_TYPES
from importer.engine.match import STAMP_PREFIX
from importer.errors import ConfigError
from importer.safe_io import atomic_write_text, neutralise
from importer.templates import NO, YES, headers

TIMED = 3
THUMBNAIL_NOTE = (
    "Thumbnail URL is blank in an export: the API keeps a stored file name, not the URL the "
    "image was loaded from. Leave it blank to keep the current image."
)


def export_frame(client: NexudusClient, course_ids: Iterable[int] | None) -> pd.DataFrame:
    """The sections of `course_ids` (None: every course of the account) as the sheet's rows:
    friendly headers, then `Section Id`. ConfigError names a course that does not exist."""
    courses = {
        int(c["Id"]): str(c.get("Title") or c.get("Name") or "") for c in client.list_courses()
    }
    wanted = sorted(courses) if course_ids is None else sorted(set(course_ids))
    missing = [c for c in wanted if c not in courses]
    if missing:
        raise ConfigError(f"course {missing[0]} was not found: check --course")
    rows = []
    for course_id in wanted:
        records = client.list_sections(course_id)
        for record in sorted(records, key=lambda r: (int(r.get("DisplayOrder") or 0), r["Id"])):
            full = (
                record
                if "SectionContents" in record
                else (client.get_section(int(record["Id"])) or record)
            )
            rows.append(_row(full, courses[course_id]))
    return pd.DataFrame(rows, columns=[*headers(), SECTION_ID_HEADER])


def _row(record: dict[str, Any], course_name: str) -> list[str]:
    unlock = int(record.get("UnlockType") or 1)
    days = record.get("UnlockAfterDays")
    values = {
        "CourseId": str(record["CourseId"]),
        "Title": str(record.get("Title") or ""),
        "DisplayOrder": str(record.get("DisplayOrder") or 0),
        "UnlockType": UNLOCK_TYPES.get(unlock, str(unlock)),
        "UnlockAfterDays": str(days) if unlock == TIMED and days is not None else "",
        "SectionContents": str(record.get("SectionContents") or ""),
        "Active": YES if record.get("Active") else NO,
        "CourseName": course_name,
        "SystemId": _own_system_id(record.get("SystemId")),
    }
    return [values.get(column.field, "") for column in COLUMNS] + [str(record["Id"])]


def _own_system_id(value: object) -> str:
    """The section's System ID, unless it is this tool's provenance stamp (not the user's)."""
    text = str(value or "")
    return "" if text.startswith(STAMP_PREFIX) else text


def write_export(frame: pd.DataFrame, path: Path) -> Path:
    """Write the frame as CSV (UTF-8 with BOM, as Excel opens it) or as the template's
    workbook (drop-downs, header comments, Instructions sheet) by the file's suffix."""
    suffix = path.suffix.lower()
    safe = frame.map(neutralise)  # a title starting with "=" stays text in a spreadsheet
    if suffix == ".csv":
        atomic_write_text(path, safe.to_csv(index=False), encoding="utf-8-sig")
        return path
    if suffix != ".xlsx":
        raise ConfigError(f"{path.name}: export to a .csv or .xlsx file")
    from importer.safe_io import atomic_write_bytes
    from importer.templates import INSTRUCTIONS_SHEET, SHEET_NAME, build_workbook, workbook_bytes

    rows = [headers(), *safe[headers()].astype(str).values.tolist()]
    book = build_workbook(rows)
    sheet = book[SHEET_NAME]
    column = len(headers()) + 1
    sheet.cell(1, column, SECTION_ID_HEADER).font = sheet.cell(1, 1).font.copy()
    for offset, value in enumerate(safe[SECTION_ID_HEADER], start=2):
        sheet.cell(offset, column, int(value))
    notes = book[INSTRUCTIONS_SHEET]
    notes.append([])
    notes.append(["Exported sheet", THUMBNAIL_NOTE])
    notes.append(["Section Id", "The section's Id in Nexudus (for reading; not imported)."])
    atomic_write_bytes(path, workbook_bytes(book))
    return path
