"""Read a CSV or XLSX sheet of course sections into text, keeping spreadsheet row numbers.

Everything is read as text (a title "NA" stays "NA"); typing is the schema's job. Row numbers
are the ones Excel/LibreOffice show, so every finding points at a row the person can find.
The format is sniffed from the content, never trusted from the extension.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from defusedxml import DefusedXmlException

from importer.codes import Rule
from importer.columns import (
    BY_FIELD,
    REPORT_COLUMNS,
    REQUIRED_FIELDS,
    SECTION_ID_HEADER,
    STAND_INS,
    accepted_headers,
    field_for_header,
    header_key,
    resolve_column_map,
    suggest_header,
)
from importer.errors import ConfigError, InputError
from importer.findings import Finding

if TYPE_CHECKING:
    from importer.read_xlsx import XlsxRead
from importer.read_csv import DELIMITERS, HEADER_SCAN_ROWS, header_index, read_csv
from importer.read_xlsx import ERROR_MARK, display

MAX_FILE_BYTES = 500 * 1024 * 1024  # refuse bigger files before reading them
FORMULA_KINDS = frozenset({"integer", "unlock_type", "boolean"})  # "=..." is never literal here

_SAMPLE_BYTES = 256 * 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class Sheet:
    """A spreadsheet read as text, with its header mapped to API fields.

    `raw` holds `source_row` (the row number Excel/LibreOffice shows) plus one column per
    header as typed (all str, "" for blank cells). Blank rows are dropped. Columns that our own
    reports add (columns.REPORT_COLUMNS, e.g. "Error") are dropped so a fixed errors.csv can
    be imported again; their names are in `extra["ignored"]`, and the whole numbers of a
    `Section Id` column in `extra["section_ids"]` ({source_row: id}; `--update` matches rows
    by them). `extra["formula_cells"]` holds {(source_row, raw column)} of formula cells
    without a saved value (blanked, with a formula_without_value finding each).
    """

    raw: pd.DataFrame
    columns: dict[str, str]  # API field -> raw column name
    unknown: list[str]
    findings: list[Finding]
    path: Path
    format: Literal["csv", "xlsx"]
    sheet_name: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int = 1
    extra: dict[str, object] = field(default_factory=dict)


def read_sheet(
    path: str | Path,
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    column_map: Mapping[str, str] | None = None,
) -> Sheet:
    """Read `path` (CSV or XLSX, sniffed by content). Raises InputError with one clear line.

    :param sheet: XLSX sheet name (default: the first visible sheet whose headers match the
        column dictionary, else the first visible sheet); ignored for CSV.
    :param delimiter: force the CSV delimiter instead of detecting it.
    :param column_map: the person's own headers -> a known header, e.g.
        {"Module name": "Section title"} (`--column "Module name=Section title"`); headers
        match in any case and spacing. An unknown target raises ConfigError.
    """
    path = Path(path)
    name = display(path.name)
    try:
        mapped = resolve_column_map(column_map or {})
    except ValueError as error:
        raise ConfigError(str(error)) from None

    def field_of(header: str) -> str | None:
        return mapped.get(header_key(header)) or field_for_header(header)

    if not path.exists():
        where = display(str(path))
        raise InputError(f"{name}: file not found ({where}); check the path", path=str(path))
    if path.is_dir():
        raise InputError(
            f"{name} is a folder, not a file; give a .csv or .xlsx file", path=str(path)
        )
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_SAMPLE_BYTES)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{name} cannot be opened: {reason}", path=str(path)) from None
    if size == 0:
        raise InputError(f"{name} is empty (0 bytes); export the sheet again", path=str(path))
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{name} is {size / 2**20:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit; "
            "split it into smaller files",
            path=str(path),
        )
    if head.startswith(_OLE2_MAGIC):
        raise InputError(
            f"{name} is a password-protected or legacy .xls workbook; "
            "save as .xlsx without a password (or as CSV UTF-8)",
            path=str(path),
        )
    try:
        findings: list[Finding] = []
        if head.startswith(_ZIP_MAGIC):
            from importer.read_xlsx import read_xlsx

            book = read_xlsx(
                path,
                sheet,
                header_matches=lambda cells: _looks_like_header(cells, field_of),
            )
            raw = book.frame
            extra: dict[str, object] = {
                "sheet_name": book.title,
                "formulas": book.formulas,
                "sheet_picked": book.picked,
            }
            findings.extend(_workbook_findings(book, name))
            fmt: Literal["csv", "xlsx"] = "xlsx"
        else:
            raw, encoding, delim, mixed = read_csv(path, head, size, delimiter)
            extra = {"encoding": encoding, "delimiter": delim}
            if mixed:
                findings.append(_mixed_encoding(mixed, name))
            fmt = "csv"
        if column_map:
            extra["column_map"] = dict(column_map)
        result = _build(raw, findings, extra, path, fmt, field_of)
    except InputError as exc:
        exc.path = str(path)
        raise
    except Exception as exc:  # any other failure (incl. MemoryError) means "cannot read"
        raise _unreadable(exc, name, path, head.startswith(_ZIP_MAGIC)) from None
    return result


def _looks_like_header(cells: list[str], field_of: Callable[[str], str | None]) -> bool:
    """A row with at least two cells that name known columns."""
    return len({field_of(c) for c in cells if c and c.strip()} - {None}) >= 2


def _workbook_findings(book: XlsxRead, name: str) -> list[Finding]:
    """Warnings about what was left out of the workbook: other sheets, far-away cells."""
    findings = [
        Finding(
            Rule.OTHER_SHEET_HAS_ROWS,
            f'Sheet "{other}" of {name} also holds rows; only sheet "{book.title}" is read '
            f'(use --sheet "{other}" to read that one instead)',
        )
        for other in book.other_sheets_with_rows
    ]
    if book.outside_cells:
        count = book.outside_cells
        findings.append(
            Finding(
                Rule.CELLS_OUTSIDE_TABLE,
                f"{count} {'cell' if count == 1 else 'cells'} far right of the table (first at "
                f"{book.outside_example}) {'is' if count == 1 else 'are'} ignored; delete "
                f"{'it' if count == 1 else 'them'} if {'it was' if count == 1 else 'they were'}"
                " typed by mistake",
                value=book.outside_example,
            )
        )
    return findings


def _mixed_encoding(rows: list[int], name: str) -> Finding:
    """One warning naming the first rows whose text was UTF-8 in a Windows-1252 file."""
    shown = ", ".join(str(r) for r in rows[:5]) + (
        f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    )
    return Finding(
        Rule.MIXED_ENCODING,
        f"{name} mixes two encodings: {'row' if len(rows) == 1 else 'rows'} {shown} "
        f"{'is' if len(rows) == 1 else 'are'} UTF-8, the rest Windows-1252; both were read, "
        "check the accented letters there and save the file as CSV UTF-8",
        value=shown,
    )


def _unreadable(exc: BaseException, name: str, path: Path, workbook: bool) -> InputError:
    """Turn any parser failure into one line; XML bombs are named as such."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, DefusedXmlException):
            return InputError(
                f"{name} contains unsafe XML (entity declarations, as in an XML bomb); "
                "save it again from Excel or LibreOffice as .xlsx",
                path=str(path),
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, MemoryError):
        return InputError(
            f"{name} ran out of memory while being read (the limit is the memory this machine "
            f"gives the process; files up to {MAX_FILE_BYTES // 2**20} MB are accepted): split "
            "it into smaller files",
            path=str(path),
        )
    if isinstance(exc, RecursionError):
        return InputError(f"{name} is too deeply nested to read", path=str(path))
    detail = " ".join(str(exc).replace(str(path), name).split())[:200] or type(exc).__name__
    if workbook:
        return InputError(
            f"{name} is a damaged .xlsx ({detail}); open it in Excel or LibreOffice and save "
            "it again",
            path=str(path),
        )
    return InputError(
        f"{name} cannot be read ({detail}); export it again as .xlsx or CSV UTF-8", path=str(path)
    )


# --------------------------------------------------------------------------- header


def _column_letter(index: int) -> str:
    """0-based column index -> "A", "B", ..., "AA"."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = string.ascii_uppercase[rem] + letters
    return letters


def _filled_rows(frame: pd.DataFrame) -> np.ndarray:
    """Boolean per row: some cell has non-whitespace text. Cheap: most rows decide on column 1,
    and each column is one vectorised strip (Arrow's whitespace is Python's)."""
    filled = np.zeros(len(frame), dtype=bool)
    for column in frame.columns:
        open_rows = np.flatnonzero(~filled)
        if not len(open_rows):
            break
        cells = frame[column].iloc[open_rows]
        filled[open_rows[cells.str.strip().ne("").to_numpy(dtype=bool)]] = True
    return filled


def _build(
    frame: pd.DataFrame,
    findings: list[Finding],
    extra: dict[str, object],
    path: Path,
    fmt: Literal["csv", "xlsx"],
    field_of: Callable[[str], str | None] = field_for_header,
) -> Sheet:
    """Find the header, name and map the columns, drop blank rows, flag formulas."""
    name = display(path.name)
    if frame.empty:
        raise InputError(f"{name} contains no rows; it needs a header row and data rows")
    scan = [list(frame.iloc[i]) for i in range(min(HEADER_SCAN_ROWS, len(frame)))]
    filled = _filled_rows(frame)
    if not filled.any():
        raise InputError(f"{name} contains only whitespace or blank rows; it has no header")
    header_pos, _ = header_index(scan, field_of)
    if not filled[header_pos]:  # the scanned rows are all blank: the first filled row heads
        header_pos = int(np.flatnonzero(filled)[0])
    header_row = header_pos + 1
    headers = [str(h).strip() for h in frame.iloc[header_pos]]
    filled[: header_pos + 1] = False
    if filled[header_pos + 1 :].all():  # no blank rows: a slice, not a copy
        data = frame.iloc[header_pos + 1 :]
    else:
        data = frame.take(np.flatnonzero(filled))
    if data.empty:
        raise InputError(
            f"{name} has a header row but no data rows; add at least one section below the header"
        )

    formulas: dict[tuple[int, int], str] = extra.pop("formulas", {})  # type: ignore[assignment]
    seen: dict[str, int] = {}
    taken = {"source_row"}
    raw_names: dict[int, str] = {}
    columns: dict[str, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    report_keys = {header_key(c) for c in REPORT_COLUMNS}
    section_ids: dict[int, int] = {}  # source_row -> the Section Id cell (--update matches it)
    for pos, header in enumerate(headers):
        if not header:
            if not data[pos].str.strip().ne("").any():
                continue  # blank header, no values: an empty column, not a column
            header = f"Column {_column_letter(pos)}"
        if header_key(header) in report_keys:
            ignored.append(header)
            if header_key(header) == header_key(SECTION_ID_HEADER) and not section_ids:
                section_ids = _whole_numbers(data[pos])
            continue
        seen[header] = seen.get(header, 0) + 1
        raw_name = header if seen[header] == 1 else f"{header} ({seen[header]})"
        while raw_name in taken:
            seen[header] += 1
            raw_name = f"{header} ({seen[header]})"
        taken.add(raw_name)
        raw_names[pos] = raw_name
        api_field = field_of(header)
        if api_field is None:
            unknown.append(raw_name)
            guess = suggest_header(header)
            hint = (
                f'did you mean "{guess}"? Rename it, or map it with --column "{header}={guess}"'
                if guess
                else "rename it to a known header if it should be"
            )
            findings.append(
                Finding(
                    Rule.UNKNOWN_COLUMN,
                    f'Column "{raw_name}" is not a known column; its values are kept but not '
                    f"imported ({hint})",
                    column=raw_name,
                )
            )
        elif api_field in columns:
            first = columns[api_field]
            one = _column_letter(next(p for p, n in raw_names.items() if n == first))
            two = _column_letter(pos)
            findings.append(
                Finding(
                    Rule.DUPLICATE_COLUMN,
                    f'Columns {one} "{first}" and {two} "{raw_name}" both mean '
                    f"{BY_FIELD[api_field].header}; column {one} is used, remove or rename "
                    f"column {two}",
                    column=raw_name,
                    field=api_field,
                )
            )
        else:
            columns[api_field] = raw_name
    hint = _delimiter_hint(headers, extra.get("delimiter")) if fmt == "csv" else ""
    for required in REQUIRED_FIELDS:
        stand_ins = STAND_INS.get(required, ())
        if required in columns or any(other in columns for other in stand_ins):
            continue
        spellings: dict[str, str] = {}  # one spelling per match key: "Title", not "title"
        for h in accepted_headers(required):
            spellings.setdefault(header_key(h), h)
        accepted = ", ".join(f'"{h}"' for h in spellings.values())
        near = [
            f' (column "{h}" is close: did you mean "{BY_FIELD[required].header}"?)'
            for h in headers
            if h and field_of(h) is None and suggest_header(h) == BY_FIELD[required].header
        ]
        instead = "".join(near[:1]) + "".join(
            f" (or a column headed {BY_FIELD[other].header} with the"
            f" {BY_FIELD[required].header.split()[0].lower()}'s name)"
            for other in stand_ins
        )
        findings.append(
            Finding(
                Rule.MISSING_COLUMN,
                f'Required column "{BY_FIELD[required].header}" is missing; add a column '
                f"headed one of: {accepted}{instead}{hint}",
                field=required,
            )
        )

    raw = data[list(raw_names)]
    raw.columns = list(raw_names.values())
    raw.insert(0, "source_row", data.index.to_numpy(dtype="int64"))
    raw.index = pd.RangeIndex(len(raw))
    by_position = {raw_name: pos for pos, raw_name in raw_names.items()}
    field_by_raw = {raw_name: api_field for api_field, raw_name in columns.items()}
    extra["formula_cells"] = _flag_formulas(raw, formulas, by_position, field_by_raw, findings, fmt)
    extra["ignored"] = ignored
    extra["section_ids"] = section_ids
    return Sheet(
        raw=raw,
        columns=columns,
        unknown=unknown,
        findings=findings,
        path=path,
        format=fmt,
        sheet_name=extra.pop("sheet_name", None),  # type: ignore[arg-type]
        encoding=extra.pop("encoding", None),  # type: ignore[arg-type]
        delimiter=extra.pop("delimiter", None),  # type: ignore[arg-type]
        header_row=header_row,
        extra=extra,
    )


def _whole_numbers(cells: pd.Series) -> dict[int, int]:
    """source_row -> value of the cells holding a whole number ("1416049001", "12.0")."""
    found: dict[int, int] = {}
    for source_row, cell in zip(cells.index.tolist(), cells.tolist(), strict=True):
        text = str(cell).strip()
        if text.endswith(".0"):
            text = text[:-2]
        if text.isdigit() and 0 < int(text) < 2**63:
            found[int(source_row)] = int(text)
    return found


def _delimiter_hint(headers: list[str], used: object) -> str:
    """' (the header looks separated by ";" ...)' when another delimiter splits a header cell
    into known columns: the usual cause of missing columns with a forced --delimiter."""
    for cell in headers:
        for other in DELIMITERS:
            if other == used or other not in cell:
                continue
            parts = {field_for_header(part) for part in cell.split(other)} - {None}
            if len(parts) >= 2:
                shown = "tab" if other == "\t" else other
                return (
                    f' (the header looks separated by "{shown}", not "{used}": '
                    f'use --delimiter "{shown}" or leave --delimiter out)'
                )
    return ""


def _flag_formulas(
    raw: pd.DataFrame,
    formulas: dict[tuple[int, int], str],
    by_position: dict[str, int],
    field_of: dict[str, str],
    findings: list[Finding],
    fmt: str,
) -> set[tuple[int, str]]:
    """Formula cells with no value: an error finding each, and the cell becomes "".

    Returns {(source_row, raw column)} of those cells, so later stages need not report the
    blank again (e.g. as a missing required value).
    """
    hits: list[tuple[int, str, str]] = []  # (frame index, raw column, formula)
    if fmt == "xlsx" and formulas:
        position_of_row = {r: i for i, r in enumerate(raw["source_row"])}
        name_of = {pos: name for name, pos in by_position.items()}
        for (row, col), formula in formulas.items():
            if row in position_of_row and col in name_of:
                hits.append((position_of_row[row], name_of[col], formula))
    elif fmt == "csv":
        for raw_name, api_field in field_of.items():
            if BY_FIELD[api_field].kind not in FORMULA_KINDS:
                continue
            cells = raw[raw_name]
            if not cells.str.contains("=", regex=False).any():  # the usual case
                continue
            flags = cells.str.lstrip().str.startswith("=").to_numpy(dtype=bool)
            hits.extend((int(i), raw_name, str(cells.iat[int(i)])) for i in np.flatnonzero(flags))
    source_rows: list[int] = raw["source_row"].tolist()
    for index, raw_name, formula in sorted(hits, key=lambda h: (h[0], by_position[h[1]])):
        raw.at[index, raw_name] = ""
        formula, _, error = formula.partition(ERROR_MARK)
        problem = (
            f", which gives the error {error}; fix the formula or type the value"
            if error
            else " but no calculated value was saved; open the file in Excel or LibreOffice, "
            "let it recalculate and save, or paste values"
        )
        findings.append(
            Finding(
                Rule.FORMULA_WITHOUT_VALUE,
                f'Column "{raw_name}" holds the formula {formula}{problem}',
                source_row=int(source_rows[index]),
                column=raw_name,
                field=field_of.get(raw_name),
                value=formula,
            )
        )
    return {(int(source_rows[i]), name) for i, name, _ in hits}
