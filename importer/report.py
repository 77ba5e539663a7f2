"""The results report: one folder per run that a person (and automation) can act on.

`write_report` writes `<report_root>/<input stem>-<UTC timestamp>/` with

- results.csv   every input row, in input order: the person's columns + what happened;
- errors.csv    only the rows that need fixing, with the person's own headers + "Error",
                so the file can be fixed and imported again as it is (always written);
- results.xlsx  (workbook input only) a copy of their sheet with Status, Section Id and
                Error columns and the rows that need fixing filled light red;
- plan.csv      the plan frame, when the run made one;
- report.html   one self-contained page (inline CSS, no scripts, no external assets);
- summary.json  the engine's summary + counts, written last: its presence means "complete".

Every file is written atomically, every exported cell is neutralised against formula
injection, and the frames in memory keep the person's raw values.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, MergedCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.cell_range import CellRange

from importer.clock import utc_iso, utc_stamp
from importer.codes import NEEDS_FIX_STATUSES, RowStatus, Severity
from importer.columns import REPORT_COLUMNS, header_key
from importer.credentials import SECRET_NAME, safe_url
from importer.engine.rows import RESULT_COLUMNS
from importer.errors import ConfigError
from importer.read import Sheet
from importer.read_csv import DELIMITERS
from importer.report_html import render_html
from importer.safe_io import (
    atomic_path,
    atomic_write_text,
    is_missing,
    neutralise,
    neutralise_frame,
)
from importer.status_text import DEFAULT_MESSAGES

RESULTS_CSV = "results.csv"
ERRORS_CSV = "errors.csv"
RESULTS_XLSX = "results.xlsx"
PLAN_CSV = "plan.csv"
REPORT_HTML = "report.html"
SUMMARY_JSON = "summary.json"

#: Columns of the results frame (engine.rows.RESULT_COLUMNS) that results.csv adds after
#: the person's columns: what happened, not which row it was.
OUTCOME_COLUMNS: tuple[str, ...] = RESULT_COLUMNS[RESULT_COLUMNS.index("status") :]

ERROR_HEADER, STATUS_HEADER, SECTION_ID_HEADER = REPORT_COLUMNS  # ("Error", "Status", ...)

_NEEDS_FIX = frozenset(str(s) for s in NEEDS_FIX_STATUSES)
_FAIL_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")


@dataclass
class RunReport:
    """Everything one run's report is made of (see ARCHITECTURE.md, "report.py")."""

    sheet: Sheet  # the person's original headers and cells (Sheet.raw), path, format
    results: pd.DataFrame  # the results frame: source_row, course_id, ..., errors
    findings: pd.DataFrame  # validation findings (findings.FINDING_COLUMNS)
    summary: dict[str, Any]  # from the engine; never credentials (secret keys dropped)
    plan: pd.DataFrame | None = None


# --------------------------------------------------------------------------- public


def write_report(report: RunReport, report_root: Path, *, now: datetime | None = None) -> Path:
    """Write the run folder under `report_root` and return its path.

    Raises ConfigError (one line) when the folder or a file cannot be written.
    """
    moment = _utc(now or datetime.now(UTC))
    root = Path(report_root)
    try:
        folder = _make_folder(root, report.sheet.path, moment)
        _write_all(report, folder, moment)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = exc.filename or root
        raise ConfigError(f"cannot write the report in {where}: {reason}") from None
    return folder


def count_summary(results: pd.DataFrame) -> dict[str, Any]:
    """Row counts: `rows`, `counts_by_status` (every status, 0 when absent) and
    `counts_by_course` ({course_id: {status: n}}, only statuses that occur)."""
    statuses = results["status"].astype(str) if len(results) else pd.Series([], dtype=str)
    by_status = {str(s): 0 for s in RowStatus}
    for status, n in statuses.value_counts(sort=False).items():
        by_status[str(status)] = int(n)
    by_course: dict[str, dict[str, int]] = {}
    if len(results):
        courses = results["course_id"].map(_course_key)
        table = pd.crosstab(courses, statuses)
        for course in sorted(table.index, key=_course_sort):
            row = table.loc[course]
            by_course[course] = {str(s): int(n) for s, n in sorted(row.items()) if n}
    return {"rows": int(len(results)), "counts_by_status": by_status, "counts_by_course": by_course}


# --------------------------------------------------------------------------- folder and table


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


#: The name `_make_folder` gives a run's report folder.
REPORT_FOLDER_NAME = re.compile(r".+-[0-9]{8}T[0-9]{6}Z(?:-[0-9]+)?")


def _make_folder(root: Path, input_path: Path, moment: datetime) -> Path:
    """`<stem>-<timestamp>`, then `-2`, `-3`... (mkdir is the atomic claim)."""
    root.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", Path(input_path).stem).lstrip(".")[:80] or "input"
    base = f"{stem}-{utc_stamp(moment)}"
    for n in range(1, 10_000):
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(0, "too many report folders with the same name", str(root / base))


def _aligned(report: RunReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw, results) with the same rows in input order, indexed by source_row.

    Rows come from Sheet.raw; a results row whose source_row is not in raw is kept at the end.
    """
    raw = report.sheet.raw.drop_duplicates("source_row").set_index("source_row")
    results = report.results.drop_duplicates("source_row").set_index("source_row")
    order = list(raw.index) + [r for r in results.index if r not in raw.index]
    raw = raw.reindex(order).fillna("")
    results = results.reindex(order)
    return raw, results


def _row_errors(report: RunReport, results: pd.DataFrame) -> pd.Series:
    """The Error text of each row.

    Invalid rows: their validation errors (the findings table is the source of truth), else
    the file's header errors (e.g. a missing column makes every row invalid). Other rows: the
    run's errors. Rows that need fixing and still have no text get a default message.
    """
    errors = results["errors"] if "errors" in results else pd.Series("", index=results.index)
    errors = errors.astype(object).where(errors.notna(), "").astype(str)
    findings = report.findings
    by_row: dict[int, str] = {}
    header = ""
    if findings is not None and len(findings):
        bad = findings[findings["severity"] == Severity.ERROR]
        on_rows = bad[bad["source_row"].notna()]
        for row, group in on_rows.groupby("source_row", sort=False):
            messages = dict.fromkeys(group["message"].astype(str))
            by_row[int(row)] = "; ".join(messages)  # type: ignore[arg-type]
        header = "; ".join(dict.fromkeys(bad[bad["source_row"].isna()]["message"].astype(str)))
    out = []
    for row, text, status in zip(results.index, errors, results["status"].astype(str), strict=True):
        if status == RowStatus.INVALID:
            text = by_row.get(int(row)) or header or text
        if not text and status in _NEEDS_FIX:
            text = DEFAULT_MESSAGES[RowStatus(status)]
        out.append(text)
    return pd.Series(out, index=results.index, dtype=object)


def _csv_text(frame: pd.DataFrame, delimiter: str = ",") -> str:
    """RFC 4180 CSV (CRLF, minimal quoting) of a neutralised copy of `frame`, headers included."""
    safe = neutralise_frame(frame)
    safe.columns = [neutralise(c) for c in safe.columns]
    return safe.to_csv(index=False, sep=delimiter, lineterminator="\r\n", na_rep="")


# --------------------------------------------------------------------------- files


def _write_all(report: RunReport, folder: Path, moment: datetime) -> None:
    sheet = report.sheet
    raw, results = _aligned(report)
    errors = _row_errors(report, results)
    results = results.assign(errors=errors)
    for column in OUTCOME_COLUMNS:
        if column not in results:
            results[column] = pd.NA
    needs_fix = results["status"].astype(str).isin(_NEEDS_FIX)
    files: list[str] = []

    table = pd.concat([raw, results[list(OUTCOME_COLUMNS)]], axis=1)
    table.insert(0, "source_row", raw.index.to_numpy())
    _write_csv(folder / RESULTS_CSV, table)
    files.append(RESULTS_CSV)

    keep = [c for c in raw.columns if header_key(c) not in {header_key(r) for r in REPORT_COLUMNS}]
    fix = raw.loc[needs_fix.to_numpy(), keep].assign(**{ERROR_HEADER: errors[needs_fix]})
    delimiter = sheet.delimiter if sheet.delimiter in DELIMITERS else ","
    _write_csv(folder / ERRORS_CSV, fix, delimiter=delimiter)
    files.append(ERRORS_CSV)

    if sheet.format == "xlsx":
        _write_xlsx(folder / RESULTS_XLSX, sheet, raw, results, needs_fix)
        files.append(RESULTS_XLSX)

    if report.plan is not None:
        _write_csv(folder / PLAN_CSV, report.plan)
        files.append(PLAN_CSV)

    summary = _summary(report, results, moment, [*files, REPORT_HTML, SUMMARY_JSON])
    page = render_html(
        sheet=sheet,
        raw=raw,
        results=results,
        needs_fix=needs_fix,
        findings=report.findings,
        summary=summary,
    )
    atomic_write_text(folder / REPORT_HTML, page)
    text = json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    atomic_write_text(folder / SUMMARY_JSON, text + "\n")


def _write_csv(path: Path, frame: pd.DataFrame, *, delimiter: str = ",") -> None:
    """UTF-8 with BOM so Excel shows accents; the reader strips the BOM."""
    atomic_write_text(path, _csv_text(frame, delimiter), encoding="utf-8-sig")


# --------------------------------------------------------------------------- results.xlsx


def _write_xlsx(
    path: Path, sheet: Sheet, raw: pd.DataFrame, results: pd.DataFrame, needs_fix: pd.Series
) -> None:
    """Copy the person's sheet (formatting kept, formulas replaced by the values we read),
    add Status / Section Id / Error after the last column and fill rows that need fixing."""
    book = _load_copy(sheet)
    if book is None:  # original gone or unreadable: rebuild the sheet from what we read
        book = openpyxl.Workbook()
        ws = book.active
        ws.title = (sheet.sheet_name or "Sheet1")[:31]
        ws.append([_xlsx_text(c) for c in raw.columns])
        rows = {}
        for offset, (row, values) in enumerate(raw.iterrows(), start=2):
            ws.append([_xlsx_text(v) for v in values])
            rows[row] = offset
        header_row = 1
    else:
        ws = book[sheet.sheet_name] if sheet.sheet_name in book.sheetnames else book.active
        for other in [w for w in book.worksheets if w is not ws]:
            book.remove(other)
        book.active = 0
        _neutralise_cells(ws)
        header_row = sheet.header_row
        rows = {row: int(row) for row in raw.index}

    header = [c.value for c in ws[header_row]] if ws.max_row >= header_row else []
    report_keys = {header_key(c): c for c in REPORT_COLUMNS}
    existing = {  # a results.xlsx imported again: reuse its Status/Section Id/Error columns
        report_keys[header_key(str(v))]: i + 1
        for i, v in enumerate(header)
        if v is not None and header_key(str(v)) in report_keys
    }
    ours = (STATUS_HEADER, SECTION_ID_HEADER, ERROR_HEADER)
    style_from = ws.cell(header_row, max(1, _last_used_column(ws)))
    if not existing:  # first thing a person sees: what happened, before their own columns
        _insert_front(ws, len(ours))
        where = {name: index for index, name in enumerate(ours, start=1)}
    else:  # a results.xlsx imported again: its columns stay where they are
        last = _last_used_column(ws)
        where = {}
        for name in ours:
            if name not in existing:
                last += 1
            where[name] = existing.get(name, last)
    for name, col in where.items():
        cell = _put(ws, header_row, col, name)
        if cell is None or name in existing:
            continue
        if style_from.has_style:
            cell._style = copy(style_from._style)  # same look as their last header cell
        else:
            cell.font = Font(bold=True)
    letter = ws.cell(header_row, where[ERROR_HEADER]).column_letter
    ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, 60)
    ws.freeze_panes = ws.cell(header_row + 1, 1)
    width = max(_last_used_column(ws), *where.values())
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(width)}{max(ws.max_row, header_row)}"

    marked = results.assign(_fix=needs_fix.to_numpy())
    for row, record in marked.iterrows():
        item: Any = record
        target = rows.get(row)
        if target is None:
            continue
        _put(ws, target, where[STATUS_HEADER], neutralise(item["status"]))
        _put(ws, target, where[SECTION_ID_HEADER], _section_cell(item["section_id"]))
        _put(ws, target, where[ERROR_HEADER], neutralise(item["errors"]) or None)
        for col in range(1, width + 1):
            cell = ws.cell(target, col)
            if item["_fix"]:
                cell.fill = _FAIL_FILL
            elif existing and cell.fill == _FAIL_FILL:  # fixed since the last results.xlsx
                cell.fill = PatternFill()
    with atomic_path(path) as temp:
        book.save(temp)


def _insert_front(ws: Any, count: int) -> None:
    """Insert `count` columns before column A, moving what openpyxl's insert_cols leaves
    behind: merged ranges, column widths and data validations (drop-downs)."""
    merged = [str(r) for r in ws.merged_cells.ranges]
    for ref in merged:
        ws.unmerge_cells(ref)
    widths = {key: dim.width for key, dim in ws.column_dimensions.items() if dim.width}
    ws.insert_cols(1, count)
    for ref in merged:
        moved = CellRange(ref)
        moved.shift(col_shift=count)
        ws.merge_cells(moved.coord)
    for key in widths:
        del ws.column_dimensions[key]
    for key, width in widths.items():
        index = column_index_from_string(key) + count
        ws.column_dimensions[get_column_letter(index)].width = width
    for validation in ws.data_validations.dataValidation:
        for ref in validation.sqref.ranges:
            ref.shift(col_shift=count)
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 12


def _section_cell(value: object) -> object:
    if is_missing(value):
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return neutralise(value)


def _put(ws: Any, row: int, col: int, value: object) -> Any:
    """Set a cell (returned), or do nothing inside a merged range (read-only cells)."""
    cell = ws.cell(row, col)
    if isinstance(cell, MergedCell):
        return None
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value
    return cell


def _xlsx_text(value: object) -> str:
    """Neutralised text without the control characters a workbook cannot hold (openpyxl
    raises IllegalCharacterError on them, e.g. in an API error message)."""
    return str(ILLEGAL_CHARACTERS_RE.sub("", neutralise(value)))


def _load_copy(sheet: Sheet) -> openpyxl.Workbook | None:
    try:
        book = openpyxl.load_workbook(sheet.path, data_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError):
        return None
    book._external_links = []  # links to other workbooks are theirs, not the report's
    return book


def _neutralise_cells(ws: Any) -> None:
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                safe = neutralise(cell.value)
                if safe != cell.value:
                    cell.value = safe
            elif cell.data_type == "f":  # a formula without cached value survived: drop it
                cell.value = None


def _last_used_column(ws: Any) -> int:
    last = 0
    for row in ws.iter_rows(values_only=True):
        for index in range(len(row), last, -1):
            if row[index - 1] is not None and row[index - 1] != "":
                last = index
                break
    return last


# --------------------------------------------------------------------------- summary.json


def _summary(
    report: RunReport, results: pd.DataFrame, moment: datetime, files: list[str]
) -> dict[str, Any]:
    """Engine summary + counts + file names, JSON-native, secret-named keys dropped."""
    summary = _jsonable(dict(report.summary or {}))
    assert isinstance(summary, dict)
    sheet = report.sheet
    summary.setdefault("input_file", sheet.path.name)
    summary.setdefault("input_format", sheet.format)
    if sheet.sheet_name:
        summary.setdefault("sheet_name", sheet.sheet_name)
    summary.setdefault("report_written_at", utc_iso(moment))
    findings = report.findings
    if findings is not None and "severity" in findings:
        summary.setdefault(
            "findings",
            {
                "errors": int((findings["severity"] == Severity.ERROR).sum()),
                "warnings": int((findings["severity"] == Severity.WARNING).sum()),
            },
        )
    frame = results.reset_index()
    summary.update(count_summary(frame))
    summary["files"] = files
    return summary


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (numpy, pandas, dates, enums, paths converted); secrets dropped."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if not SECRET_NAME.search(str(k))}
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict("records"))
    if isinstance(value, list | tuple | pd.Series | np.ndarray):
        return [_jsonable(v) for v in list(value)]
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=str)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if is_missing(value):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta | pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        return safe_url(value)
    return str(value)


def _course_key(value: object) -> str:
    if is_missing(value) or value == "":
        return "unknown"
    try:
        return str(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(value)


def _course_sort(key: str) -> tuple[int, int, str]:
    return (0, int(key), "") if key.lstrip("-").isdigit() else (1, 0, key)
