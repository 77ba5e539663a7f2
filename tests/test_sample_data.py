"""The sample files in data/: the clean one validates cleanly, the invalid one breaks every rule."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from importer import templates
from importer.codes import ExitCode, Rule, Severity, severity_of
from importer.columns import COLUMNS, UNLOCK_TYPES
from importer.read import read_sheet
from importer.validate import summary, validate_file

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SAMPLE_CSV = DATA / "sample_sections.csv"
SAMPLE_XLSX = DATA / "sample_sections.xlsx"
INVALID_CSV = DATA / "invalid_sections.csv"

#: Error rules a file alone cannot trigger: an unreadable file has no findings table, and the
#: thumbnail_* download checks need a server (they are tested with the sandbox).
NOT_FROM_ONE_FILE = frozenset(
    {
        Rule.UNREADABLE_FILE,
        Rule.THUMBNAIL_UNREACHABLE,
        Rule.THUMBNAIL_NOT_IMAGE,
        Rule.THUMBNAIL_TOO_LARGE,
    }
)
ERROR_RULES = {str(r) for r in Rule if severity_of(r) == Severity.ERROR} - NOT_FROM_ONE_FILE
#: duplicate_title is the one warning missing: it needs the Title column, and the file leaves
#: Title out so that missing_column fires while every other rule still can.
INVALID_WARNINGS = {
    str(Rule.UNKNOWN_COLUMN),
    str(Rule.DAYS_IGNORED),
    str(Rule.SEQUENTIAL_FIRST),
    str(Rule.TIMED_ZERO_DAYS),
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# --- the clean sample ------------------------------------------------------------------------


def test_sample_csv_and_xlsx_have_identical_content() -> None:
    """Read through the importer, both sample files give the same table and the same mapping."""
    from_csv, from_xlsx = read_sheet(SAMPLE_CSV), read_sheet(SAMPLE_XLSX)
    assert from_csv.columns == from_xlsx.columns
    pd.testing.assert_frame_equal(from_csv.raw, from_xlsx.raw)


def test_sample_xlsx_is_generated_from_the_csv(tmp_path: Path) -> None:
    """The workbook is the CSV written through the template writer (drop-downs and all)."""
    fresh = templates.write_xlsx_from_csv(SAMPLE_CSV, tmp_path / "s.xlsx")
    assert templates.xlsx_content(fresh) == templates.xlsx_content(SAMPLE_XLSX)


@pytest.mark.parametrize("path", [SAMPLE_CSV, SAMPLE_XLSX], ids=["csv", "xlsx"])
def test_sample_validates_with_no_errors_and_no_warnings(path: Path) -> None:
    """Every sample row is importable and nothing looks like a mistake."""
    result = validate_file(path)
    assert (result.errors, result.warnings) == (0, 0), result.findings.to_string()
    assert len(result.valid_rows()) == len(result.table)


def test_sample_covers_what_the_demo_shows() -> None:
    """Friendly headers, the three sandbox courses, every unlock type, thumbnails and HTML."""
    rows = csv_rows(SAMPLE_CSV)
    assert rows[0] == templates.headers()
    assert 10 <= len(rows) - 1 <= 15
    payloads = [row.payload for row in validate_file(SAMPLE_CSV).valid_rows()]
    assert {p["CourseId"] for p in payloads} == {101, 102, 103}
    assert {p["UnlockType"] for p in payloads} == set(UNLOCK_TYPES)
    assert all(p["UnlockAfterDays"] > 0 for p in payloads if p["UnlockType"] == 3)
    assert sum("NewImageUrl" in p for p in payloads) >= 3
    intros = [str(p.get("SectionContents", "")) for p in payloads]
    assert any("," in t and '"' in t for t in intros)  # CSV quoting is exercised
    assert any(not t.isascii() for t in intros)  # UTF-8 is exercised
    assert any(p["Active"] is False for p in payloads)
    raw = SAMPLE_CSV.read_bytes()
    assert raw.decode("utf-8") and not raw.startswith(b"\xef\xbb\xbf")


# --- the invalid sample ----------------------------------------------------------------------


def test_invalid_sample_triggers_every_error_rule() -> None:
    """One file, every error rule a file can trigger, plus all warnings but duplicate_title."""
    result = validate_file(INVALID_CSV)
    rules = set(result.findings["rule"])
    assert ERROR_RULES - rules == set()
    assert INVALID_WARNINGS - rules == set()
    assert result.errors > 0 and not result.ok
    assert result.valid_rows() == []  # a missing required column blocks every row


def test_invalid_sample_misses_only_the_title_column() -> None:
    """missing_column is reported once, for Title; the other columns are all mapped."""
    result = validate_file(INVALID_CSV)
    missing = result.findings[result.findings["rule"] == str(Rule.MISSING_COLUMN)]
    assert missing["field"].tolist() == ["Title"]
    present = {c.field for c in COLUMNS} - {"Title", "SectionContents"}
    assert present <= set(result.sheet.columns)


# --- command line ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SAMPLE_CSV, SAMPLE_XLSX], ids=["csv", "xlsx"])
def test_cli_validate_sample_exits_0(path: Path) -> None:
    """`sections validate data/sample_sections.*` exits 0."""
    result = run_cli("validate", str(path.relative_to(ROOT)))
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr


def test_cli_validate_invalid_sample_json_exits_2_with_every_error_rule() -> None:
    """`sections validate data/invalid_sections.csv --format json` exits 2 and lists every rule."""
    result = run_cli("validate", "data/invalid_sections.csv", "--format", "json")
    assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
    report = json.loads(result.stdout)
    rules = {finding["rule"] for finding in report["findings"]}
    assert ERROR_RULES - rules == set()
    expected = summary(validate_file(INVALID_CSV))
    assert (report["errors"], report["warnings"]) == (expected["errors"], expected["warnings"])
