"""A fixed errors.csv imports the person's text unchanged, formula-looking titles included."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from importer.report import RunReport, write_report
from importer.validate import validate_file

TITLES = ["+1 bonus round", "=cmd|' /C calc'!A0", "@everyone welcome", "-5 min warm-up"]


def test_errors_csv_round_trip_keeps_formula_looking_titles(tmp_path: Path) -> None:
    """Reports neutralise "=+-@" cells with a "'"; reading them back removes exactly that."""
    source = tmp_path / "sections.csv"
    rows = [
        {"Course ID": "999", "Section title": title, "Display order": str(n), "Unlock type": "1"}
        for n, title in enumerate(TITLES, start=1)
    ]
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    first = validate_file(source)
    assert [r.payload["Title"] for r in first.valid_rows()] == TITLES

    results = pd.DataFrame(
        {
            "source_row": [r.source_row for r in first.valid_rows()],
            "course_id": 999,
            "display_order": range(1, len(TITLES) + 1),
            "title": TITLES,
            "status": "course_not_found",
            "section_id": pd.array([None] * len(TITLES), dtype="Int64"),
            "http_status": pd.array([None] * len(TITLES), dtype="Int64"),
            "attempts": 0,
            "errors": "Course 999 does not exist",
        }
    )
    folder = write_report(
        RunReport(sheet=first.sheet, results=results, findings=first.findings, summary={}),
        tmp_path / "reports",
    )
    written = (folder / "errors.csv").read_text(encoding="utf-8-sig")
    assert "'+1 bonus round" in written  # neutralised for spreadsheets

    again = validate_file(folder / "errors.csv")
    assert again.errors == 0 and again.warnings == 0
    assert [r.payload["Title"] for r in again.valid_rows()] == TITLES
