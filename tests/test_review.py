"""Notebook helpers: highlighted sheet, course outlines, unlock timeline, plan counts, progress."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from importer import review
from importer.engine.progress import ProgressEvent
from importer.validate import ValidationResult, validate_file

SHEET = """Course ID,Section title,Display order,Unlock type,Unlock after days,Notes
101,Welcome,1,Immediate,,first
101,Core skills,2,Sequential,,
101,Check-in,3,Timed,14,
101,Wrap-up,4,Sequential,,
102,Starts sequential,1,Sequential,,
102,Bad unlock,2,Sometimes,,
103,Bad order,x,Timed,7,
"""


@pytest.fixture
def result(tmp_path: Path) -> ValidationResult:
    path = tmp_path / "sections.csv"
    path.write_text(SHEET, encoding="utf-8")
    return validate_file(path)


def _style(ctx: dict, row: int, col: int) -> str:
    return "; ".join(f"{k}: {v}" for k, v in ctx.get((row, col), []))


def test_highlight_sheet_colours_cells_and_lists_problems(result: ValidationResult) -> None:
    """Error cells red, warning cells amber, messages in a Problems column, header as caption."""
    styler = review.highlight_sheet(result)
    frame = styler.data
    assert list(frame.index) == [2, 3, 4, 5, 6, 7, 8]  # spreadsheet row numbers
    assert frame.columns[-1] == review.PROBLEMS_COLUMN
    ctx = styler._compute().ctx
    col = {name: i for i, name in enumerate(frame.columns)}
    pos = {row: i for i, row in enumerate(frame.index)}
    assert "#f8d0d0" in _style(ctx, pos[7], col["Unlock type"])  # invalid unlock type: error
    assert "#f8d0d0" in _style(ctx, pos[8], col["Display order"])  # not an integer: error
    assert "#fde9b8" in _style(ctx, pos[6], col["Unlock type"])  # sequential first: warning
    assert "background" not in _style(ctx, pos[2], col["Section title"])  # clean row
    assert frame.at[2, review.PROBLEMS_COLUMN] == ""
    assert frame.at[7, review.PROBLEMS_COLUMN].startswith("✖ ")
    assert frame.at[6, review.PROBLEMS_COLUMN].startswith("⚠ ")
    html = styler.to_html()
    assert "Notes" in html and "error(s)" in html  # unknown column warning in the caption


def test_course_outline_in_display_order_with_words(result: ValidationResult) -> None:
    """Per course, sections by display order; the unlock rule as a person would say it."""
    outline = review.course_outline(result)
    course = outline[outline["course_id"] == 101]
    assert course["title"].tolist() == ["Welcome", "Core skills", "Check-in", "Wrap-up"]
    assert course["unlock"].tolist() == [
        "on enrolment",
        "after the previous section",
        "day 14",
        "after the previous section",
    ]
    assert course["valid"].all()
    assert not outline.loc[outline["source_row"] == 7, "valid"].item()
    assert pd.isna(outline.iloc[-1]["display_order"])  # unreadable order comes last


def test_unlock_in_words_edge_cases() -> None:
    assert review.unlock_in_words(None) == "unknown (invalid unlock type)"
    assert review.unlock_in_words(3, pd.NA) == "day ? (days missing)"
    assert review.unlock_in_words(3, 0) == "day 0"


def test_unlock_timeline_marks_types_and_chains(result: ValidationResult) -> None:
    """One line per course, markers by unlock type at the unlock day, arrows for chains."""
    fig = review.unlock_timeline(result)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "days after enrolment"
    points = [
        (line.get_marker(), tuple(line.get_xdata()))
        for line in ax.lines
        if line.get_marker() not in ("None", None, "")
    ]
    assert ("o", (0.0,)) in points  # Welcome: on enrolment
    assert ("s", (14.0,)) in points  # Check-in: day 14
    assert (">", (14.0,)) in points  # Wrap-up: no earlier than the section it waits for
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 2  # Core skills and Wrap-up wait for the previous section
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"course 101", "course 102", "Immediate", "Sequential", "Timed"} <= set(legend)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("101 · 1") and "Welcome" in labels[0]


def test_plan_counts_by_action_and_course() -> None:
    """Counts per action in RowStatus order, one column per course plus the total."""
    plan = pd.DataFrame(
        {
            "action": ["exists", "create", "create", "conflict", "invalid"],
            "course_id": pd.array([101, 101, 102, 102, None], dtype="Int64"),
        }
    )
    counts = review.plan_counts(plan)
    assert counts.index.tolist() == ["create", "exists", "conflict", "invalid"]
    assert counts.loc["create", "total"] == 2 and counts.loc["create", "102"] == 1
    assert counts["total"].sum() == 5 and counts.loc["invalid", "?"] == 1  # course unreadable
    assert review.plan_counts(plan.iloc[0:0]).empty


def test_progress_outside_jupyter_uses_tqdm(capsys: pytest.CaptureFixture[str]) -> None:
    """Outside a kernel the callback draws a tqdm bar on stderr and closes it when done."""
    update = review.notebook_progress()
    for done in range(4):
        update(ProgressEvent("send", done, 3, {"created": done}, write_rate=55.0))
    update(ProgressEvent("done", 3, 3, {"created": 3}))
    err = capsys.readouterr().err
    assert "send" in err and "3/3" in err and "created 3" in err


def test_html_bar_escapes_and_shows_counts() -> None:
    html = review._html_bar(ProgressEvent("send", 2, 5, {"created": 2, "<x>": 1}, eta_seconds=9))
    assert '<progress value="2" max="5"' in html
    assert "created 2" in html and "&lt;x&gt;" in html and "about 9 s left" in html


def test_report_links_lists_report_files_and_the_absolute_folder(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{}", encoding="utf-8")
    links = review.report_links(tmp_path).data
    assert "summary.json" in links and str(tmp_path.resolve()) in links
    assert "No report" in review.report_links(None).data


def test_highlight_sheet_shows_cell_html_as_typed(tmp_path: Path) -> None:
    path = tmp_path / "html.csv"
    path.write_text(
        "Course ID,Section title,Display order,Unlock type,Introduction (HTML)\n"
        "101,Perks,1,Immediate,<p>Perks</p>\n",
        encoding="utf-8",
    )
    page = review.highlight_sheet(validate_file(path)).to_html()
    assert "&lt;p&gt;Perks&lt;/p&gt;" in page and "<p>Perks</p>" not in page


def test_styled_rows_index_by_row_blank_na_coloured_labels_course_names() -> None:
    frame = pd.DataFrame(
        {
            "source_row": [2, 3],
            "course_id": pd.array([101, None], dtype="Int64"),
            "title": ["<b>A</b>", "B"],
            "status": ["created", "invalid"],
            "section_id": pd.array([7, None], dtype="Int64"),
        }
    )
    styler = review.styled_rows(frame, {"101": "Onboarding"})
    assert list(styler.data.index) == [2, 3] and styler.data.index.name == "Row"
    assert styler.data.at[2, "course"] == "Onboarding"
    page = styler.to_html()
    assert "<NA>" not in page and "&lt;NA&gt;" not in page and "&lt;b&gt;A" in page
    assert "#1e7e34" in page and "#b02a37" in page  # created green, invalid red


def test_plan_of_falls_back_to_results_when_nothing_was_planned() -> None:
    """An invalid file stops before planning: its rows still count, as 'invalid'."""
    from importer.codes import ExitCode
    from importer.engine.job import JobResult

    results = pd.DataFrame({"status": ["invalid", "invalid"], "course_id": [101, None]})
    stopped = JobResult(ExitCode.INVALID_INPUT, None, {}, results, "stopped")
    counts = review.plan_counts(review.plan_of(stopped))
    assert counts.loc["invalid", "total"] == 2
    planned = JobResult(ExitCode.OK, None, {}, results, "ok", plan=results.iloc[:0])
    assert review.plan_of(planned) is planned.plan


def test_sandbox_ledger_scope_is_stable_per_file_and_unique_when_temporary(
    tmp_path: Path,
) -> None:
    """A kept sandbox file keys the ledger like `--sandbox` does; a temporary one never
    shares a key with an earlier run (which may have had the same port)."""
    db = tmp_path / "sandbox.sqlite3"
    assert review.sandbox_ledger_scope(db) == review.sandbox_ledger_scope(str(db))
    assert review.sandbox_ledger_scope(db) == f"sandbox:{db.resolve()}"
    assert review.sandbox_ledger_scope(None) != review.sandbox_ledger_scope(None)


def test_timeline_does_not_trust_an_invalid_rows_days(tmp_path: Path) -> None:
    """Days 5000 (out of range) on an invalid row must not stretch the axis; the row is
    still drawn, hollow and labelled invalid, where the previous section opens."""
    path = tmp_path / "sections.csv"
    path.write_text(
        "Course ID,Section title,Display order,Unlock type,Unlock after days\n"
        "101,Welcome,1,Immediate,\n101,Check-in,2,Timed,14\n101,Far away,3,Timed,5000\n",
        encoding="utf-8",
    )
    fig = review.unlock_timeline(validate_file(path))
    ax = fig.axes[0]
    assert ax.get_xlim()[1] < 100
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert [tuple(line.get_xdata()) for line in hollow] == [(14.0,)]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].endswith("(invalid)") and "Far away" in labels[-1]
