"""The XLSX half of the reader: cached cell values as text, with zip-bomb and formula checks.

Kept apart from read.py so CSV-only runs never import openpyxl. XML is parsed by openpyxl,
which uses defusedxml when it is installed (it is a dependency): entity declarations raise.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from importer.errors import InputError

MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024  # zip-bomb guard: total uncompressed size
MAX_COMPRESSION_RATIO = 200  # zip-bomb guard: uncompressed / compressed (above 10 MB)
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def read_xlsx(
    path: Path, sheet: str | None
) -> tuple[pd.DataFrame, str, dict[tuple[int, int], str]]:
    """(all cells as text, row i = spreadsheet row i; sheet title; formulas without a value).

    Values are the cached results Excel saved (data_only). The formulas map holds
    (row, 0-based column) -> formula text for formula cells that have no saved result.
    """
    import openpyxl  # imported here: CSV-only runs do not pay for it

    check_zip(path)
    # a file object, not the path: openpyxl refuses content named .bin or .csv
    with path.open("rb") as handle:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        try:
            ws = _pick_sheet(path, book, sheet)
            ws.reset_dimensions()  # the saved <dimension> can be wrong: read every cell there is
            rows = [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
            title, member = ws.title, getattr(ws, "_worksheet_path", None)
        finally:
            book.close()
    width = max((len(r) for r in rows), default=0)
    for row in rows:
        row.extend([""] * (width - len(row)))
    frame = pd.DataFrame(rows, columns=range(width), dtype=str)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    formulas = _formulas_without_value(path, title, member, frame) if member else {}
    return frame, title, formulas


def _pick_sheet(path: Path, book: Any, sheet: str | None) -> Any:
    """The first worksheet, or the named one (unknown names list the sheets there are)."""
    name = display(path.name)
    worksheets = book.worksheets  # chartsheets excluded
    if not worksheets:
        raise InputError(f"{name} has no worksheet; add a sheet with a header row")
    if sheet is None:
        return worksheets[0]
    for ws in worksheets:
        if ws.title == sheet:
            return ws
    listed = ", ".join(f'"{n}"' for n in book.sheetnames)
    raise InputError(f'{name} has no sheet named "{sheet}"; its sheets are: {listed}')


def display(text: str) -> str:
    """A file name safe inside a one-line message (control characters shown as "?")."""
    return _CONTROL_CHARS.sub("?", text)


def check_zip(path: Path) -> None:
    """Refuse corrupt zips, non-workbooks and zip bombs before openpyxl parses anything."""
    name = display(path.name)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise InputError(
            f"{name} is a corrupt or truncated .xlsx (bad zip); open it in Excel and save it again"
        ) from None
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names:
        kind = "an OpenDocument file" if "mimetype" in names else "a zip archive"
        raise InputError(f"{name} is {kind}, not an Excel workbook; save it as .xlsx or CSV")
    total = sum(info.file_size for info in infos)
    packed = max(sum(info.compress_size for info in infos), 1)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise InputError(
            f"{name} unpacks to {total / 2**20:.0f} MB, over the "
            f"{MAX_XLSX_UNCOMPRESSED // 2**20} MB limit; split it or save it as CSV"
        )
    if total > 10 * 2**20 and total > MAX_COMPRESSION_RATIO * packed:
        raise InputError(
            f"{name} is compressed {total // packed}:1, which looks like a zip bomb; "
            "save the workbook again or use CSV"
        )


def cell_text(value: object) -> str:
    """Cell value as the text a person sees: 3.0 -> "3", True -> "TRUE", dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)  # shortest text that round-trips: 0.1, not 0.1000000000000000055
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _formulas_without_value(
    path: Path, title: str, member: str, frame: pd.DataFrame
) -> dict[tuple[int, int], str]:
    """Formula cells whose cached value is missing. A second (formula) pass runs only when the
    sheet's XML contains a formula element at all, so formula-free workbooks pay one scan."""
    import openpyxl

    with zipfile.ZipFile(path) as archive, archive.open(member.lstrip("/")) as xml:
        tail, found = b"", False
        while chunk := xml.read(1024 * 1024):
            if _FORMULA_TAG.search(tail + chunk):
                found = True
                break
            tail = chunk[-16:]
    if not found:
        return {}
    missing: dict[tuple[int, int], str] = {}
    rows, width = len(frame), frame.shape[1]
    with path.open("rb") as handle:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=False)
        try:
            ws = book[title]
            ws.reset_dimensions()
            for r, row in enumerate(ws.iter_rows(values_only=True), start=1):
                if r > rows:
                    break
                for c, value in enumerate(row[:width]):
                    text = getattr(value, "text", value)  # ArrayFormula keeps it in .text
                    if isinstance(text, str) and text.startswith("=") and frame.at[r, c] == "":
                        missing[(r, c)] = text
        finally:
            book.close()
    return missing
