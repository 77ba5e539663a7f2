"""Courses by name (issue 9 item 5): the Course column stands for Course ID, resolved at
plan time with one listing of the account's courses; unknown and shared names are refused
per row, naming the candidates, before anything is written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from import_support import control, sandbox, settings

from importer.codes import ExitCode, RowStatus
from importer.engine.actions import ActionKind
from importer.engine.courses import course_names, resolve
from importer.engine.job import run_job
from importer.validate import ValidRow

pytestmark = pytest.mark.usefixtures("sandbox_profile")


def write(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Course", "Course ID", "Section title", "Display order", "Unlock type"])
        writer.writerows(rows)
    return path


def test_names_resolve_case_and_space_insensitively_and_unknown_ones_are_refused(
    tmp_path: Path,
) -> None:
    rows = [
        ["  welcome to the SPACE ", "", "Hello", 1, "Immediate"],
        ["Community Management Basics", 102, "Basics", 1, "Immediate"],
        ["Welcome to the Spice", "", "Typo", 2, "Immediate"],
        ["Running Member Events", 101, "Mismatch", 3, "Immediate"],
    ]
    with sandbox() as server:
        result = run_job(settings(write(tmp_path / "named.csv", rows), server.url, tmp_path))
        assert result.exit_code == ExitCode.ROWS_FAILED
        statuses = list(result.results["status"])
        assert statuses == [
            RowStatus.CREATED,
            RowStatus.CREATED,
            RowStatus.COURSE_NOT_FOUND,
            RowStatus.COURSE_NOT_FOUND,
        ]
        errors = list(result.results["errors"])
        assert "no course is named 'Welcome to the Spice'" in errors[2]
        assert "'Welcome to the Space'" in errors[2]  # the candidate
        assert "Course ID 101 is not the course named 'Running Member Events'" in errors[3]
        held = {(s["CourseId"], s["Title"]) for s in control(server.url, "sections")}
        assert held == {(101, "Hello"), (102, "Basics")}
        assert list(result.results["course_id"])[:2] == [101, 102]


def test_a_name_two_courses_share_is_ambiguous_naming_both() -> None:
    names = course_names(
        [{"Id": 7, "Title": "Onboarding"}, {"Id": 9, "Name": " onboarding "}, {"Id": 11}]
    )
    row = ValidRow(2, (0, 1), {"Title": "Intro", "DisplayOrder": 1}, "Onboarding")
    resolved, refused = resolve([row], names)
    assert resolved == [] and refused[0].kind is ActionKind.COURSE_AMBIGUOUS
    assert "7 'Onboarding'" in refused[0].reason and "9 'onboarding'" in refused[0].reason
    both = ValidRow(3, (9, 2), {"CourseId": 9, "Title": "B", "DisplayOrder": 2}, "ONBOARDING")
    assert resolve([both], names) == ([both], [])  # the Id settles which one
