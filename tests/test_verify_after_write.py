"""What a run may claim at its end: verified after writing (issue 12 item 3: a duplicate made
by someone else meanwhile is reported, exit 1, never 0), a listing trusted only once writes a
killed run left in flight have landed (item 4), and a last progress event equal to the summary
(issue 13 item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from import_support import assert_exactly_once, rows, sandbox, seed_section, settings, write_csv

from importer.codes import ExitCode, RowStatus
from importer.engine.job import run_job
from importer.engine.progress import ProgressEvent

#: The importer meets both sandbox profiles (documented and live), every test.
pytestmark = pytest.mark.usefixtures("sandbox_profile")


@pytest.fixture
def url() -> Iterator[str]:
    with sandbox() as server:
        yield server.url


def test_a_duplicate_made_by_someone_else_during_the_run_is_reported(
    tmp_path: Path, url: str
) -> None:
    data = rows(6)
    path = write_csv(tmp_path / "in.csv", data)
    seeded: list[int] = []

    def someone_else_posts(event: ProgressEvent) -> None:  # after our plan, before our POSTs
        if event.phase == "send" and not seeded:
            seeded.append(seed_section(url, 101, 4, "Section 4"))

    result = run_job(settings(path, url, tmp_path), progress=someone_else_posts)
    assert result.exit_code == ExitCode.ROWS_FAILED, result.message
    row = result.results[result.results["display_order"] == 4].iloc[0]
    assert row["status"] == RowStatus.DUPLICATE_EXISTS
    assert str(seeded[0]) in row["errors"] and str(int(row["section_id"])) in row["errors"]
    others = result.results[result.results["display_order"] != 4]
    assert set(others["status"]) == {RowStatus.CREATED}
    assert result.summary["verified_after_write"] is True
    assert result.summary["requests"]["list"] == 2  # the plan's listing and the verification


def test_a_clean_run_is_verified_and_a_run_without_writes_lists_nothing_more(
    tmp_path: Path, url: str
) -> None:
    path = write_csv(tmp_path / "in.csv", rows(3))
    first = run_job(settings(path, url, tmp_path))
    assert first.exit_code == ExitCode.OK and first.summary["verified_after_write"] is True
    again = run_job(settings(path, url, tmp_path))
    assert again.exit_code == ExitCode.OK and again.summary["verified_after_write"] is None
    assert again.summary["requests"]["list"] == 1


def test_no_ledger_is_not_no_history_a_late_write_of_a_killed_run_is_waited_for(
    tmp_path: Path, url: str
) -> None:
    """Issue 12 item 4: a killed run of this sheet stored rows 1-3 seconds ago, and its POST
    of row 4 is still in flight (lands 2 s later); the state folder is gone. The new run sees
    fresh sections of its rows with no ledger record, waits out read timeout + grace, lists
    again and posts nothing twice."""
    import threading
    import time

    data = rows(4)
    path = write_csv(tmp_path / "in.csv", data)
    for course, order, title in data[:3]:
        seed_section(url, course, order, title)
    late = threading.Timer(2.0, seed_section, args=(url, *data[3]))
    late.start()
    started = time.monotonic()
    try:
        result = run_job(
            settings(path, url, tmp_path, read_timeout=3.0, reconcile_grace=1.0, sleep=None)
        )
    finally:
        late.join()
    assert time.monotonic() - started >= 3.0  # waited for the window before deciding
    assert result.exit_code == ExitCode.OK, result.message
    assert set(result.results["status"]) == {RowStatus.EXISTS}
    assert result.summary["posts"] == 0
    assert_exactly_once(url, data)


def test_the_last_progress_event_shows_what_the_summary_shows(tmp_path: Path, url: str) -> None:
    """Issue 13 item 6: a run stopped early (write budget) ends its progress with the final
    counts, and rows still pending are not counted as done."""
    path = write_csv(tmp_path / "in.csv", rows(10))
    events: list[ProgressEvent] = []
    result = run_job(settings(path, url, tmp_path, max_writes=4), progress=events.append)
    assert result.exit_code == ExitCode.RESUMABLE
    last = events[-1]
    counts = result.results["status"].value_counts().to_dict()
    assert last.phase == "done" and last.counts == counts
    assert last.done == counts.get("created", 0) == 4 and last.total == 10
