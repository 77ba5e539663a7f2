"""The column dictionary's newer columns: Active always sent, System ID, Course by name, Example."""

from __future__ import annotations

from pathlib import Path

from fixtures_read import csv_text, write_text

from importer.codes import Rule, Severity, severity_of
from importer.columns import field_for_header
from importer.validate import UNRESOLVED_COURSE, ValidationResult, validate_file

HEADER = ("Course ID", "Section title", "Display order", "Unlock type")


def _validate(tmp_path: Path, rows: list[tuple[str, ...]]) -> ValidationResult:
    return validate_file(write_text(tmp_path, "s.csv", csv_text(rows)))


def _rules(result: ValidationResult) -> list[tuple[int | None, str, str]]:
    frame = result.findings
    return [
        (None if row is None or row != row else int(row), rule, severity)
        for row, rule, severity in zip(
            frame["source_row"].astype(object), frame["rule"], frame["severity"], strict=True
        )
    ]


def test_aliases_of_the_new_columns() -> None:
    assert field_for_header("External ID") == "SystemId"
    assert field_for_header("legacy_id") == "SystemId"
    assert field_for_header("System ID") == "SystemId"
    assert field_for_header("Course") == "CourseName"
    assert field_for_header("Course ID") == "CourseId"
    assert field_for_header("Example") == "Example"


def test_active_is_sent_true_when_blank_or_absent_and_false_when_no(tmp_path: Path) -> None:
    rows = [
        (*HEADER, "Active"),
        ("101", "A", "1", "Immediate", ""),
        ("101", "B", "2", "Immediate", "No"),
    ]
    payloads = [r.payload for r in _validate(tmp_path, rows).valid_rows()]
    assert [p["Active"] for p in payloads] == [True, False]
    absent = _validate(tmp_path, [HEADER, ("101", "A", "1", "Immediate")])
    (row,) = absent.valid_rows()
    assert row.payload["Active"] is True and row.payload["UnlockType"] == 1


def test_system_id_is_sent_and_must_be_unique_per_course(tmp_path: Path) -> None:
    rows = [
        (*HEADER, "External ID"),
        ("101", "A", "1", "Immediate", "LEG-1"),
        ("101", "B", "2", "Immediate", "LEG-1"),
        ("102", "C", "1", "Immediate", "LEG-1"),
        ("102", "D", "2", "Immediate", ""),
    ]
    result = _validate(tmp_path, rows)
    duplicates = [f for f in _rules(result) if f[1] == Rule.SYSTEM_ID_DUPLICATE]
    assert duplicates == [(2, "system_id_duplicate", "error"), (3, "system_id_duplicate", "error")]
    message = result.findings.loc[result.findings["rule"] == "system_id_duplicate", "message"]
    assert message.iloc[0].startswith("External ID 'LEG-1' is used twice in course 101 (rows 2")
    valid = {r.source_row: r.payload for r in result.valid_rows()}
    assert valid[4]["SystemId"] == "LEG-1" and "SystemId" not in valid[5]


def test_course_name_instead_of_id_is_a_warning_and_carried_for_the_plan(tmp_path: Path) -> None:
    rows = [
        ("Course", "Section title", "Display order", "Unlock type"),
        (" Intro to Python ", "A", "1", "Immediate"),
        ("intro to python", "B", "1", "Immediate"),
        ("", "C", "2", "Immediate"),
    ]
    result = _validate(tmp_path, rows)
    found = _rules(result)
    assert (2, "course_needs_server", "warning") in found
    assert severity_of(Rule.COURSE_NEEDS_SERVER) == Severity.WARNING
    # the same course by name, in any case: the display order clash is still found
    assert (2, "display_order_duplicate", "error") in found
    assert (3, "display_order_duplicate", "error") in found
    # no name and no id: required, with a hint about the Course column
    (required,) = result.findings[result.findings["rule"] == "required"].itertuples()
    assert required.source_row == 4 and "course's name in Course" in required.message
    assert not any(rule == "missing_column" for _, rule, _ in found)
    text = result.findings.loc[result.findings["rule"] == "course_needs_server", "message"]
    assert "resolved against the server at plan time" in text.iloc[0]


def test_unresolved_row_carries_its_name_and_resolves_later(tmp_path: Path) -> None:
    rows = [
        ("Course", "Course ID", "Section title", "Display order", "Unlock type"),
        ("Intro", "", "A", "1", "Immediate"),
        ("Intro", "101", "B", "2", "Immediate"),
    ]
    first, second = _validate(tmp_path, rows).valid_rows()
    assert first.needs_course and first.key == (UNRESOLVED_COURSE, 1)
    assert first.course_name == "Intro" and "CourseId" not in first.payload
    resolved = first.with_course(205)
    assert resolved.key == (205, 1) and resolved.payload["CourseId"] == 205
    assert not resolved.needs_course and resolved.payload["Title"] == "A"
    assert not second.needs_course and second.key == (101, 2) and second.course_name == "Intro"
    assert "CourseName" not in second.payload  # read, never sent


def test_missing_course_column_names_both_ways(tmp_path: Path) -> None:
    rows = [("Section title", "Display order", "Unlock type"), ("A", "1", "Immediate")]
    result = _validate(tmp_path, rows)
    missing = result.findings[result.findings["rule"] == "missing_column"]
    assert len(missing) == 1 and "Course ID" in missing["message"].iloc[0]
    assert "headed Course with the course's name" in missing["message"].iloc[0]


def test_template_example_rows_are_errors(tmp_path: Path) -> None:
    rows = [
        (*HEADER, "Example"),
        ("101", "A", "1", "Immediate", "Yes"),
        ("101", "B", "2", "Immediate", ""),
    ]
    result = _validate(tmp_path, rows)
    assert _rules(result) == [(2, "template_example", "error")]
    message = result.findings["message"].iloc[0]
    assert "example row from the template" in message and "delete it" in message
    assert [r.source_row for r in result.valid_rows()] == [3]
    assert "Example" not in result.valid_rows()[0].payload
