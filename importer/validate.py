"""Validate a sheet: normalise, run the schema, gather every finding in one pass.

`validate_sheet` never prints and never raises on bad rows: every problem is a row of the
findings table (importer.findings), and the result says which rows may be sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import pandas as pd

from importer.codes import Rule, Severity
from importer.columns import BY_FIELD, FIELDS, SENT_FIELDS, TIMED, UNLOCK_TYPES
from importer.findings import (
    FINDING_COLUMNS,
    NAME_COLUMNS,
    PUBLIC_FINDING_KEYS,
    Finding,
    findings_frame,
    gather_findings,
    join_texts,
    rule_findings,
)
from importer.normalise import normalise_frame, quoted, type_finding_parts
from importer.read import Sheet, read_sheet
from importer.schema import MAX_UNLOCK_DAYS, schema_failures, title_key, url_problems

if TYPE_CHECKING:  # thumbnails imports httpx: loaded only when --check-thumbnails is used
    from importer.thumbnails import ThumbnailChecker


#: key[0] of a row whose course is known only by name until the plan stage resolves it.
UNRESOLVED_COURSE = 0


@dataclass(frozen=True)
class ValidRow:
    """A row that passed validation, ready to be planned and posted.

    A row that names its course only by the Course column has key[0] == UNRESOLVED_COURSE
    and no "CourseId" in its payload; the plan stage looks `course_name` up on the server
    and calls `with_course`. A row with both keeps both (the plan checks they agree).
    """

    source_row: int
    key: tuple[int, int]  # (CourseId or UNRESOLVED_COURSE, DisplayOrder)
    payload: dict[str, object]  # POST body (plain Python ints, bools and strs)
    course_name: str | None = None  # the Course column's text (trimmed), when given
    section_id: int | None = None  # the Section Id column's value (--update matches by it)

    @property
    def needs_course(self) -> bool:
        """True until the course name has been resolved to an id."""
        return self.key[0] == UNRESOLVED_COURSE

    def with_course(self, course_id: int) -> ValidRow:
        """This row in course `course_id` (key and payload), e.g. once its name is resolved."""
        rest = {name: value for name, value in self.payload.items() if name != "CourseId"}
        payload: dict[str, object] = {"CourseId": course_id, **rest}
        return replace(self, key=(course_id, self.key[1]), payload=payload)


@dataclass
class ValidationResult:
    """Everything validation learnt about one sheet."""

    sheet: Sheet
    table: pd.DataFrame  # source_row + one typed column per field, NA if blank or bad
    findings: pd.DataFrame  # findings.FINDING_COLUMNS
    errors: int
    warnings: int
    ok: bool
    invalid_rows: set[int] = field(default_factory=set)

    def valid_rows(self) -> list[ValidRow]:
        """Rows without errors, with the POST body each one becomes.

        Every body carries CourseId (unless the course is known only by name), Title,
        DisplayOrder, UnlockType, UnlockAfterDays (0 unless Timed) and Active (true unless
        the sheet says No), so nothing depends on a server default; the optional
        SectionContents, NewImageUrl, ClearImageFile (only when Yes) and SystemId when given.
        """
        table = self.table[~self.table["source_row"].isin(self.invalid_rows)]
        cols = {
            name: table[name].astype(object).where(table[name].notna(), None).tolist()
            for name in ("source_row", *FIELDS)
        }
        rows: list[ValidRow] = []
        section_ids: dict[int, int] = self.sheet.extra.get("section_ids") or {}  # type: ignore[assignment]
        for i, source_row in enumerate(cols["source_row"]):
            unlock = int(cols["UnlockType"][i])
            days = cols["UnlockAfterDays"][i]
            course = cols["CourseId"][i]
            active = cols["Active"][i]
            order = int(cols["DisplayOrder"][i])
            payload: dict[str, object] = {}
            if course is not None:
                payload["CourseId"] = int(course)
            payload |= {
                "Title": str(cols["Title"][i]),
                "DisplayOrder": order,
                "UnlockType": unlock,
                "UnlockAfterDays": int(days) if unlock == TIMED and days is not None else 0,
                "Active": True if active is None else bool(active),
            }
            for name in _OPTIONAL_TEXT:
                if cols[name][i] is not None:
                    payload[name] = str(cols[name][i])
            if cols["ClearImageFile"][i] is True:
                payload["ClearImageFile"] = True
            name = cols["CourseName"][i]
            key = (UNRESOLVED_COURSE if course is None else int(course), order)
            rows.append(
                ValidRow(
                    int(source_row),
                    key,
                    payload,
                    None if name is None else str(name),
                    section_ids.get(int(source_row)),
                )
            )
        return rows


#: Optional text fields sent when the cell is filled.
_OPTIONAL_TEXT: tuple[str, ...] = tuple(
    name
    for name in SENT_FIELDS
    if BY_FIELD[name].kind in ("text", "html", "url") and name not in ("Title",)
)


# --- messages (built only for rows that have findings) ---------------------------------------


def _header(name: str, columns: dict[str, str]) -> str:
    """The header as the person typed it (so they can find it), else the friendly one."""
    return columns.get(name) or BY_FIELD[name].header


def _rows_text(rows: list[int], *, limit: int = 8) -> str:
    """'row 4', 'rows 4 and 7', 'rows 2, 3, 5 and 9', or the first few and how many more."""
    rows = sorted(rows)
    if len(rows) == 1:
        return f"row {rows[0]}"
    if len(rows) > limit:
        shown = ", ".join(str(r) for r in rows[:limit])
        return f"rows {shown} and {len(rows) - limit} more"
    return "rows " + ", ".join(str(r) for r in rows[:-1]) + f" and {rows[-1]}"


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"


def _group_messages(
    table: pd.DataFrame, positions: list[int], keys: list[str], make: Callable[..., str]
) -> list[str]:
    """Messages for rows that share a key: each names every row of its group.

    `make(key, rows, value)` gets the group key, the group's source rows and the row's value.
    """
    part = table.iloc[positions]
    groups: dict[tuple[object, ...], list[int]] = {}
    tuples = list(zip(*(part[k].tolist() for k in keys), strict=True))
    for key, row in zip(tuples, part["source_row"].tolist(), strict=True):
        groups.setdefault(key, []).append(int(row))
    own = part[keys[-1] if keys[-1] in FIELDS else "Title"].tolist()
    made: dict[tuple[object, object], str] = {}  # one message per group and spelling
    for key, value in zip(tuples, own, strict=True):
        if (key, value) not in made:
            made[key, value] = make(key, groups[key], value)
    return [made[key, value] for key, value in zip(tuples, own, strict=True)]


def _messages(
    rule: str, fld: str, table: pd.DataFrame, positions: list[int], columns: dict[str, str]
) -> list[str]:
    """One sentence per failing row: what is wrong, where, and how to fix it."""
    part = table.iloc[positions]
    rows = part["source_row"].tolist()
    values = part[fld].astype(object).tolist()
    courses = part["_course"].tolist()
    header = _header(fld, columns)
    if rule == Rule.REQUIRED and fld == "CourseId" and "CourseName" in columns:
        name = _header("CourseName", columns)
        return [
            f"{header} is blank on row {r}: fill it in, or give the course's name in {name}."
            for r in rows
        ]
    if rule == Rule.REQUIRED:
        return [f"{header} is blank on row {r}: fill it in." for r in rows]
    if rule == Rule.COURSE_NEEDS_SERVER:
        return [
            f"Row {r} gives the course by name ({header} {quoted(v)}) with no Course ID: it "
            "is resolved against the server at plan time."
            for r, v in zip(rows, values, strict=True)
        ]
    if rule == Rule.TEMPLATE_EXAMPLE:
        return [
            f"Row {r} is an example row from the template ({header} says Yes): delete it."
            for r in rows
        ]
    if rule == Rule.OUT_OF_RANGE:
        bound = {
            "CourseId": "a course id of 1 or more",
            "DisplayOrder": "a position of 0 or more",
            "UnlockAfterDays": f"a number of days from 0 to {MAX_UNLOCK_DAYS}",
        }[fld]
        return [
            f"{header} {v} on row {r} is out of range: use {bound}."
            for r, v in zip(rows, values, strict=True)
        ]
    if rule == Rule.INVALID_THUMBNAIL_URL:
        why = url_problems(part["NewImageUrl"]).tolist()
        return [
            f"{header} on row {r} {w}: give a public https address of a JPG, PNG or GIF image."
            for r, w in zip(rows, why, strict=True)
        ]
    if rule == Rule.THUMBNAIL_TYPE_UNKNOWN:
        return [
            f"{header} on row {r} does not end in .jpg, .jpeg, .png or .gif, so the type can "
            "only be checked online: run with --check-thumbnails."
            for r in rows
        ]
    if rule == Rule.TIMED_NEEDS_DAYS and fld not in columns:
        return [
            f"Row {r} is Timed but the sheet has no {header} column: add one with the "
            "number of days after enrolment, or choose another unlock type."
            for r in rows
        ]
    if rule == Rule.TIMED_NEEDS_DAYS:
        return [
            f"Row {r} is Timed but {header} is blank: give the number of days after "
            "enrolment, or choose another unlock type."
            for r in rows
        ]
    if rule == Rule.THUMBNAIL_CONFLICT:
        return [
            f"Row {r} has an address in {header} and Yes in "
            f"{_header('ClearImageFile', columns)}: keep only one of them."
            for r in rows
        ]
    if rule == Rule.DAYS_IGNORED:
        kinds = part["UnlockType"].map(UNLOCK_TYPES).tolist()
        return [
            f"{header} {v} on row {r} is ignored because the section is {k}: "
            "clear it, or set the unlock type to Timed."
            for r, v, k in zip(rows, values, kinds, strict=True)
        ]
    if rule == Rule.SEQUENTIAL_FIRST:
        return [
            f"Row {r} is the first section of course {c} but is Sequential, so nothing "
            "comes before it: make it Immediate."
            for r, c in zip(rows, courses, strict=True)
        ]
    if rule == Rule.TIMED_ZERO_DAYS:
        return [
            f"Row {r} is Timed with 0 days, so it opens at once: make it Immediate or "
            "give a number of days."
            for r in rows
        ]
    if rule == Rule.DISPLAY_ORDER_DUPLICATE:
        return _group_messages(
            table,
            positions,
            ["_course", "DisplayOrder"],
            lambda key, group, _: (
                f"{header} {key[1]} is used {_times(len(group))} in course "
                f"{key[0]} ({_rows_text(group)}): give each section its own position."
            ),
        )
    if rule == Rule.DUPLICATE_TITLE:
        keyed = table.assign(_key=table["Title"].map(title_key, na_action="ignore"))
        return _group_messages(
            keyed,
            positions,
            ["_course", "_key"],
            lambda key, group, title: (
                f"{header} {quoted(title)} is used {_times(len(group))} in "
                f"course {key[0]} ({_rows_text(group)}): give each section its own title."
            ),
        )
    if rule == Rule.SYSTEM_ID_DUPLICATE:
        return _group_messages(
            table,
            positions,
            ["_course", "SystemId"],
            lambda key, group, value: (
                f"{header} {quoted(value)} is used {_times(len(group))} in course {key[0]} "
                f"({_rows_text(group)}): a System ID names one section, give each its own."
            ),
        )
    raise AssertionError(f"no message for rule {rule}")  # pragma: no cover


def _schema_findings(typed: pd.DataFrame, sheet: Sheet, bad: dict[str, pd.Series]) -> pd.DataFrame:
    """Map the schema's failure cases (index -> source_row) to findings."""
    failures = schema_failures(typed)
    if failures.empty:
        return findings_frame()
    # how messages name a course: its id, else its name as typed
    names = typed["CourseName"].map(quoted, na_action="ignore")
    typed = typed.assign(
        _course=typed["CourseId"].astype(object).where(typed["CourseId"].notna(), names)
    )
    parts: list[pd.DataFrame] = []
    for (rule_key, field_key), group in failures.groupby(["rule", "field"], sort=False):
        rule, fld = str(rule_key), str(field_key)
        index = np.sort(group["index"].to_numpy(dtype="int64"))
        if fld in bad:  # a type (or reader) finding already covers this cell
            index = index[~bad[fld].to_numpy(dtype=bool)[index]]
        positions = index.tolist()
        stood_in = fld == "CourseId" and "CourseName" in sheet.columns
        if rule == Rule.REQUIRED and fld not in sheet.columns and not stood_in:
            # missing_column says it once
            positions = []
        if not positions:
            continue
        raw_col = sheet.columns.get(fld)
        raw_values = (
            sheet.raw[raw_col].iloc[positions].astype(str).tolist()
            if raw_col
            else [None] * len(positions)
        )
        parts.append(
            rule_findings(
                Rule(rule),
                column=raw_col,
                field=fld,
                source_rows=typed["source_row"].iloc[positions].tolist(),
                values=raw_values,
                messages=_messages(rule, fld, typed, positions, sheet.columns),
            )
        )
    return findings_frame(pd.concat(parts, ignore_index=True)) if parts else findings_frame()


def validate_sheet(
    sheet: Sheet,
    *,
    check_thumbnails: bool = False,
    thumbnail_checker: ThumbnailChecker | None = None,
) -> ValidationResult:
    """Validate every row of `sheet` in one pass; never raises on bad data.

    `thumbnail_checker` (a `thumbnails.ThumbnailChecker`) replaces the default checker when
    `check_thumbnails` is true (tests use one that allows a loopback server).
    """
    raw = sheet.raw.reset_index(drop=True)
    sheet_view = replace(sheet, raw=raw)  # positional index: schema failure index -> row
    typed, bad = normalise_frame(raw, sheet.columns)
    parts = [
        findings_frame(sheet.findings),
        _schema_findings(typed, sheet_view, _covered(bad, raw, sheet.findings)),
        *type_finding_parts(raw, sheet.columns, bad),
    ]
    if check_thumbnails and "NewImageUrl" in sheet.columns:
        from importer.thumbnails import ThumbnailChecker, thumbnail_findings

        # the online check decides what the extension could not
        parts[1] = parts[1][parts[1]["rule"] != str(Rule.THUMBNAIL_TYPE_UNKNOWN)]
        checker = thumbnail_checker or ThumbnailChecker()
        parts.append(thumbnail_findings(typed, sheet_view, checker))
    findings = gather_findings(parts)  # empties parts: the findings are not held twice
    return _result(sheet, typed, findings)


def _covered(
    bad: dict[str, pd.Series], raw: pd.DataFrame, findings: list[Finding]
) -> dict[str, pd.Series]:
    """Cells already explained by a finding (unparseable, or a reader finding such as
    formula_without_value): the schema's findings for them would only repeat the problem."""
    by_field: dict[str, set[int]] = {}
    for finding in findings:
        if finding.source_row is not None and finding.field and finding.severity == Severity.ERROR:
            by_field.setdefault(finding.field, set()).add(finding.source_row)
    if not by_field:
        return bad
    covered = dict(bad)
    for name, rows in by_field.items():
        if name in covered:
            covered[name] = covered[name] | raw["source_row"].isin(rows).to_numpy()
    return covered


def _result(sheet: Sheet, typed: pd.DataFrame, findings: pd.DataFrame) -> ValidationResult:
    is_error = findings["severity"] == str(Severity.ERROR)
    errors = int(is_error.sum())
    file_level = is_error & findings["source_row"].isna()
    if file_level.any():  # e.g. a missing required column: no row can be imported
        invalid = set(typed["source_row"].tolist())
    else:
        invalid = set(findings.loc[is_error, "source_row"].astype("int64").tolist())
    return ValidationResult(
        sheet=sheet,
        table=typed,
        findings=findings,
        errors=errors,
        warnings=len(findings) - errors,
        ok=errors == 0,
        invalid_rows=invalid,
    )


def validate_file(
    path: str | Path,
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    check_thumbnails: bool = False,
    column_map: Mapping[str, str] | None = None,
) -> ValidationResult:
    """Read then validate one file. Raises InputError when the file cannot be read
    (ConfigError when `column_map` names no known column; see read.read_sheet)."""
    sheet_read = read_sheet(path, sheet=sheet, delimiter=delimiter, column_map=column_map)
    return validate_sheet(sheet_read, check_thumbnails=check_thumbnails)


def _texts(series: pd.Series) -> list[str | None]:
    """A findings text column as JSON-native values (None for missing)."""
    return [value if isinstance(value, str) else None for value in series.tolist()]


def summary(result: ValidationResult) -> dict[str, object]:
    """The `sections validate --format json` object (JSON-native types only)."""
    head = _summary_head(result)
    head["findings"] = [finding for chunk in _finding_chunks(result) for finding in chunk]
    return head


def write_summary_json(result: ValidationResult, out: TextIO, *, chunk: int = 100_000) -> None:
    """Write the `summary(result)` object as JSON to `out`, the findings a chunk at a time and
    encoded by vectorised string kernels: a million findings never exist as one list of dicts
    or one string. Same data as json.dumps(summary(result)); spacing may differ."""
    head = json.dumps(_summary_head(result), ensure_ascii=False)
    out.write(head[:-1] + ', "findings": [')
    frame = result.findings
    for start in range(0, len(frame), chunk):
        records = _json_records(frame.iloc[start : start + chunk])
        out.write(("" if start == 0 else ",") + _joined(records, ","))
    out.write("]}\n")


def _joined(texts: pd.Series, separator: str) -> str:
    """`separator.join(texts)` by one Arrow kernel (no Python string per element)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(texts.array)
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    one_list = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    return str(pc.binary_join(one_list, pa.scalar(separator, values.type))[0].as_py())


def _json_records(findings: pd.DataFrame) -> pd.Series:
    """Each finding as the JSON object text json.dumps writes for it (PUBLIC_FINDING_KEYS)."""
    parts: list[pd.Series | str] = []
    for position, (key, name) in enumerate(zip(PUBLIC_FINDING_KEYS, FINDING_COLUMNS, strict=True)):
        column = findings[name]
        parts.append(("{" if position == 0 else ", ") + f"{json.dumps(key)}: ")
        if name == "source_row":
            parts.append(column.astype("str").fillna("null"))
        else:
            parts.append(_json_strings(column, few_distinct=name in NAME_COLUMNS))
    return join_texts(*parts, "}")


def _json_strings(values: pd.Series, *, few_distinct: bool) -> pd.Series:
    """Each value as a JSON string ("null" when missing), as json.dumps(ensure_ascii=False)
    writes it. Few distinct values (rule, column, ...): json.dumps of each, spread by their
    codes; free text: quotes added by one kernel, and json.dumps only for the text it would
    escape."""
    text = values.astype("str")
    if few_distinct:
        codes, distinct = pd.factorize(text)
        literals = [json.dumps(value, ensure_ascii=False) for value in distinct.tolist()]
        encoded = pd.Series([*literals, "null"], dtype="str")  # code -1 (missing): "null"
        return pd.Series(encoded.array.take(codes), index=values.index)
    literal = join_texts('"', text, '"')
    special = text.str.contains(r'[\x00-\x1f"\\]').fillna(False).to_numpy(dtype=bool)
    if special.any():
        rest = text[special]
        literal = literal.where(~special, rest.map(lambda v: json.dumps(v, ensure_ascii=False)))
    return literal.fillna("null")


def _summary_head(result: ValidationResult) -> dict[str, object]:
    sheet = result.sheet
    return {
        "file": str(sheet.path),
        "sheet": sheet.sheet_name,
        "encoding": sheet.encoding,
        "delimiter": sheet.delimiter,
        "rows": len(sheet.raw),
        "errors": result.errors,
        "warnings": result.warnings,
    }


def _finding_chunks(
    result: ValidationResult, chunk: int = 20_000
) -> Iterator[list[dict[str, object]]]:
    """The findings as JSON-native dicts (PUBLIC_FINDING_KEYS), `chunk` rows at a time."""
    frame = result.findings
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        numbers: list[int] = part["source_row"].to_numpy(dtype="int64", na_value=-1).tolist()
        rows = [None if row < 0 else row for row in numbers]  # -1: a header finding
        texts = [_texts(part[name]) for name in FINDING_COLUMNS[1:]]  # all but source_row
        yield [
            dict(zip(PUBLIC_FINDING_KEYS, values, strict=True))
            for values in zip(rows, *texts, strict=True)
        ]
