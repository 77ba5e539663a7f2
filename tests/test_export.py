"""`sections export` (issue 9 item 1): the server's sections as the template's sheet, one
row per section by course then display order, which validates clean and plans to nothing."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from import_support import CREATOR_ENV

from importer.codes import ExitCode
from importer.validate import validate_file

ROOT = Path(__file__).resolve().parent.parent


def sections(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, **CREATOR_ENV}, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample sheet imported into a built-in sandbox whose data stays in `state/`."""
    folder = tmp_path_factory.mktemp("export")
    shutil.copy(ROOT / "data" / "sample_sections.csv", folder / "sample.csv")
    done = sections("import", "sample.csv", "--sandbox", "--state-dir", "state", cwd=folder)
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    return folder


def test_export_every_course_to_csv_and_xlsx(imported: Path) -> None:
    for name in ("all.csv", "all.xlsx"):
        done = sections("export", "--all-courses", "-o", name, "--sandbox", "--state-dir",
                        "state", cwd=imported)  # fmt: skip
        assert done.returncode == ExitCode.OK, done.stdout + done.stderr
        assert "Exported 13 section(s)" in done.stdout
        result = validate_file(imported / name)
        assert (result.errors, result.warnings) == (0, 0), result.findings.to_string()
    with open(imported / "all.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    keys = [(int(r["Course ID"]), int(r["Display order"])) for r in rows]
    assert keys == sorted(keys) and len(rows) == 13
    assert {r["Course"] for r in rows if r["Course ID"] == "101"} == {"Welcome to the Space"}
    for row in rows:
        assert (row["Unlock after days"] != "") == (row["Unlock type"] == "Timed")
        assert row["Thumbnail URL"] == "" and row["Section Id"].isdigit()
    book = openpyxl.load_workbook(imported / "all.xlsx")
    assert book.sheetnames == ["Sections", "Instructions"]
    assert book["Sections"].cell(1, 13).value == "Section Id"
    assert any("Thumbnail URL is blank" in str(c.value) for c in book["Instructions"]["B"])


def test_an_exported_course_plans_to_no_write(imported: Path) -> None:
    """Planned against the same server with no ledger of its own: every row is there."""
    done = sections("export", "--course", "102", "-o", "c102.csv", "--sandbox", "--state-dir",
                    "state", cwd=imported)  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    fresh = imported / "fresh"
    fresh.mkdir(exist_ok=True)
    shutil.copy(imported / "state" / "sandbox.sqlite3", fresh / "sandbox.sqlite3")
    plan = sections("plan", "c102.csv", "--sandbox", "--state-dir", str(fresh), cwd=imported)
    assert plan.returncode == ExitCode.OK, plan.stdout + plan.stderr
    assert "exists: 5" in plan.stdout and "create" not in plan.stdout
    update = sections("plan", "c102.csv", "--update", "--sandbox", "--state-dir", str(fresh),
                      cwd=imported)  # fmt: skip
    assert update.returncode == ExitCode.OK, update.stdout + update.stderr
    assert "exists: 5" in update.stdout and "0 write(s) needed" in update.stdout


def test_unknown_course_and_missing_choice_are_one_line_exit_3(imported: Path) -> None:
    unknown = sections("export", "--course", "999", "-o", "x.csv", "--sandbox", "--state-dir",
                       "state", cwd=imported)  # fmt: skip
    assert unknown.returncode == ExitCode.CONFIG and "course 999" in unknown.stderr
    neither = sections("export", "-o", "x.csv", cwd=imported)
    assert neither.returncode == ExitCode.CONFIG and "--all-courses" in neither.stderr
    assert not (imported / "x.csv").exists()
