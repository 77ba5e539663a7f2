"""`--update` and `sections undo` (issue 9 items 2-4) against the sandbox over loopback.

An edited title, a changed unlock rule and two swapped sections are applied with --update
under every PUT semantics with every other field unchanged; undo puts the before-images
back and deletes what an import created; a section edited on the server after the run is
left alone; the System ID is an upsert key; a Section Id of another course is refused.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from import_support import ADMIN, CREATOR_ENV, control, sandbox, settings

from importer.codes import ExitCode, RowStatus
from importer.engine.job import run_job
from importer.undo import read_target, undo_run

#: The in-process tests run against both sandbox profiles; the CLI one starts its own sandbox.
both_profiles = pytest.mark.usefixtures("sandbox_profile")

HEADERS = ["Course ID", "Section title", "Display order", "Unlock type", "Unlock after days",
           "Introduction (HTML)", "System ID", "Section Id"]  # fmt: skip
ORIGINAL = [
    [101, "Welcome", 1, "Immediate", "", "<p>Hello</p>", "", ""],
    [101, "Profile", 2, "Sequential", "", "<p>Photo</p>", "", ""],
    [101, "Rules", 3, "Immediate", "", "<p>Quiet</p>", "", ""],
    [101, "First month", 4, "Immediate", "", "<p>Check</p>", "", ""],
]


def write(path: Path, rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return path


def edited() -> list[list[Any]]:
    """Title of row 1 edited, row 2 made Timed (5 days), rows 3 and 4 swapped."""
    rows = [list(r) for r in ORIGINAL]
    rows[0][1] = "Welcome aboard"
    rows[1][3], rows[1][4] = "Timed", 5
    rows[2][2], rows[3][2] = 4, 3
    return rows


def on_server(url: str) -> dict[str, dict[str, Any]]:
    """SystemId-free view of the server by title: the fields a person sees."""
    fields = ("DisplayOrder", "UnlockType", "UnlockAfterDays", "SectionContents", "Active")
    return {s["Title"]: {f: s.get(f) for f in fields} for s in control(url, "sections")}


def writes(url: str, method: str) -> int:
    requests = control(url, "stats")["requests"]
    return sum(
        int(n)
        for key, n in requests.items()
        if key.startswith(f"{method} /api/content/coursesections")
    )


@both_profiles
@pytest.mark.parametrize("semantics", ["strict", "replace", "merge"])
def test_update_applies_edits_and_swaps_and_undo_restores_them(
    tmp_path: Path, semantics: str
) -> None:
    with sandbox(put_semantics=semantics) as server:
        url = server.url
        first = run_job(settings(write(tmp_path / "outline.csv", ORIGINAL), url, tmp_path))
        assert first.exit_code == ExitCode.OK
        before = on_server(url)
        stamps = {s["Id"]: s["SystemId"] for s in control(url, "sections")}

        write(tmp_path / "outline.csv", edited())
        plan = run_job(settings(tmp_path / "outline.csv", url, tmp_path, update=True,
                                dry_run=True))  # fmt: skip
        assert plan.plan is not None
        assert list(plan.plan["action"]) == ["update"] * 4
        assert plan.plan.loc[0, "changes"] == 'Title: "Welcome" → "Welcome aboard"'
        assert plan.plan.loc[1, "changes"] == "UnlockType: 2 → 3; UnlockAfterDays: 0 → 5"
        assert plan.plan.loc[2, "changes"] == "DisplayOrder: 3 → 4"

        update = run_job(settings(tmp_path / "outline.csv", url, tmp_path, update=True))
        assert update.exit_code == ExitCode.OK, update.message
        assert writes(url, "PUT") == 4 and writes(url, "POST") == 4
        assert list(update.results["status"]) == [RowStatus.UPDATED] * 4
        after = on_server(url)
        assert after["Welcome aboard"] == before["Welcome"]  # every other field kept
        assert after["Profile"] | {"UnlockType": 2, "UnlockAfterDays": 0} == before["Profile"]
        assert (after["Profile"]["UnlockType"], after["Profile"]["UnlockAfterDays"]) == (3, 5)
        assert after["Rules"]["DisplayOrder"] == 4 and after["First month"]["DisplayOrder"] == 3
        assert {s["Id"]: s["SystemId"] for s in control(url, "sections")} == stamps
        again = run_job(settings(tmp_path / "outline.csv", url, tmp_path, update=True))
        assert again.exit_code == ExitCode.OK and writes(url, "PUT") == 4  # nothing more

        assert update.report_dir is not None and first.report_dir is not None
        undo = undo_run(read_target(update.report_dir), settings(tmp_path / "x", url, tmp_path))
        assert undo.exit_code == ExitCode.OK, undo.message
        assert list(undo.results["status"]) == [RowStatus.RESTORED] * 4
        assert on_server(url) == before
        twice = undo_run(read_target(update.report_dir), settings(tmp_path / "x", url, tmp_path))
        assert "undone already" in twice.message and writes(url, "PUT") == 8

        gone = undo_run(read_target(first.report_dir), settings(tmp_path / "x", url, tmp_path))
        assert gone.exit_code == ExitCode.OK, gone.message
        assert list(gone.results["status"]) == [RowStatus.DELETED] * 4
        assert control(url, "sections") == []


@both_profiles
def test_undo_leaves_a_section_edited_after_the_run_unless_forced(tmp_path: Path) -> None:
    with sandbox() as server:
        url = server.url
        first = run_job(settings(write(tmp_path / "outline.csv", ORIGINAL), url, tmp_path))
        assert first.report_dir is not None
        edited_id = next(s for s in control(url, "sections") if s["Title"] == "Rules")["Id"]
        put_as_admin(url, edited_id, Title="Rules (edited in Nexudus)")

        target = read_target(first.report_dir)
        dry = undo_run(target, settings(tmp_path / "x", url, tmp_path), dry_run=True)
        assert sorted(dry.results["status"]) == ["delete"] * 3 + ["edited_since"]
        assert len(control(url, "sections")) == 4  # a dry run changes nothing
        undo = undo_run(target, settings(tmp_path / "x", url, tmp_path))
        assert undo.exit_code == ExitCode.ROWS_FAILED
        left = control(url, "sections")
        assert [s["Title"] for s in left] == ["Rules (edited in Nexudus)"]
        forced = undo_run(target, settings(tmp_path / "x", url, tmp_path), force=True)
        assert forced.exit_code == ExitCode.OK and control(url, "sections") == []


STORED = ("Id", "CourseId", "Title", "DisplayOrder", "UnlockType", "UnlockAfterDays",
          "SectionContents", "Active", "SystemId")  # fmt: skip


def put_as_admin(url: str, section_id: int, **changes: Any) -> None:
    """A person edits a section in Nexudus (GET, change, PUT)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        token = client.post(
            "/api/token",
            data={"grant_type": "password", "username": ADMIN.username,
                  "password": ADMIN.password},
        ).json()["access_token"]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        record = client.get(f"/api/content/coursesections/{section_id}", headers=headers).json()
        body = {k: record[k] for k in STORED}
        client.put("/api/content/coursesections", json=body | changes,
                   headers=headers).raise_for_status()  # fmt: skip


@both_profiles
def test_system_id_is_an_upsert_key_and_a_foreign_section_id_is_refused(tmp_path: Path) -> None:
    with sandbox() as server:
        url = server.url
        rows = [[101, "Legacy intro", 1, "Immediate", "", "", "LEG-1", ""]]
        assert run_job(settings(write(tmp_path / "a.csv", rows), url, tmp_path)).exit_code == 0
        other = [[102, "Elsewhere", 1, "Immediate", "", "", "", ""]]
        run_job(settings(write(tmp_path / "b.csv", other), url, tmp_path))
        foreign = next(s["Id"] for s in control(url, "sections") if s["CourseId"] == 102)

        renamed = [
            [101, "Legacy introduction", 2, "Immediate", "", "", "LEG-1", ""],
            [101, "Wrong Id", 3, "Immediate", "", "", "", foreign],
        ]
        result = run_job(settings(write(tmp_path / "a.csv", renamed), url, tmp_path, update=True))
        assert list(result.results["status"]) == [RowStatus.UPDATED, RowStatus.CONFLICT]
        assert (
            f"Section Id {foreign} is not a section of course 101"
            in result.results.loc[1, "errors"]
        )
        held = [s for s in control(url, "sections") if s["CourseId"] == 101]
        assert [(s["Title"], s["DisplayOrder"], s["SystemId"]) for s in held] == [
            ("Legacy introduction", 2, "LEG-1")
        ]


def sections_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, **CREATOR_ENV}, timeout=120,
    )  # fmt: skip


def test_undo_cli_one_line_errors(tmp_path: Path) -> None:
    """No summary: exit 2; a plan's report: exit 2; the state folder gone: exit 3."""
    write(tmp_path / "outline.csv", ORIGINAL)
    nothing = sections_cli("undo", str(tmp_path), cwd=tmp_path)
    assert nothing.returncode == ExitCode.INVALID_INPUT and "summary.json" in nothing.stderr
    unfinished = tmp_path / "reports" / "outline-20261204T061351Z"  # a run killed early
    unfinished.mkdir(parents=True)
    cut_short = sections_cli("undo", str(unfinished), cwd=tmp_path)
    assert cut_short.returncode == ExitCode.INVALID_INPUT
    assert "stopped before" in cut_short.stderr and "next run" in cut_short.stderr
    unfinished.rmdir()
    done = sections_cli("import", "outline.csv", "--sandbox", "-q", cwd=tmp_path)
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "To take this run back: sections undo" in done.stdout and "--sandbox" in done.stdout
    report = next((tmp_path / "reports").iterdir())
    plan = sections_cli("plan", "outline.csv", "--sandbox", "-q", cwd=tmp_path)
    planned = max((tmp_path / "reports").iterdir())
    refused = sections_cli("undo", str(planned), cwd=tmp_path)
    assert plan.returncode == 0 and refused.returncode == ExitCode.INVALID_INPUT
    assert "nothing to undo" in refused.stderr
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / ".sections-state").rename(tmp_path / "elsewhere" / "state")
    gone = sections_cli("undo", str(report), "--sandbox", cwd=tmp_path)
    assert gone.returncode == ExitCode.CONFIG and "is gone" in gone.stderr
    assert "Traceback" not in gone.stderr and len(gone.stderr.strip().splitlines()) == 1
    moved = sections_cli("undo", str(report), "--sandbox", "--state-dir",
                         str(tmp_path / "elsewhere" / "state"), cwd=tmp_path)  # fmt: skip
    assert moved.returncode == ExitCode.OK, moved.stdout + moved.stderr
    assert "4 deleted" in moved.stdout
