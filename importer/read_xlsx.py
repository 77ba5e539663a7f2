"""The XLSX half of the reader: cached cell values as text, with zip-bomb and formula checks.

Kept apart from read.py so CSV-only runs never import openpyxl. Every XML parse goes through
defusedxml (openpyxl uses it when installed, and it is a dependency), so entity declarations
(XML bombs) raise; check_zip caps sizes before anything is unpacked.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
from defusedxml.ElementTree import ParseError, fromstring, iterparse

from importer.errors import InputError

MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024  # zip-bomb guard: total uncompressed size
MAX_COMPRESSION_RATIO = 200  # zip-bomb guard: uncompressed / compressed (above 10 MB)
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_LETTERS = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"\d+")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
#: Separates a formula from its error result in the formulas map (XML text never holds NUL).
ERROR_MARK = "\x00"


def read_xlsx(
    path: Path, sheet: str | None
) -> tuple[pd.DataFrame, str, dict[tuple[int, int], str]]:
    """(all cells as text, row i = spreadsheet row i; sheet title; formulas without a value).

    Values are the cached results Excel saved (data_only). The formulas map holds
    (row, 0-based column) -> formula text for formula cells that have no saved result.
    """
    import openpyxl

    check_zip(path)
    # a file object, not the path: openpyxl refuses content named .bin or .csv
    with path.open("rb") as handle, warnings.catch_warnings():
        # openpyxl warns about harmless oddities ("no default style"): not the person's problem
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
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
    formulas = _formulas_without_value(path, member, frame) if member else {}
    return frame, title, formulas


def _pick_sheet(path: Path, book: Any, sheet: str | None) -> Any:
    """The first visible worksheet, or the named one (unknown names list the sheets there are)."""
    name = display(path.name)
    worksheets = book.worksheets  # chartsheets excluded
    if not worksheets:
        raise InputError(f"{name} has no worksheet; add a sheet with a header row")
    if sheet is None:  # the first sheet a person sees: hidden sheets are skipped
        visible = [ws for ws in worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
        return (visible or worksheets)[0]
    for ws in worksheets:
        if ws.title == sheet:
            return ws
    for ws in worksheets:  # "--sheet sections" finds "Sections " too
        if ws.title.strip().casefold() == sheet.strip().casefold():
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
        return f"{value:.15g}"  # Excel shows 15 significant digits: 3.3, not 3.3000000000000003
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _formulas_without_value(
    path: Path, member: str, frame: pd.DataFrame
) -> dict[tuple[int, int], str]:
    """Formula cells whose saved value is missing, as {(row, 0-based column): "=formula"}.

    Cheaper than a second openpyxl pass, and more exact: a formula whose saved result is the
    empty string (t="str" with an empty <v>) has a value. A byte search finds the formula
    elements; formula-free sheets stop there. Each formula cell is then parsed on its own
    (defusedxml); odd layouts (prefixed tags, cells without "r") get one full streaming parse.
    """
    with zipfile.ZipFile(path) as archive:
        data = archive.read(member.lstrip("/"))  # bounded by MAX_XLSX_UNCOMPRESSED
    hits = list(_FORMULA_TAG.finditer(data))
    if not hits:
        return {}
    missing: dict[tuple[int, int], str] = {}
    for hit in hits:
        start = data.rfind(b"<c ", max(0, hit.start() - 4096), hit.start())
        end = data.find(b"</c>", hit.start())
        if not hit.group().startswith(b"<f") or start < 0 or end < 0:
            return _formulas_by_parsing(data, frame)
        try:
            cell = fromstring(data[start : end + 4])
        except ParseError:  # the snippet was not exactly one cell
            return _formulas_by_parsing(data, frame)
        ref = cell.get("r")
        if not ref or not (digits := _DIGITS.search(ref)):
            return _formulas_by_parsing(data, frame)
        _note_missing(cell, int(digits[0]), _column_index(ref), frame, missing)
    return missing


def _formulas_by_parsing(data: bytes, frame: pd.DataFrame) -> dict[tuple[int, int], str]:
    """The general case: stream the whole sheet XML, counting rows and cells without "r"."""
    missing: dict[tuple[int, int], str] = {}
    row, col = 0, -1
    for event, element in iterparse(io.BytesIO(data), events=("start", "end")):
        tag = element.tag.rpartition("}")[2]
        if event == "start":
            if tag == "row":
                row = int(element.get("r") or row + 1)
                col = -1
            elif tag == "c":
                ref = element.get("r")
                col = _column_index(ref) if ref else col + 1
        elif tag == "c":
            _note_missing(element, row, col, frame, missing)
            element.clear()
        elif tag == "row":
            element.clear()
    return missing


def _note_missing(
    cell: Any, row: int, col: int, frame: pd.DataFrame, missing: dict[tuple[int, int], str]
) -> None:
    """Record `cell` if it holds a formula and no usable saved result: none (an empty <v> only
    counts as a result for text formulas, t="str"), or an error such as #DIV/0! (t="e"),
    which must not become a title. An error is appended after ERROR_MARK."""
    formula = _child(cell, "f")
    if formula is None or row > len(frame) or col >= frame.shape[1]:
        return
    value = _child(cell, "v")
    error = value.text if value is not None and cell.get("t") == "e" and value.text else None
    if value is not None and (bool(value.text) or cell.get("t") == "str") and error is None:
        return
    # a cell sharing the formula of another cell (t="shared") has no text of its own
    text = "=" + formula.text if formula.text else f"(shared formula {formula.get('si', '')})"
    missing[(row, col)] = text if error is None else f"{text}{ERROR_MARK}{error}"


def _column_index(ref: str) -> int:
    """0-based column of a cell reference: "A1" -> 0, "AB12" -> 27."""
    match = _LETTERS.match(ref)
    if match is None:
        raise ValueError(f"bad cell reference {ref[:20]!r}")
    index = 0
    for letter in match[0].upper():
        index = index * 26 + ord(letter) - 64
    return index - 1


def _child(element: Any, local: str) -> Any:
    """First child with this local name, whatever the namespace (strict OOXML differs)."""
    for child in element:
        if child.tag.rpartition("}")[2] == local:
            return child
    return None
