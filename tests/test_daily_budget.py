"""The daily write budget (issue 10 item 6): writes per API account over a rolling 24 hours,
counted across runs; a spent budget stops the run (exit 4) saying when to resume."""

from __future__ import annotations

import time
from pathlib import Path

from import_support import assert_exactly_once, posts, rows, sandbox, settings, write_csv

from importer.codes import ExitCode
from importer.engine.budget import DailyBudget, plan_outlook
from importer.engine.job import run_job


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_two_runs_share_twenty_writes_a_day_and_a_third_after_the_window_finishes(
    tmp_path: Path,
) -> None:
    data = rows(30)
    path = write_csv(tmp_path / "in.csv", data)
    clock = Clock()
    with sandbox() as server:
        url = server.url
        first = run_job(settings(path, url, tmp_path, writes_per_day=20, clock=clock))
        assert first.exit_code == ExitCode.RESUMABLE and posts(url) == 20
        second = run_job(settings(path, url, tmp_path / "other", writes_per_day=20, clock=clock))
        assert second.exit_code == ExitCode.RESUMABLE and posts(url) == 20  # other state folder
        assert "--writes-per-day 20" in second.message and "allowed again from" in second.message
        plan = run_job(settings(path, url, tmp_path, writes_per_day=20, clock=clock,
                                dry_run=True))  # fmt: skip
        assert "10 write(s) needed, 0 left in the daily budget" in str(plan.summary["daily_budget"])
        clock.now += 24 * 3600 + 1
        third = run_job(settings(path, url, tmp_path, writes_per_day=20, clock=clock))
        assert third.exit_code == ExitCode.OK, third.message
        assert posts(url) == 30
        assert_exactly_once(url, data)


def test_a_long_retry_after_blocks_every_run_until_then(tmp_path: Path) -> None:
    clock = Clock()
    budget = DailyBudget("https://example.test", 100, lock_dir=tmp_path / "locks", clock=clock)
    assert budget.take() and budget.left() == 99
    budget.server_asked_to_wait(600)  # a short wait is the run's business, not the day's
    assert budget.left() == 99
    budget.server_asked_to_wait(3600)
    assert not budget.take() and budget.left() == 0
    assert "asked to wait until" in budget.spent_message()
    clock.now += 3601
    assert budget.take() and budget.used() == 2
    budget.close()
    text = plan_outlook("https://example.test", 1, 3, lock_dir=tmp_path / "locks", clock=clock)
    assert text.startswith("3 write(s) needed, 0 left in the daily budget: about 0 now")
