"""Spreadsheet templates (CSV and XLSX), generated from the column dictionary.

Nothing here is typed by hand: headers, example rows, drop-down choices, header comments and
the Instructions sheet all come from `importer.columns`, so adding a column there updates the
templates (`make templates` regenerates the committed copies, a test checks they are current).

The XLSX output is deterministic (fixed document timestamps and zip entry times), so
regenerating an unchanged template gives the same bytes and a clean `git status`.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from importer.columns import COLUMNS, UNLOCK_TYPES, Column, accepted_headers, header_key
from importer.safe_io import atomic_write_bytes

Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")

SHEET_NAME = "Sections"
INSTRUCTIONS_SHEET = "Instructions"
#: Words the templates use for boolean cells (the reader accepts more, e.g. true/false, 1/0).
YES, NO = "Yes", "No"
#: Drop-downs cover this many data rows below the header.
VALIDATED_ROWS = 1000
#: Fixed document and zip-entry timestamps: regenerating gives identical bytes.
FIXED_TIMESTAMP = datetime(2026, 1, 1, 0, 0, 0)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
INSTRUCTION_HEADERS: tuple[str, ...] = (
    "Column",
    "Required",
    "Also accepted as",
    "Default",
    "Description",
)

_MIN_WIDTH, _MAX_WIDTH = 12, 60


def headers() -> list[str]:
    """Friendly headers in dictionary order: the first row of every template."""
    return [column.header for column in COLUMNS]


def template_rows() -> list[list[str]]:
    """The header row followed by one example row per unlock type (from Column.examples)."""
    count = len(UNLOCK_TYPES)
    for column in COLUMNS:
        if len(column.examples) != count:  # guards the dictionary itself
            raise ValueError(f"{column.field} needs {count} examples, has {len(column.examples)}")
    examples = [[column.examples[i] for column in COLUMNS] for i in range(count)]
    return [headers(), *examples]


def format_default(column: Column) -> str:
    """A column's default as a person would type it ("" when there is none)."""
    if column.default is None:
        return ""
    if isinstance(column.default, bool):
        return YES if column.default else NO
    return str(column.default)


def other_headers(column: Column) -> list[str]:
    """Headers also accepted for a column, one per distinct spelling (after normalising)."""
    seen = {header_key(column.header)}
    others = []
    for name in accepted_headers(column.field)[1:]:
        if header_key(name) not in seen:
            seen.add(header_key(name))
            others.append(name)
    return others


def instruction_rows() -> list[list[str]]:
    """The Instructions sheet as rows: one per column, then notes on the accepted values."""
    rows = [list(INSTRUCTION_HEADERS)]
    for column in COLUMNS:
        rows.append(
            [
                column.header,
                "required" if column.required else "optional",
                ", ".join(other_headers(column)),
                format_default(column),
                column.description,
            ]
        )
    unlock = ", ".join(f"{name} ({number})" for number, name in UNLOCK_TYPES.items())
    yes_no = ", ".join(c.header for c in COLUMNS if c.kind == "boolean")
    rows += [
        [],
        ["Unlock types", unlock],
        ["Yes/No columns", f"{yes_no}: {YES} or {NO}"],
        ["Headers", "Matching ignores case, spaces, underscores and hyphens."],
    ]
    return rows


# --- CSV ---------------------------------------------------------------------------------


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    """Rows as CSV text (comma-separated, minimal quoting, "\\n" line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def csv_template_text() -> str:
    """The CSV template as text (what `sections template` prints)."""
    return csv_text(template_rows())


def write_csv(path: str | Path, rows: Sequence[Sequence[str]]) -> Path:
    """Write rows to a UTF-8 CSV file atomically."""
    atomic_write_bytes(path, csv_text(rows).encode("utf-8"))
    return Path(path)


def write_csv_template(path: str | Path) -> Path:
    """Write the CSV template (headers and example rows) to `path`."""
    return write_csv(path, template_rows())


# --- XLSX --------------------------------------------------------------------------------


def _cell_value(column: Column, text: str) -> object:
    """What to store in a cell: whole numbers as numbers (no "number stored as text")."""
    if text == "":
        return None
    if column.kind == "integer" and text.lstrip("-").isdigit():
        return int(text)
    return text


def _width(values: Sequence[str]) -> int:
    longest = max((len(v) for v in values), default=0)
    return min(_MAX_WIDTH, max(_MIN_WIDTH, longest + 2))


def _header_comment(column: Column) -> Comment:
    status = "Required." if column.required else "Optional."
    default = format_default(column)
    if default:
        status += f" Blank means {default}."
    comment = Comment(f"{column.description}\n{status}", "sections")
    comment.width, comment.height = 300, 110
    return comment


def _add_dropdown(sheet: Worksheet, letter: str, choices: Sequence[str], hint: str) -> None:
    """A list drop-down on one column's data cells (a warning, so other spellings still go)."""
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="Unexpected value",
        error=hint,
    )
    validation.add(f"{letter}2:{letter}{VALIDATED_ROWS + 1}")
    sheet.add_data_validation(validation)


def _add_whole_number(sheet: Worksheet, letter: str, header: str) -> None:
    """Whole numbers from 0 on a number column's data cells (a warning, like the lists)."""
    validation = DataValidation(
        type="whole",
        operator="greaterThanOrEqual",
        formula1="0",
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="Not a whole number",
        error=f"{header} takes a whole number (0, 1, 2, ...).",
    )
    validation.add(f"{letter}2:{letter}{VALIDATED_ROWS + 1}")
    sheet.add_data_validation(validation)


def _fill_sections(sheet: Worksheet, rows: Sequence[Sequence[str]]) -> None:
    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FFF2CC")
    data = rows[1:]
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = bold
        if column.required:
            cell.fill = required_fill
        cell.comment = _header_comment(column)
        letter = get_column_letter(index)
        values = [column.header] + [str(r[index - 1]) for r in data if len(r) >= index]
        sheet.column_dimensions[letter].width = _width(values)
        if column.kind == "unlock_type":
            names = list(UNLOCK_TYPES.values())
            _add_dropdown(sheet, letter, names, f"Choose {', '.join(names)}.")
        elif column.kind == "boolean":
            _add_dropdown(sheet, letter, (YES, NO), f"Choose {YES} or {NO}.")
        elif column.kind == "integer":
            _add_whole_number(sheet, letter, column.header)
    for row_number, row in enumerate(data, start=2):
        for index, (column, text) in enumerate(zip(COLUMNS, row, strict=False), start=1):
            cell = sheet.cell(row=row_number, column=index, value=_cell_value(column, text))
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # typed text, never a formula
    sheet.freeze_panes = "A2"


def _fill_instructions(sheet: Worksheet) -> None:
    rows = instruction_rows()
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    for row_number, row in enumerate(rows, start=1):
        for index, text in enumerate(row, start=1):
            cell = sheet.cell(row=row_number, column=index, value=text or None)
            cell.alignment = wrap
            if row_number == 1 or index == 1:
                cell.font = bold
    widths = (24, 10, 40, 10, 70)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"


def build_workbook(rows: Sequence[Sequence[str]]) -> Workbook:
    """A workbook: the Sections sheet (header + `rows[1:]`) and the Instructions sheet.

    `rows[0]` must be the friendly headers (as from `template_rows()`); the sheet's header
    row is always written from the dictionary.
    """
    if list(rows[0]) != headers():
        raise ValueError("the first row must be the friendly headers in dictionary order")
    workbook = Workbook()
    sections = workbook.active
    sections.title = SHEET_NAME
    _fill_sections(sections, rows)
    _fill_instructions(workbook.create_sheet(INSTRUCTIONS_SHEET))
    props = workbook.properties
    props.creator = props.lastModifiedBy = "sections template"
    props.title = "Course sections"
    props.created = props.modified = FIXED_TIMESTAMP
    return workbook


class _FixedTimeZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry one fixed timestamp (reproducible bytes)."""

    def writestr(
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: Any,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, str):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=_ZIP_TIME)
            info.compress_type = self.compression
            info.external_attr = 0o600 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(
        self,
        filename: str | os.PathLike[str],
        arcname: Any = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        """openpyxl writes worksheets from temporary files: store their bytes, fixed time."""
        name = arcname if arcname is not None else os.fspath(filename)
        self.writestr(name, Path(filename).read_bytes(), compress_type, compresslevel)


def workbook_bytes(workbook: Workbook) -> bytes:
    """Serialise a workbook without openpyxl stamping the current time into it."""
    buffer = io.BytesIO()
    with _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).write_data()
    return buffer.getvalue()


def write_xlsx(path: str | Path, rows: Sequence[Sequence[str]]) -> Path:
    """Write rows (header first) as a styled XLSX with drop-downs and instructions."""
    atomic_write_bytes(path, workbook_bytes(build_workbook(rows)))
    return Path(path)


def write_xlsx_template(path: str | Path) -> Path:
    """Write the XLSX template (headers, example rows, drop-downs, Instructions) to `path`."""
    return write_xlsx(path, template_rows())


def write_xlsx_from_csv(source: str | Path, path: str | Path) -> Path:
    """Turn a UTF-8 CSV with the friendly headers into the styled workbook (sample data)."""
    with Path(source).open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    return write_xlsx(path, rows)


def write_template(path: str | Path, fmt: Format) -> Path:
    """Write the template in `fmt` ("csv" or "xlsx"); raises OSError when it cannot."""
    if fmt == "xlsx":
        return write_xlsx_template(path)
    return write_csv_template(path)


def xlsx_content(path: str | Path) -> dict[str, object]:
    """What a person sees in a workbook, for comparing generated files regardless of zip bytes.

    Per sheet: cell values, header comments, drop-downs, freeze panes and bold cells.
    """
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    content: dict[str, object] = {"sheets": workbook.sheetnames}
    for sheet in workbook.worksheets:
        cells = list(sheet.iter_rows())
        content[sheet.title] = {
            "values": [[cell.value for cell in row] for row in cells],
            "comments": {c.coordinate: c.comment.text for row in cells for c in row if c.comment},
            "bold": sorted(c.coordinate for row in cells for c in row if c.font and c.font.b),
            "validations": sorted(
                (v.type, v.formula1, str(v.sqref)) for v in sheet.data_validations.dataValidation
            ),
            "freeze_panes": sheet.freeze_panes,
        }
    workbook.close()
    return content
