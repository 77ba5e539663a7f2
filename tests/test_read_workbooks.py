"""Workbooks beyond the plain case: a cell bomb, sheets picked by their headers, --column maps."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_read import HEADER, ROWS, SHEET1, csv_text, patch_member, write_text, write_xlsx

from importer.codes import Rule
from importer.errors import ConfigError, InputError
from importer.read import read_sheet
from importer.validate import validate_file

BOMB_CELL = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>boom</t></is></c></row>'


def _bomb(tmp_path: Path) -> Path:
    path = write_xlsx(tmp_path, "bomb.xlsx")
    patch_member(path, SHEET1, b"</sheetData>", BOMB_CELL + b"</sheetData>")
    patch_member(path, SHEET1, b'<dimension ref="A1:D3" />', b'<dimension ref="A1:XFD1048576" />')
    return path


def test_cell_bomb_is_read_at_the_tables_size_and_reported_once(tmp_path: Path) -> None:
    path = _bomb(tmp_path)
    assert path.stat().st_size < 10_000
    started = time.perf_counter()
    sheet = read_sheet(path)
    assert time.perf_counter() - started < 5
    assert list(sheet.raw.columns) == ["source_row", *HEADER]
    assert len(sheet.raw) == len(ROWS)
    (finding,) = sheet.findings
    assert finding.rule == Rule.CELLS_OUTSIDE_TABLE and "XFD1048576" in finding.message


def test_cell_bomb_stays_small_in_a_fresh_process(tmp_path: Path) -> None:
    """Whole process: within 5 s and far under 500 MB of memory."""
    path = _bomb(tmp_path)
    code = (
        "import json, resource, sys, time\n"
        "from importer.validate import validate_file\n"
        "t = time.perf_counter(); r = validate_file(sys.argv[1])\n"
        "print(json.dumps([time.perf_counter() - t, len(r.table),"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seconds, rows, peak_mb = json.loads(done.stdout)
    assert seconds < 5 and rows == len(ROWS) and peak_mb < 500


def test_first_sheet_whose_headers_match_is_used(tmp_path: Path) -> None:
    """A "Read me" first sheet is passed over for the sheet that holds the table."""
    path = write_xlsx(
        tmp_path,
        sheets={
            "Read me": [("How to fill this workbook",), ("One row per section.",)],
            "Sections": [HEADER, *ROWS],
        },
    )
    result = validate_file(path)
    assert result.errors == 0 and result.warnings == 0
    assert result.sheet.sheet_name == "Sections"
    assert result.sheet.extra["sheet_picked"] is True


def test_another_sheet_with_rows_is_a_warning(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, sheets={"Outline": [HEADER, *ROWS], "Spring": [HEADER, *ROWS]})
    sheet = read_sheet(path)
    assert sheet.sheet_name == "Outline"
    (finding,) = sheet.findings
    assert finding.rule == Rule.OTHER_SHEET_HAS_ROWS
    assert '"Spring"' in finding.message and '--sheet "Spring"' in finding.message
    assert read_sheet(path, sheet="Spring").findings == []  # chosen by name: no warning


# --------------------------------------------------------------------------- header help


def test_near_miss_header_gets_did_you_mean(tmp_path: Path) -> None:
    text = csv_text([("Course ID", "Secton title", "Display order", "Unlock type"), ROWS[0]])
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    messages = {f.rule: f.message for f in sheet.findings}
    assert 'did you mean "Section title"' in messages[Rule.UNKNOWN_COLUMN]
    assert 'did you mean "Section title"' in messages[Rule.MISSING_COLUMN]


def test_unrelated_header_gets_no_suggestion(tmp_path: Path) -> None:
    text = csv_text([(*HEADER, "Notes"), (*ROWS[0], "x")])
    (finding,) = read_sheet(write_text(tmp_path, "s.csv", text)).findings
    assert "did you mean" not in finding.message


def test_column_map_reads_a_persons_header_as_a_known_column(tmp_path: Path) -> None:
    text = csv_text([("Course ID", "Module name", "Display order", "Unlock type"), ROWS[0]])
    path = write_text(tmp_path, "s.csv", text)
    result = validate_file(path, column_map={"module NAME": "Section title"})
    assert result.ok and result.findings.empty
    assert result.valid_rows()[0].payload["Title"] == "Welcome"
    with pytest.raises(ConfigError, match='"Sektion" is not a known column'):
        read_sheet(path, column_map={"Module name": "Sektion"})


def test_cli_column_option(tmp_path: Path) -> None:
    text = csv_text([("Course ID", "Module name", "Display order", "Unlock type"), ROWS[0]])
    path = write_text(tmp_path, "s.csv", text)
    ok = _sections("validate", str(path), "--column", "Module name=Section title")
    assert ok.returncode == 0 and "'Module name' as 'Section title'" in ok.stdout
    assert _sections("validate", str(path)).returncode == 2
    bad = _sections("validate", str(path), "--column", "Module name")
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1


def _sections(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args], capture_output=True, text=True, timeout=120
    )


# --------------------------------------------------------------------------- encodings


def test_csv_mixing_utf8_and_cp1252_lines_is_read_and_warned(tmp_path: Path) -> None:
    lines = [
        ",".join(HEADER).encode() + b"\r\n",
        "101,Café one,1,Immediate\r\n".encode("cp1252"),
        "101,Café two,2,Immediate\r\n".encode(),
        "101,Crème,3,Immediate\r\n".encode(),
    ]
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"".join(lines))
    sheet = read_sheet(path)
    assert sheet.encoding == "cp1252"
    assert sheet.raw["Section title"].tolist() == ["Café one", "Café two", "Crème"]
    (finding,) = sheet.findings
    assert finding.rule == Rule.MIXED_ENCODING and "rows 3, 4 are UTF-8" in finding.message


def test_memory_exhaustion_is_an_input_error_naming_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.read as read_module

    def exhausted(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(read_module, "read_csv", exhausted)
    path = write_text(tmp_path, "huge.csv", csv_text())
    with pytest.raises(InputError, match=r"ran out of memory.*500 MB.*split it") as err:
        read_sheet(path)
    assert "\n" not in str(err.value)
