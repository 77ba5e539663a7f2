"""The run report folder (importer.report), built from hand-made sheets and results frames."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.styles import Font

from importer.codes import NEEDS_FIX_STATUSES, ExitCode, Rule
from importer.errors import ConfigError
from importer.findings import Finding, findings_frame
from importer.read import Sheet, read_sheet
from importer.report import RunReport, count_summary, write_report

NOW = datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)
HEADERS = ["Course ID", "Section title", "Display order", "Unlock type", "Notes"]
COLUMNS = {
    "CourseId": "Course ID",
    "Title": "Section title",
    "DisplayOrder": "Display order",
    "UnlockType": "Unlock type",
}
FORMULAS = ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-2", "\tx"]

# (source_row, cells, status, section_id, http_status, attempts, errors)
ROWS = [
    (2, ["101", "Welcome", "1", "Immediate", "first"], "created", 501, 201, 1, ""),
    (3, ["101", "Core skills", "2", "Sequential", ""], "failed", None, 400, 1, "Title: too long"),
    (5, ["102", "<b>Bold</b> start", "1", "Immediate", ""], "exists", 777, None, 0, ""),
    (6, ["abc", "Broken", "3", "Sometimes", "x"], "invalid", None, None, 0, "failed validation"),
    (7, ["102", "Taken", "2", "Immediate", ""], "conflict", 778, None, 0, ""),
    (8, ["102", "Later", "3", "Timed", ""], "pending", None, None, 0, ""),
]


def make_sheet(path: Path, rows=ROWS, *, fmt="csv", header_row=1, delimiter=None) -> Sheet:
    raw = pd.DataFrame([cells for _, cells, *_ in rows], columns=HEADERS, dtype=object)
    raw.insert(0, "source_row", [r[0] for r in rows])
    return Sheet(
        raw=raw,
        columns=dict(COLUMNS),
        unknown=["Notes"],
        findings=[],
        path=path,
        format=fmt,
        sheet_name="Outline" if fmt == "xlsx" else None,
        delimiter=delimiter,
        header_row=header_row,
    )


def make_results(rows=ROWS) -> pd.DataFrame:
    def as_int(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    return pd.DataFrame(
        {
            "source_row": [r[0] for r in rows],
            "course_id": pd.array([as_int(r[1][0]) for r in rows], dtype="Int64"),
            "display_order": pd.array([as_int(r[1][2]) for r in rows], dtype="Int64"),
            "title": [r[1][1] for r in rows],
            "status": [r[2] for r in rows],
            "section_id": pd.array([r[3] for r in rows], dtype="Int64"),
            "http_status": pd.array([r[4] for r in rows], dtype="Int64"),
            "attempts": [r[5] for r in rows],
            "errors": [r[6] for r in rows],
        }
    )


def make_findings() -> pd.DataFrame:
    return findings_frame(
        [
            Finding(
                Rule.NOT_AN_INTEGER,
                "Course ID must be a whole number",
                source_row=6,
                column="Course ID",
                field="CourseId",
                value="abc",
            ),
            Finding(
                Rule.INVALID_UNLOCK_TYPE,
                "Unlock type must be Immediate, Sequential or Timed",
                source_row=6,
                column="Unlock type",
                field="UnlockType",
                value="Sometimes",
            ),
            Finding(Rule.UNKNOWN_COLUMN, "Column Notes is not a known column", column="Notes"),
        ]
    )


SUMMARY = {
    "started_at": "2026-11-27T09:29:00Z",
    "finished_at": "2026-11-27T09:30:00Z",
    "exit_code": ExitCode.ROWS_FAILED,
    "api_url": "https://sandbox.example.test/api",
    "requests": {"get": np.int64(3), "post": 2},
    "throttled_409s": np.int64(1),
    "write_rate_per_minute": np.float64(42.5),
    "dry_run": False,
    "message": "1 row failed",
}


def run(tmp_path: Path, sheet: Sheet, results: pd.DataFrame | None = None, **kw) -> Path:
    report = RunReport(
        sheet=sheet,
        results=make_results() if results is None else results,
        findings=kw.pop("findings", make_findings()),
        summary=kw.pop("summary", dict(SUMMARY)),
        **kw,
    )
    return write_report(report, tmp_path / "reports", now=NOW)


def read_csv(path: Path, delimiter: str = ",") -> list[list[str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def write_workbook(path: Path, rows=ROWS) -> None:
    """Title row, header on row 2 (bold), data rows at their source_row (row 4 left blank)."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Outline"
    ws["A1"] = "Course outline Q4"
    for col, header in enumerate(HEADERS, start=1):
        ws.cell(1 + 1, col, header).font = Font(bold=True)
    for source_row, cells, *_ in rows:
        for col, text in enumerate(cells, start=1):
            value: object = int(text) if text.isdigit() else text
            cell = ws.cell(source_row, col, value)
            cell.data_type = "n" if isinstance(value, int) else "s"  # "=..." stays literal text
    ws.column_dimensions["B"].width = 33
    book.create_sheet("Notes")["A1"] = "other sheet"
    book.save(path)


@pytest.fixture
def xlsx_sheet(tmp_path: Path) -> Sheet:
    rows = [(r[0] + 1, *r[1:]) for r in ROWS]  # header on row 2, so data one row lower
    path = tmp_path / "outline.xlsx"
    write_workbook(path, rows)
    return make_sheet(path, rows, fmt="xlsx", header_row=2)


def xlsx_results() -> pd.DataFrame:
    return make_results([(r[0] + 1, *r[1:]) for r in ROWS])


# --------------------------------------------------------------------------- folder and files


def test_folder_name_and_files_for_csv_input(tmp_path: Path) -> None:
    """<stem>-<UTC timestamp>/ with results, errors, html and summary; no xlsx for CSV input."""
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"))
    assert folder == tmp_path / "reports" / "outline-20261127T093000Z"
    assert sorted(p.name for p in folder.iterdir()) == [
        "errors.csv",
        "report.html",
        "results.csv",
        "summary.json",
    ]


def test_folder_name_collisions_get_a_suffix(tmp_path: Path) -> None:
    """Same input and second: -2, -3 instead of overwriting an earlier report."""
    sheet = make_sheet(tmp_path / "outline.csv")
    names = [run(tmp_path, sheet).name for _ in range(3)]
    assert names == [
        "outline-20261127T093000Z",
        "outline-20261127T093000Z-2",
        "outline-20261127T093000Z-3",
    ]


def test_unwritable_report_root_is_a_one_line_config_error(tmp_path: Path) -> None:
    """A report root that is a file cannot hold folders: ConfigError, no traceback material."""
    (tmp_path / "reports").write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        run(tmp_path, make_sheet(tmp_path / "outline.csv"))
    assert "\n" not in str(info.value) and "reports" in str(info.value)


def test_results_csv_has_every_row_in_input_order(tmp_path: Path) -> None:
    """source_row, the person's columns as typed, then what happened to the row."""
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"))
    rows = read_csv(folder / "results.csv")
    assert rows[0] == [
        "source_row",
        *HEADERS,
        "status",
        "section_id",
        "http_status",
        "attempts",
        "errors",
        "changes",
    ]
    assert [r[0] for r in rows[1:]] == [str(r[0]) for r in ROWS]
    assert rows[1] == [
        "2",
        "101",
        "Welcome",
        "1",
        "Immediate",
        "first",
        "created",
        "501",
        "201",
        "1",
        "",
        "",
    ]
    assert rows[2][6:] == ["failed", "", "400", "1", "Title: too long", ""]
    invalid = rows[4]
    assert invalid[1] == "abc" and invalid[6] == "invalid"
    assert sorted(invalid[10].split("; ")) == [  # validation errors, in findings order
        "Course ID must be a whole number",
        "Unlock type must be Immediate, Sequential or Timed",
    ]


def test_errors_csv_has_the_original_headers_and_only_rows_to_fix(tmp_path: Path) -> None:
    """Exactly the person's headers + Error; failed/invalid/conflict rows, not created/exists/
    pending; every row has a message (the API's, validation's, or a default)."""
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"))
    rows = read_csv(folder / "errors.csv")
    assert rows[0] == [*HEADERS, "Error"]
    assert [r[1] for r in rows[1:]] == ["Core skills", "Broken", "Taken"]
    assert rows[1] == ["101", "Core skills", "2", "Sequential", "", "Title: too long"]
    assert rows[2][:5] == ["abc", "Broken", "3", "Sometimes", "x"]
    assert "whole number" in rows[2][5]
    assert "Display order" in rows[3][5]  # the default message for a conflict


def test_errors_csv_lists_every_status_that_needs_fixing(tmp_path: Path) -> None:
    """One row per RowStatus: errors.csv holds exactly the NEEDS_FIX_STATUSES rows."""
    from importer.codes import RowStatus

    rows = [
        (10 + i, ["101", f"T {s}", str(i + 1), "Immediate", ""], str(s), None, None, 0, "")
        for i, s in enumerate(RowStatus)
    ]
    folder = run(
        tmp_path,
        make_sheet(tmp_path / "all.csv", rows),
        make_results(rows),
        findings=findings_frame(),
    )
    titles = [r[1] for r in read_csv(folder / "errors.csv")[1:]]
    assert titles == [f"T {s}" for s in RowStatus if s in NEEDS_FIX_STATUSES]
    assert all(r[5] for r in read_csv(folder / "errors.csv")[1:])


def test_header_errors_explain_rows_made_invalid_by_the_header(tmp_path: Path) -> None:
    """A file-level error (missing column) is the Error of invalid rows with no error of their
    own; the engine's generic text is only the last resort."""
    findings = findings_frame(
        [
            Finding(
                Rule.MISSING_COLUMN, 'Required column "Unlock type" is missing', field="UnlockType"
            )
        ]
    )
    rows = [(2, ["101", "A", "1", "", ""], "invalid", None, None, 0, "failed validation")]
    folder = run(
        tmp_path, make_sheet(tmp_path / "h.csv", rows), make_results(rows), findings=findings
    )
    assert read_csv(folder / "errors.csv")[1][5] == 'Required column "Unlock type" is missing'
    folder = run(
        tmp_path,
        make_sheet(tmp_path / "h.csv", rows),
        make_results(rows),
        findings=findings_frame(),
    )
    assert read_csv(folder / "errors.csv")[1][5] == "failed validation"


def test_errors_csv_is_header_only_when_nothing_failed(tmp_path: Path) -> None:
    """Automation can always open errors.csv."""
    rows = [r for r in ROWS if r[2] in {"created", "exists", "pending"}]
    folder = run(
        tmp_path,
        make_sheet(tmp_path / "ok.csv", rows),
        make_results(rows),
        findings=findings_frame(),
    )
    assert read_csv(folder / "errors.csv") == [[*HEADERS, "Error"]]


def test_errors_csv_keeps_the_input_delimiter(tmp_path: Path) -> None:
    """A semicolon CSV (European Excel) gets a semicolon errors.csv back."""
    folder = run(tmp_path, make_sheet(tmp_path / "eu.csv", delimiter=";"))
    rows = read_csv(folder / "errors.csv", delimiter=";")
    assert rows[0] == [*HEADERS, "Error"] and len(rows) == 4


def test_errors_csv_round_trips_through_the_reader(tmp_path: Path) -> None:
    """The fixed file imports as it is: same field mapping, Error ignored, no unknown_column
    for it, the person's values unchanged."""
    source = tmp_path / "outline.csv"
    source.write_text(
        ",".join(HEADERS) + "\n" + "".join(",".join(cells) + "\n" for _, cells, *_ in ROWS),
        encoding="utf-8",
    )
    original = read_sheet(source)
    results = make_results(
        [(int(s), *r[1:]) for s, r in zip(original.raw["source_row"], ROWS, strict=True)]
    )
    folder = run(tmp_path, original, results)
    again = read_sheet(folder / "errors.csv")
    assert again.columns == original.columns
    assert again.extra.get("ignored") == ["Error"]
    assert [f.column for f in again.findings if f.rule == Rule.UNKNOWN_COLUMN] == ["Notes"]
    failing = original.raw[original.raw["Section title"].isin(["Core skills", "Broken", "Taken"])]
    pd.testing.assert_frame_equal(
        again.raw.drop(columns="source_row").reset_index(drop=True),
        failing.drop(columns="source_row").reset_index(drop=True),
    )


def test_plan_csv_only_when_a_plan_is_given(tmp_path: Path) -> None:
    """plan.csv mirrors the plan frame."""
    plan = pd.DataFrame(
        {
            "source_row": [2, 3],
            "course_id": [101, 101],
            "display_order": [1, 2],
            "title": ["Welcome", "=evil"],
            "action": ["create", "exists"],
            "section_id": pd.array([None, 9], dtype="Int64"),
            "server_title": [None, "=evil"],
            "server_display_order": [None, 2],
            "reason": ["", ""],
        }
    )
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"), plan=plan)
    rows = read_csv(folder / "plan.csv")
    assert rows[0] == list(plan.columns)
    assert rows[2][3] == "'=evil" and rows[2][5] == "9"
    assert json.loads((folder / "summary.json").read_text())["files"].count("plan.csv") == 1
    assert not (run(tmp_path, make_sheet(tmp_path / "outline.csv")) / "plan.csv").exists()


# --------------------------------------------------------------------------- results.xlsx


def test_results_xlsx_copies_the_sheet_and_adds_three_columns(
    tmp_path: Path, xlsx_sheet: Sheet
) -> None:
    """Original cells and formatting kept, three columns to the right; Status, Section Id,
    Error first on the header row (frozen, filtered); rows to fix filled light red."""
    folder = run(tmp_path, xlsx_sheet, xlsx_results())
    assert (folder / "results.xlsx").exists()
    book = openpyxl.load_workbook(folder / "results.xlsx")
    assert book.sheetnames == ["Outline"]
    ws = book["Outline"]
    original = openpyxl.load_workbook(xlsx_sheet.path)["Outline"]
    for row in original.iter_rows():
        for cell in row:
            assert ws.cell(cell.row, cell.column + 3).value == cell.value, cell.coordinate
    assert ws["D1"].value == "Course outline Q4"
    assert ws["D2"].font.bold and ws.column_dimensions["E"].width == 33
    assert [c.value for c in ws[2]] == ["Status", "Section Id", "Error", *HEADERS]
    assert ws["A3"].value == "created" and ws["B3"].value == 501 and ws["C3"].value is None
    assert ws["A4"].value == "failed" and ws["C4"].value == "Title: too long"
    assert ws.freeze_panes == "A3" and ws.auto_filter.ref == f"A2:H{ws.max_row}"
    filled = {r for r in range(3, 10) if ws.cell(r, 1).fill.fgColor.rgb == "FFFFC7CE"}
    assert filled == {4, 7, 8}  # failed, invalid, conflict
    assert all(ws.cell(4, c).fill.fgColor.rgb == "FFFFC7CE" for c in range(1, 9))


def test_results_xlsx_reads_back_without_report_columns(tmp_path: Path, xlsx_sheet: Sheet) -> None:
    """Importing results.xlsx again ignores Status, Section Id and Error silently."""
    folder = run(tmp_path, xlsx_sheet, xlsx_results())
    again = read_sheet(folder / "results.xlsx")
    assert sorted(again.extra["ignored"]) == ["Error", "Section Id", "Status"]
    assert again.columns == COLUMNS and again.header_row == 2
    assert again.raw["source_row"].tolist() == xlsx_sheet.raw["source_row"].tolist()


def test_results_xlsx_of_a_results_xlsx_reuses_its_columns(
    tmp_path: Path, xlsx_sheet: Sheet
) -> None:
    """Importing results.xlsx again (statuses as RowStatus members) updates its Status,
    Section Id and Error columns instead of adding more, and unfills rows now done."""
    from importer.codes import RowStatus

    first = run(tmp_path, xlsx_sheet, xlsx_results())
    again = read_sheet(first / "results.xlsx")
    results = xlsx_results().assign(status=RowStatus.CREATED, errors="")
    second = write_report(
        RunReport(again, results, findings_frame(), dict(SUMMARY)), tmp_path / "second", now=NOW
    )
    ws = openpyxl.load_workbook(second / "results.xlsx")["Outline"]
    assert [c.value for c in ws[2]] == ["Status", "Section Id", "Error", *HEADERS]
    assert {ws.cell(r, 1).value for r in range(3, 10) if ws.cell(r, 4).value} == {"created"}
    assert all(ws.cell(r, 3).value is None for r in range(3, 10))
    assert not [r for r in range(3, 10) if ws.cell(r, 1).fill.fgColor.rgb == "FFFFC7CE"]


def test_results_xlsx_with_merged_cells(tmp_path: Path) -> None:
    """Merged cells (read-only in openpyxl) inside a data row do not break the report."""
    path = tmp_path / "merged.xlsx"
    rows = [(r[0] + 1, *r[1:]) for r in ROWS]
    write_workbook(path, rows)
    book = openpyxl.load_workbook(path)
    book["Outline"].merge_cells("E4:G4")  # Notes of the failed row spills past the table
    book.save(path)
    folder = run(tmp_path, make_sheet(path, rows, fmt="xlsx", header_row=2), xlsx_results())
    ws = openpyxl.load_workbook(folder / "results.xlsx")["Outline"]
    assert [str(r) for r in ws.merged_cells.ranges] == ["H4:J4"]  # moved with its cells
    assert ws["A4"].value == "failed" and ws["C4"].value == "Title: too long"
    assert ws["A3"].value == "created"


def test_results_xlsx_is_rebuilt_when_the_original_is_gone(
    tmp_path: Path, xlsx_sheet: Sheet
) -> None:
    """If the workbook was moved away, the report still has a results.xlsx built from raw."""
    xlsx_sheet.path.unlink()
    folder = run(tmp_path, xlsx_sheet, xlsx_results())
    ws = openpyxl.load_workbook(folder / "results.xlsx").active
    assert [c.value for c in ws[1]] == ["Status", "Section Id", "Error", *HEADERS]
    assert ws.max_row == len(ROWS) + 1 and ws["E3"].value == "Core skills"
    assert ws["A3"].value == "failed" and ws["D3"].fill.fgColor.rgb == "FFFFC7CE"
    assert ws.freeze_panes == "A2"


def test_results_xlsx_drops_control_characters_a_workbook_cannot_hold(
    tmp_path: Path, xlsx_sheet: Sheet
) -> None:
    """An API error text with a control character must not break the report (openpyxl
    refuses such cells); results.csv keeps the text as it came."""
    results = xlsx_results()
    results.loc[1, "errors"] = "Title: bad\x01 value"
    folder = run(tmp_path, xlsx_sheet, results)
    ws = openpyxl.load_workbook(folder / "results.xlsx")["Outline"]
    assert ws["C4"].value == "Title: bad value"
    assert "bad\x01 value" in (folder / "results.csv").read_text(encoding="utf-8-sig")


# --------------------------------------------------------------------------- summary.json


def test_summary_json_counts_and_plain_types(tmp_path: Path) -> None:
    """Engine summary kept (numpy/enum converted), counts by status and course, rows, files."""
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"))
    text = (folder / "summary.json").read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert data["exit_code"] == 1 and data["throttled_409s"] == 1
    assert data["write_rate_per_minute"] == 42.5 and data["requests"] == {"get": 3, "post": 2}
    assert data["rows"] == 6
    assert data["counts_by_status"]["created"] == 1 and data["counts_by_status"]["moved"] == 0
    assert data["counts_by_course"] == {
        "101": {"created": 1, "failed": 1},
        "102": {"conflict": 1, "exists": 1, "pending": 1},
        "unknown": {"invalid": 1},
    }
    assert data["files"] == ["results.csv", "errors.csv", "report.html", "summary.json"]
    assert data["input_file"] == "outline.csv" and data["findings"] == {"errors": 2, "warnings": 1}


def test_summary_json_never_holds_credentials(tmp_path: Path) -> None:
    """Secret-named keys are dropped at any depth; URLs lose user:password@ and queries."""
    summary = {
        **SUMMARY,
        "token": "tok-123",
        "Password": "hunter2",
        "auth": {"api_key": "k-1", "client_secret": "s-1", "user": "ann"},
        "api_url": "https://ann:hunter2@sandbox.example.test/api?access_token=tok-123",
        "when": pd.Timestamp("2026-11-27T09:00:00Z"),
        "path": Path("/x/y"),
        "missing": pd.NA,
        "tags": {"b", "a"},
    }
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"), summary=summary)
    text = (folder / "summary.json").read_text()
    for secret in ("tok-123", "hunter2", "k-1", "s-1"):
        assert secret not in text
    keys: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.extend(node)
            for value in node.values():
                walk(value)

    data = json.loads(text)
    walk(data)
    assert not [k for k in keys if re.search(r"token|password|secret|api_key", k, re.I)]
    assert data["auth"] == {"user": "ann"}
    assert data["api_url"] == "https://sandbox.example.test/api"
    assert data["when"].startswith("2026-11-27T09:00:00") and data["path"] == "/x/y"
    assert data["missing"] is None and data["tags"] == ["a", "b"]
    html_text = (folder / "report.html").read_text()
    assert "hunter2" not in html_text and "tok-123" not in html_text


def test_count_summary() -> None:
    """Counts by status (every status present) and by course (numbers sorted, unknown last)."""
    counts = count_summary(make_results())
    assert counts["rows"] == 6
    assert sum(counts["counts_by_status"].values()) == 6
    assert list(counts["counts_by_course"]) == ["101", "102", "unknown"]


# --------------------------------------------------------------------------- report.html


def test_report_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    """No scripts, no external assets, the API URL only as text, a per-course table, and the
    person's "<b>" shown as text."""
    folder = run(tmp_path, make_sheet(tmp_path / "<b>outline.csv"))
    page = (folder / "report.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"\bsrc\s*=", page, re.I) and "url(" not in page
    links = re.findall(r'\bhref\s*=\s*"([^"]*)"', page, re.I)  # only the report's own files
    assert links == ["errors.csv"] and len(re.findall(r"\bhref\s*=", page, re.I)) == 1
    assert [m.start() for m in re.finditer("https?:", page, re.I)] == [
        m.start() for m in re.finditer(re.escape("https://sandbox.example.test/api"), page)
    ]
    assert "<title>Import report: &lt;b&gt;outline.csv</title>" in page
    assert "&lt;b&gt;Bold&lt;/b&gt; start" in page and "<b>Bold</b>" not in page
    courses = page[page.index('<table class="courses">') :]
    courses = courses[: courses.index("</table>")]
    assert "<td>101</td>" in courses and "<td>102</td>" in courses
    assert "some rows failed at the API" in page  # exit code meaning
    assert page.count('<tr class="fix">') == 3


def test_report_html_opens_with_what_to_do_next_and_names_the_courses(tmp_path: Path) -> None:
    """Before any table: each status needing a step with its rows and the step; course names
    beside their Ids (from the plan's course reads)."""
    summary = {**SUMMARY, "course_names": {"101": "Onboarding <basics>", "102": "Events"}}
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"), summary=summary)
    page = (folder / "report.html").read_text()
    assert page.index("What to do next") < page.index("<table")
    steps = page[page.index("What to do next") : page.index("<h2>Summary")]
    assert "failed</span> <b>1</b> (rows 3)" in steps and "import errors.csv" in steps
    assert "conflict</span> <b>1</b>" in steps and "pending</span> <b>1</b>" in steps
    assert "created" not in steps  # nothing to do for rows on the server
    assert "<td>101 (Onboarding &lt;basics&gt;)</td>" in page and "<td>102 (Events)</td>" in page


def test_a_plan_report_says_plan_and_never_claims_rows_are_on_the_server(tmp_path: Path) -> None:
    """A dry run sent nothing: its page is a "Plan report" and exit 0 is not described as
    "every valid row is on the server" (it used to be, for 45 rows still to create)."""
    summary = {**SUMMARY, "exit_code": ExitCode.OK, "dry_run": True}
    folder = run(tmp_path, make_sheet(tmp_path / "outline.csv"), summary=summary)
    page = (folder / "report.html").read_text()
    assert "<h1>Plan report: outline.csv</h1>" in page
    assert "plan only: nothing was sent" in page
    assert "every valid row is on the server" not in page


# --------------------------------------------------------------------------- formula injection


def test_formula_cells_are_neutralised_in_every_file(tmp_path: Path) -> None:
    """Title and Notes cells that look like formulas come out with a leading quote in CSV,
    XLSX and HTML; the frames in memory keep the raw values."""
    rows = [
        (3 + i, ["101", value, str(i + 1), "Immediate", value], "failed", None, 400, 1, value)
        for i, value in enumerate(FORMULAS)
    ]
    path = tmp_path / "evil.xlsx"
    write_workbook(path, rows)
    sheet = make_sheet(path, rows, fmt="xlsx", header_row=2)
    results = make_results(rows)
    raw_before, results_before = sheet.raw.copy(), results.copy()
    folder = run(tmp_path, sheet, results, findings=findings_frame())

    for name in ("results.csv", "errors.csv"):
        for row, value in zip(read_csv(folder / name)[1:], FORMULAS, strict=True):
            assert row.count("'" + value) == 3, (name, row)
    ws = openpyxl.load_workbook(folder / "results.xlsx")["Outline"]
    for offset, value in enumerate(FORMULAS):
        cells = [c.value for c in ws[3 + offset]]
        assert cells[2] == cells[4] == cells[7] == "'" + value
        assert all(c.data_type != "f" for c in ws[3 + offset])
    page = (folder / "report.html").read_text()
    for value in FORMULAS:
        assert html.escape("'" + value) in page
    pd.testing.assert_frame_equal(sheet.raw, raw_before)
    pd.testing.assert_frame_equal(results, results_before)


def test_no_temp_files_are_left_behind(tmp_path: Path, xlsx_sheet: Sheet) -> None:
    """Every file was renamed into place: nothing hidden or *.tmp remains."""
    folder = run(tmp_path, xlsx_sheet, xlsx_results())
    names = [p.name for p in folder.iterdir()]
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    assert len(names) == 5


def test_an_id_above_2_31_is_the_same_integer_in_every_output(tmp_path: Path) -> None:
    """Issue 11: live accounts hand out Ids above 2**31; results.csv and results.xlsx carry
    them as exact integers (no float, no scientific notation)."""
    from import_support import sandbox, settings

    from importer.engine.job import run_job

    source = tmp_path / "sheet.xlsx"
    source.write_bytes(
        (Path(__file__).parent.parent / "data" / "sample_sections.xlsx").read_bytes()
    )
    with sandbox(first_id=2_200_000_000, id_gaps=37) as server:
        result = run_job(settings(source, server.url, tmp_path))
    assert result.exit_code == 0 and result.report_dir is not None
    ids = [int(i) for i in result.results["section_id"]]
    assert min(ids) >= 2_200_000_000 > 2**31
    rows_csv = read_csv(result.report_dir / "results.csv")
    column = rows_csv[0].index("section_id")
    assert sorted(int(r[column]) for r in rows_csv[1:]) == sorted(ids)
    assert all(re.fullmatch(r"\d{10}", r[column]) for r in rows_csv[1:])
    sheet = openpyxl.load_workbook(result.report_dir / "results.xlsx").active
    cells = [sheet.cell(r, 2).value for r in range(2, sheet.max_row + 1)]
    assert sorted(c for c in cells if c is not None) == sorted(ids)
    assert all(type(c) is int for c in cells if c is not None)
    summary = json.loads((result.report_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["section_ids"] == {"min": min(ids), "max": max(ids)}
