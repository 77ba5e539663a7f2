"""`sections validate` as a subprocess: exit codes, one JSON object, CSV and the table view."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from importer.codes import ExitCode, Rule

HEADER = "Course ID,Section title,Display order,Unlock type,Unlock after days\n"
VALID = HEADER + "101,Welcome,1,Immediate,\n101,Core,2,Sequential,\n101,Final,3,Timed,14\n"
INVALID = HEADER + "101,Welcome,1,Immediate,\n101,Core,1,Timed,\nabc,Final,3,Timed,14\n"
WARNING_ONLY = HEADER + "101,Welcome,1,Sequential,\n"


def sections(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def write(tmp_path: Path):
    def _write(text: str, name: str = "sections.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def test_valid_file_exits_0_with_a_summary_line(write) -> None:
    result = sections("validate", str(write(VALID)))
    assert result.returncode == ExitCode.OK, result.stderr
    assert "3 rows, 0 errors, 0 warnings (encoding utf-8, delimiter ',')" in result.stdout


def test_warnings_alone_exit_0(write) -> None:
    result = sections("validate", str(write(WARNING_ONLY)), "--format", "json")
    assert result.returncode == ExitCode.OK
    data = json.loads(result.stdout)
    assert (data["errors"], data["warnings"]) == (0, 1)


def test_invalid_file_exits_2_and_lists_findings(write) -> None:
    result = sections("validate", str(write(INVALID)))
    assert result.returncode == ExitCode.INVALID_INPUT
    assert Rule.DISPLAY_ORDER_DUPLICATE in result.stdout
    assert "3 rows, 4 errors, 0 warnings" in result.stdout
    assert result.stderr == ""


def test_json_is_exactly_one_object(write) -> None:
    path = write(INVALID)
    result = sections("validate", str(path), "--format", "json")
    assert result.returncode == ExitCode.INVALID_INPUT
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert set(data) == {
        "file", "sheet", "encoding", "delimiter", "rows", "errors", "warnings", "findings"
    }  # fmt: skip
    assert (data["rows"], data["errors"], data["encoding"]) == (3, 4, "utf-8")
    assert {(f["rule"], f["row"]) for f in data["findings"]} == {
        (Rule.DISPLAY_ORDER_DUPLICATE, 2),
        (Rule.DISPLAY_ORDER_DUPLICATE, 3),
        (Rule.TIMED_NEEDS_DAYS, 3),
        (Rule.NOT_AN_INTEGER, 4),
    }
    for finding in data["findings"]:
        assert set(finding) == {"row", "column", "field", "value", "rule", "severity", "message"}


def test_csv_lists_one_line_per_finding(write) -> None:
    result = sections("validate", str(write(INVALID)), "--format", "csv")
    assert result.returncode == ExitCode.INVALID_INPUT
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 4
    assert rows[-1]["rule"] == Rule.NOT_AN_INTEGER and rows[-1]["row"] == "4"
    assert rows[-1]["value"] == "abc" and rows[-1]["column"] == "Course ID"


def test_semicolon_delimiter_option(write) -> None:
    path = write(VALID.replace(",", ";"))
    result = sections("validate", str(path), "--delimiter", ";", "--format", "json")
    assert result.returncode == ExitCode.OK, result.stdout
    assert json.loads(result.stdout)["delimiter"] == ";"


@pytest.mark.parametrize("content", [None, b"", b"\x00\x01\x02binary"])
def test_unreadable_input_is_one_line_and_exit_2(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "broken.csv"
    if content is not None:
        path.write_bytes(content)
    result = sections("validate", str(path), "--format", "json")
    assert result.returncode == ExitCode.INVALID_INPUT
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_check_thumbnails_flag_rejects_unsafe_urls_without_fetching(write) -> None:
    """A private-address thumbnail fails the URL rules; no request is needed to say so."""
    text = (
        "Course ID,Section title,Display order,Unlock type,Thumbnail URL\n"
        "101,Welcome,1,Immediate,http://10.0.0.1/a.png\n"
    )
    result = sections("validate", str(write(text)), "--check-thumbnails", "--format", "json")
    assert result.returncode == ExitCode.INVALID_INPUT
    data = json.loads(result.stdout)
    assert [(f["rule"], f["row"]) for f in data["findings"]] == [(Rule.INVALID_THUMBNAIL_URL, 2)]


def test_csv_cells_cannot_run_as_formulas(write) -> None:
    text = HEADER + '101,Welcome,"=HYPERLINK(""http://x"")",Immediate,\n'
    result = sections("validate", str(write(text)), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["rule"] for r in rows] == [Rule.FORMULA_WITHOUT_VALUE]  # reader finding only
    assert rows[0]["value"].startswith("'=")


def test_table_has_a_severity_column_and_counts_by_rule(write) -> None:
    """In a terminal without colour the severity is still there in words, and after the
    table one line per rule gives its count (errors first)."""
    result = sections("validate", str(write(INVALID)))
    lines = result.stdout.splitlines()
    assert "Severity" in lines[1]
    counts = [line.split() for line in lines if line.startswith(("error ", "warning "))]
    assert counts[0][0] == "error"
    by_rule = {rule: int(count) for _, rule, count in counts}
    assert by_rule[Rule.DISPLAY_ORDER_DUPLICATE] == 2 and sum(by_rule.values()) == 4


def test_help_loads_no_heavy_library() -> None:
    """Start-up: `sections --help` reads each command's help from its source, so it loads
    none of pandas, pandera, httpx, openpyxl or the sandbox's server."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "importer", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Usage:" in done.stdout
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "importer.cli" in loaded  # the measurement sees our modules
    heavy = {"pandas", "pandera", "httpx", "openpyxl", "starlette", "uvicorn"}
    assert loaded.isdisjoint(heavy), loaded & heavy
