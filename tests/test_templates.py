"""The spreadsheet templates: generated from the column dictionary and committed up to date."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from importer import templates
from importer.codes import ExitCode
from importer.columns import COLUMNS, UNLOCK_TYPES
from importer.validate import validate_file

ROOT = Path(__file__).resolve().parents[1]
CSV_TEMPLATE = ROOT / "templates" / "course_sections.csv"
XLSX_TEMPLATE = ROOT / "templates" / "course_sections.xlsx"
FRIENDLY = [column.header for column in COLUMNS]
STALE = "run `make templates` (or `sections template`) and commit the result"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", "template", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def letter_of(field: str) -> str:
    """Column letter of a field in the templates (dictionary order)."""
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[[c.field for c in COLUMNS].index(field)]


# --- up to date ------------------------------------------------------------------------------


def test_committed_csv_template_is_up_to_date(tmp_path: Path) -> None:
    """Regenerating the CSV template gives the committed bytes exactly."""
    fresh = templates.write_csv_template(tmp_path / "t.csv")
    assert fresh.read_bytes() == CSV_TEMPLATE.read_bytes(), STALE


def test_committed_xlsx_template_is_up_to_date(tmp_path: Path) -> None:
    """Regenerating the XLSX template gives the committed content (cells, notes, drop-downs)."""
    fresh = templates.write_xlsx_template(tmp_path / "t.xlsx")
    assert templates.xlsx_content(fresh) == templates.xlsx_content(XLSX_TEMPLATE), STALE


def test_xlsx_output_is_deterministic(tmp_path: Path) -> None:
    """Two generations give identical bytes: no timestamps leak into the workbook."""
    first = templates.write_xlsx_template(tmp_path / "a.xlsx").read_bytes()
    second = templates.write_xlsx_template(tmp_path / "b.xlsx").read_bytes()
    assert first == second
    workbook = load_workbook(tmp_path / "a.xlsx")
    assert workbook.properties.created == templates.FIXED_TIMESTAMP
    assert workbook.properties.modified == templates.FIXED_TIMESTAMP


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    """Overwriting a template replaces it whole and leaves nothing else behind."""
    target = tmp_path / "t.csv"
    target.write_text("old", encoding="utf-8")
    templates.write_csv_template(target)
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
    assert target.read_text(encoding="utf-8") == templates.csv_template_text()


# --- content ---------------------------------------------------------------------------------


def test_csv_template_headers_and_one_example_per_unlock_type() -> None:
    """Friendly headers in dictionary order, then one example row per unlock type."""
    rows = list(csv.reader(io.StringIO(CSV_TEMPLATE.read_text(encoding="utf-8"))))
    assert rows[0] == FRIENDLY
    examples = rows[1:]
    assert len(examples) == len(UNLOCK_TYPES)
    unlock = FRIENDLY.index(next(c.header for c in COLUMNS if c.kind == "unlock_type"))
    assert sorted(row[unlock] for row in examples) == sorted(UNLOCK_TYPES.values())
    for index, column in enumerate(COLUMNS):
        assert tuple(row[index] for row in examples) == column.examples


def test_xlsx_template_sheet_headers_examples_and_frozen_bold_header() -> None:
    """The first sheet has the friendly headers (bold, frozen) and the same examples as the CSV."""
    content = templates.xlsx_content(XLSX_TEMPLATE)
    assert content["sheets"] == [templates.SHEET_NAME, templates.INSTRUCTIONS_SHEET]
    sheet = content[templates.SHEET_NAME]
    assert sheet["values"][0] == FRIENDLY
    assert sheet["freeze_panes"] == "A2"
    assert set(sheet["bold"]) == {f"{letter_of(c.field)}1" for c in COLUMNS}
    as_text = [["" if v is None else str(v) for v in row] for row in sheet["values"][1:]]
    assert as_text == templates.template_rows()[1:]
    workbook = load_workbook(XLSX_TEMPLATE)
    widths = workbook[templates.SHEET_NAME].column_dimensions
    assert all(widths[letter_of(c.field)].width >= len(c.header) for c in COLUMNS)


def test_xlsx_template_has_dropdowns_for_unlock_type_and_booleans() -> None:
    """Unlock type offers the UNLOCK_TYPES names; every Yes/No column offers Yes and No;
    the number columns take whole numbers."""
    validations = templates.xlsx_content(XLSX_TEMPLATE)[templates.SHEET_NAME]["validations"]
    by_column = {sqref[0]: (kind, formula) for kind, formula, sqref in validations}
    for column in COLUMNS:
        letter = letter_of(column.field)
        if column.kind == "unlock_type":
            expected = '"' + ",".join(UNLOCK_TYPES.values()) + '"'
        elif column.kind == "boolean":
            expected = f'"{templates.YES},{templates.NO}"'
        elif column.kind == "integer":  # whole numbers from 0
            assert by_column[letter] == ("whole", "0"), column.field
            continue
        else:
            assert letter not in by_column, column.field
            continue
        assert by_column[letter] == ("list", expected), column.field
    assert any(sqref.startswith("D2:") for _, _, sqref in validations)


def test_xlsx_template_header_comments_carry_descriptions() -> None:
    """Every header cell has a comment with the column's description."""
    comments = templates.xlsx_content(XLSX_TEMPLATE)[templates.SHEET_NAME]["comments"]
    assert set(comments) == {f"{letter_of(c.field)}1" for c in COLUMNS}
    for column in COLUMNS:
        text = comments[f"{letter_of(column.field)}1"]
        assert column.description in text
        assert ("Required." in text) == column.required


def test_instructions_sheet_lists_every_column() -> None:
    """Instructions: header, required/optional, other headers, default, description per column."""
    values = templates.xlsx_content(XLSX_TEMPLATE)[templates.INSTRUCTIONS_SHEET]["values"]
    assert values[0] == list(templates.INSTRUCTION_HEADERS)
    by_header = {row[0]: row for row in values[1:] if row and row[0]}
    for column in COLUMNS:
        header, required, others, default, description = by_header[column.header]
        assert required == ("required" if column.required else "optional")
        assert description == column.description
        assert (default or "") == templates.format_default(column)
        for alias in templates.other_headers(column):
            assert alias in (others or "")
    days = by_header["Unlock after days"]
    assert "delay days" in days[2] and days[3] == "0"
    assert by_header["Active"][3] == templates.YES


# --- command line ----------------------------------------------------------------------------


def test_cli_prints_csv_template_to_stdout() -> None:
    """`sections template` prints the committed CSV template."""
    result = run_cli()
    assert result.returncode == ExitCode.OK, result.stderr
    assert result.stdout == CSV_TEMPLATE.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cli_writes_template_file(tmp_path: Path, fmt: str) -> None:
    """`sections template --format F -o PATH` exits 0 and writes the committed template."""
    target = tmp_path / f"out.{fmt}"
    result = run_cli("--format", fmt, "-o", str(target))
    assert result.returncode == ExitCode.OK, result.stderr
    if fmt == "csv":
        assert target.read_bytes() == CSV_TEMPLATE.read_bytes()
    else:
        assert templates.xlsx_content(target) == templates.xlsx_content(XLSX_TEMPLATE)


def test_cli_takes_format_from_output_suffix(tmp_path: Path) -> None:
    """Without --format, an .xlsx output name gives a workbook."""
    target = tmp_path / "mine.xlsx"
    assert run_cli("-o", str(target)).returncode == ExitCode.OK
    assert load_workbook(target).sheetnames[0] == templates.SHEET_NAME


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "xlsx"], "needs -o"),
        (["--format", "csv", "-o", "x.xlsx"], "does not match"),
        (["--format", "xlsx", "-o", "no/such/folder/t.xlsx"], "cannot write"),
        (["--format", "ods"], "ods"),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    """Bad options or an unwritable path: one line on stderr, exit 3, no file, no traceback."""
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == ExitCode.CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- the examples are valid ------------------------------------------------------------------


@pytest.mark.parametrize("path", [CSV_TEMPLATE, XLSX_TEMPLATE], ids=["csv", "xlsx"])
def test_template_examples_are_flagged_until_removed_and_valid_otherwise(
    path: Path, tmp_path: Path
) -> None:
    """A template imported as it is sends nothing: each example row is `template_example`
    (its Example cell says Yes). Unmarked, the example rows pass with no finding at all."""
    result = validate_file(path)
    assert set(result.findings["rule"]) == {"template_example"}
    assert result.errors == len(UNLOCK_TYPES) and not result.valid_rows()
    table = pd.read_csv(CSV_TEMPLATE, dtype=str, keep_default_na=False)
    unmarked = table.assign(Example="")
    unmarked.to_csv(tmp_path / "mine.csv", index=False)
    mine = validate_file(tmp_path / "mine.csv")
    assert (mine.errors, mine.warnings) == (0, 0), mine.findings.to_string()
    assert len(mine.valid_rows()) == len(UNLOCK_TYPES)
