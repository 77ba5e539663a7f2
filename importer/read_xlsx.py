"""The XLSX half of the reader: cached cell values as text, with zip-bomb and formula checks.

Values come from python-calamine (Rust, several times faster than openpyxl); formula cells are
found by a streaming byte search over the sheet XML, since calamine gives values only. Before
calamine sees a sheet, its XML is checked: entity declarations (XML bombs) are refused, the
claimed <dimension> is ignored, and cells far to the right of the table (a lone cell at
XFD1048576 would make a grid of 17 billion cells) are cut out and reported once. The XML is
also proven well-formed (calamine reads past damage). python-calamine is imported only when a
workbook is read.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring, iterparse

from importer.errors import InputError

MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024  # zip-bomb guard: total uncompressed size
MAX_COMPRESSION_RATIO = 200  # zip-bomb guard: uncompressed / compressed (above 10 MB)
#: Columns further than this right of the last used column of the table are outside it.
MAX_COLUMN_GAP = 50
#: A sheet is picked when its header row (within these first rows) holds known headers.
PICK_SCAN_ROWS = 10
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_WIDE_REF = re.compile(rb' r="[A-Z]{2,3}[0-9]')  # a cell in column AA or further
_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})[0-9]+"[^>]*?(?:/>|>.*?</c>)', re.DOTALL)
_STRAY_LT = re.compile(rb"<(?![A-Za-z_/?!])")
#: Sheet XML up to this size is parsed in full to prove it well-formed.
FULL_PARSE_BYTES = 8 * 1024 * 1024
_LETTERS = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"\d+")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#: Separates a formula from its error result in the formulas map (XML text never holds NUL).
ERROR_MARK = "\x00"


@dataclass
class SheetInfo:
    """One worksheet of a workbook as workbook.xml lists it."""

    name: str
    visible: bool
    member: str  # zip member of its XML, e.g. "xl/worksheets/sheet1.xml"


@dataclass
class XlsxRead:
    """What read_xlsx found: the cells, the sheet used and why, and formulas without value."""

    frame: pd.DataFrame  # all cells as text; row i = spreadsheet row i
    title: str
    formulas: dict[tuple[int, int], str]  # (row, 0-based column) -> formula (+ ERROR_MARK error)
    picked: bool = False  # True when the sheet was chosen by its headers (no --sheet)
    other_sheets_with_rows: list[str] = field(default_factory=list)
    outside_cells: int = 0  # cells cut out far right of the table
    outside_example: str = ""  # the first such cell's reference, e.g. "XFD1048576"


def read_xlsx(
    path: Path, sheet: str | None, *, header_matches: Callable[[list[str]], bool] | None = None
) -> XlsxRead:
    """Read one worksheet's cached values as text (row i = spreadsheet row i).

    :param sheet: the sheet's name (exact, else ignoring case and spaces); None picks the first
        visible sheet whose first rows hold a header `header_matches(cells)` accepts and a row
        below it (else the first visible sheet); other such sheets are listed in the result.
    """
    from python_calamine import CalamineWorkbook

    check_zip(path)
    with zipfile.ZipFile(path) as archive:
        infos = _list_sheets(path, archive)
        _refuse_entities(path, archive)
        chosen, picked = _pick_sheet(path, infos, sheet)
        cache: dict[str, tuple[bytes, int, str]] = {}

        def sheet_xml(info: SheetInfo) -> tuple[bytes, int, str]:
            if info.member not in cache:
                data = archive.read(info.member)
                _check_well_formed(data, info.member)
                cache[info.member] = _cut_outside(data)
            return cache[info.member]

        loaded: dict[str, Any] = {}

        def load(info: SheetInfo) -> Any:
            """The sheet in calamine (which ignores the claimed <dimension>), from the XML with
            far-away cells cut when there were any."""
            if info.member not in loaded:
                data, outside, _ = sheet_xml(info)
                if outside:
                    patched = _patched_book(archive, info.member, data)
                    loaded[info.member] = CalamineWorkbook.from_filelike(patched).get_sheet_by_name(
                        info.name
                    )
                else:
                    loaded[info.member] = book.get_sheet_by_name(info.name)
            return loaded[info.member]

        with path.open("rb") as handle:
            book = CalamineWorkbook.from_filelike(handle)
            others: list[str] = []
            if sheet is None and header_matches is not None:
                visible = [i for i in infos if i.visible] or infos
                tables = [i for i in visible if _holds_table(load(i), header_matches)]
                if tables:
                    chosen, picked = tables[0], tables[0] is not visible[0]
                others = [i.name for i in tables[1:]]
            rows = load(chosen).to_python(skip_empty_area=False)
    data, outside, example = sheet_xml(chosen)
    width = max((len(r) for r in rows), default=0)
    # a value-less formula outside the cells with values sits in a blank row or column, which
    # the reader drops anyway: only the ones inside can become findings
    formulas = {
        (row, col): text
        for (row, col), text in _formulas_without_value(data, width).items()
        if row <= len(rows) and col < width
    }
    for row in rows:
        if len(row) < width:
            row.extend([""] * (width - len(row)))
    frame = pd.DataFrame(
        {column: _column_text(cells) for column, cells in enumerate(zip(*rows, strict=True))},
        columns=range(width),
        dtype=str,
    )
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return XlsxRead(frame, chosen.name, formulas, picked, others, outside, example)


def _check_well_formed(data: bytes, member: str) -> None:
    """Refuse damaged sheet XML, which calamine would read past: a full (C) parse for sheets
    up to FULL_PARSE_BYTES, and for bigger ones a search for a "<" that starts no markup."""
    if len(data) <= FULL_PARSE_BYTES:
        parser = expat.ParserCreate()
        try:
            parser.Parse(data, True)
        except expat.ExpatError as error:
            raise ValueError(f"{member}: {error}") from None
    elif (bad := _STRAY_LT.search(data)) is not None:
        raise ValueError(f"{member}: not well-formed at byte {bad.start()}")


def _column_text(cells: tuple[Any, ...]) -> list[str]:
    """One column's values as text (see cell_text); whole-number floats, the usual numbers
    of a sheet (ids, orders, days), take a fast path."""
    kinds = set(map(type, cells))
    if kinds == {str}:
        return list(cells)
    if kinds <= {str, float}:
        return [
            v
            if type(v) is str
            else (str(int(v)) if v.is_integer() and abs(v) < 1e15 else cell_text(v))
            for v in cells
        ]
    return [v if type(v) is str else cell_text(v) for v in cells]


def _holds_table(sheet: Any, header_matches: Callable[[list[str]], bool]) -> bool:
    """A header `header_matches` accepts within the first rows, and a filled row below it."""
    head = [
        [cell_text(v) for v in row]
        for row in sheet.to_python(skip_empty_area=False, nrows=PICK_SCAN_ROWS + 1)
    ]
    for index, row in enumerate(head[:PICK_SCAN_ROWS]):
        if header_matches(row):
            return any(cell.strip() for later in head[index + 1 :] for cell in later)
    return False


def _list_sheets(path: Path, archive: zipfile.ZipFile) -> list[SheetInfo]:
    """Worksheets in workbook order, with their visibility and XML member (no chartsheets)."""
    name = display(path.name)
    book = fromstring(archive.read("xl/workbook.xml"))
    try:
        rels = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except KeyError:
        rels = None
    targets: dict[str, str] = {}
    for rel in rels if rels is not None else ():
        target = rel.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else "xl/" + target
        targets[rel.get("Id", "")] = target
    members = set(archive.namelist())
    infos: list[SheetInfo] = []
    for element in book.iter():
        if element.tag.rpartition("}")[2] != "sheet":
            continue
        rid = element.get(f"{{{_REL_NS}}}id") or element.get("id") or ""
        member = targets.get(rid, "")
        if "worksheets/" not in member or member not in members:
            continue
        state = element.get("state", "visible")
        infos.append(SheetInfo(element.get("name", ""), state == "visible", member))
    if not infos:
        raise InputError(f"{name} has no worksheet; add a sheet with a header row")
    return infos


def _refuse_entities(path: Path, archive: zipfile.ZipFile) -> None:
    """XML with a DOCTYPE (entity declarations, as in an XML bomb) is refused: the prolog of
    every XML member is checked before any parser expands anything."""
    for info in archive.infolist():
        if not info.filename.endswith((".xml", ".rels")):
            continue
        with archive.open(info) as member:
            prolog = member.read(8192)
        if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
            raise DefusedXmlException(f"entity declarations in {info.filename}")


def _pick_sheet(path: Path, infos: list[SheetInfo], sheet: str | None) -> tuple[SheetInfo, bool]:
    """The named sheet (unknown names list the sheets there are), else the first visible one."""
    name = display(path.name)
    if sheet is None:  # the first sheet a person sees: hidden sheets are skipped
        visible = [i for i in infos if i.visible]
        return (visible or infos)[0], False
    for info in infos:
        if info.name == sheet:
            return info, False
    for info in infos:  # "--sheet sections" finds "Sections " too
        if info.name.strip().casefold() == sheet.strip().casefold():
            return info, False
    listed = ", ".join(f'"{i.name}"' for i in infos)
    raise InputError(f'{name} has no sheet named "{sheet}"; its sheets are: {listed}')


def _cut_outside(data: bytes) -> tuple[bytes, int, str]:
    """(sheet XML without the cells far right of the table, how many were cut, the first).

    The table's columns run from A to the last used column before a gap of more than
    MAX_COLUMN_GAP empty columns. Sheets whose columns all fit in A..Z skip the work (one
    regex search finds no wider reference).
    """
    if not _WIDE_REF.search(data):
        return data, 0, ""
    used = sorted({_column_index(m.decode()) for m in set(_CELL_COLUMNS.findall(data))})
    last = used[0] if used else 0
    for column in used:
        if column - last > MAX_COLUMN_GAP:
            break
        last = column
    if used[-1] <= last:
        return data, 0, ""
    cut: list[str] = []

    def keep(match: re.Match[bytes]) -> bytes:
        if _column_index(match[1].decode()) <= last:
            return match[0]
        if not cut:
            ref = re.search(rb'\br="([A-Z]+[0-9]+)"', match[0])
            cut.append(ref[1].decode() if ref else "")
        else:
            cut.append("")
        return b""

    data = _CELL.sub(keep, data)
    return data, len(cut), cut[0] if cut else ""


_CELL_COLUMNS = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})[0-9]')


def _patched_book(archive: zipfile.ZipFile, member: str, data: bytes) -> io.BytesIO:
    """The workbook again, in memory, with one sheet's XML replaced."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        for info in archive.infolist():
            out.writestr(info.filename, data if info.filename == member else archive.read(info))
    buffer.seek(0)
    return buffer


def display(text: str) -> str:
    """A file name safe inside a one-line message (control characters shown as "?")."""
    return _CONTROL_CHARS.sub("?", text)


def check_zip(path: Path) -> None:
    """Refuse corrupt zips, non-workbooks and zip bombs before anything is parsed."""
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


def _formulas_without_value(data: bytes, width: int) -> dict[tuple[int, int], str]:
    """Formula cells whose saved value is missing, as {(row, 0-based column): "=formula"}.

    More exact than asking a reader: a formula whose saved result is the empty string
    (t="str" with an empty <v>) has a value. A byte search finds the formula elements;
    formula-free sheets stop there. Each formula cell is then parsed on its own (defusedxml);
    odd layouts (prefixed tags, cells without "r") get one full streaming parse. Cells right
    of `width` columns (or of the table, when wider) are not part of the table.
    """
    hits = list(_FORMULA_TAG.finditer(data))
    if not hits:
        return {}
    limit = max(width, 1) + MAX_COLUMN_GAP
    missing: dict[tuple[int, int], str] = {}
    for hit in hits:
        start = data.rfind(b"<c ", max(0, hit.start() - 4096), hit.start())
        end = data.find(b"</c>", hit.start())
        if not hit.group().startswith(b"<f") or start < 0 or end < 0:
            return _formulas_by_parsing(data, limit)
        try:
            cell = fromstring(data[start : end + 4])
        except ParseError:  # the snippet was not exactly one cell
            return _formulas_by_parsing(data, limit)
        ref = cell.get("r")
        if not ref or not (digits := _DIGITS.search(ref)):
            return _formulas_by_parsing(data, limit)
        _note_missing(cell, int(digits[0]), _column_index(ref), limit, missing)
    return missing


def _formulas_by_parsing(data: bytes, limit: int) -> dict[tuple[int, int], str]:
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
            _note_missing(element, row, col, limit, missing)
            element.clear()
        elif tag == "row":
            element.clear()
    return missing


def _note_missing(
    cell: Any, row: int, col: int, limit: int, missing: dict[tuple[int, int], str]
) -> None:
    """Record `cell` if it holds a formula and no usable saved result: none (an empty <v> only
    counts as a result for text formulas, t="str"), or an error such as #DIV/0! (t="e"),
    which must not become a title. An error is appended after ERROR_MARK."""
    formula = _child(cell, "f")
    if formula is None or col >= limit:
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
