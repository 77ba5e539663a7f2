"""Helpers that write spreadsheet files for the reader tests (plain functions, no fixtures)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import openpyxl

HEADER = ("Course ID", "Section title", "Display order", "Unlock type")
ROWS = (("101", "Welcome", "1", "Immediate"), ("101", "Core skills", "2", "Sequential"))


def csv_text(
    rows: Iterable[Sequence[str]] = (HEADER, *ROWS), delimiter: str = ",", newline: str = "\r\n"
) -> str:
    """Rows joined as CSV text (no quoting: callers quote cells themselves when needed)."""
    return "".join(delimiter.join(row) + newline for row in rows)


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def write_text(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    """Write text exactly (no newline translation) in the given encoding."""
    return write_bytes(folder, name, text.encode(encoding))


def write_xlsx(
    folder: Path,
    name: str = "sheet.xlsx",
    sheets: dict[str, Sequence[Sequence[object]]] | None = None,
    merge: Sequence[str] = (),
) -> Path:
    """Write a workbook with openpyxl; `sheets` maps sheet name -> rows (first sheet first).

    Formulas written this way have no cached value (openpyxl never calculates).
    """
    sheets = sheets or {"Sheet1": [HEADER, *ROWS]}
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    for ref in merge:
        book.worksheets[0].merge_cells(ref)
    path = folder / name
    book.save(path)
    return path


def patch_member(path: Path, member: str, old: bytes, new: bytes, count: int = 1) -> None:
    """Replace bytes inside one member of a zip (e.g. give a formula a cached value)."""
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in items:
            if info.filename == member:
                assert old in data, f"{old!r} not in {member}"
                data = data.replace(old, new, count)
            archive.writestr(info.filename, data)


SHEET1 = "xl/worksheets/sheet1.xml"
