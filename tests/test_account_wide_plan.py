"""Account-wide planning (issue 10 item 5): a sheet over 500 courses is planned with the
account's courses and sections read in one paged listing each, not 2 requests a course."""

from __future__ import annotations

from pathlib import Path

import pytest
from import_support import sandbox, seed_section, settings, write_csv

from importer.engine.job import run_job

pytestmark = pytest.mark.usefixtures("sandbox_profile")


def test_a_sheet_over_500_of_600_courses_plans_in_at_most_20_requests(tmp_path: Path) -> None:
    data = [(course, order, f"Part {order}") for course in range(101, 601) for order in (1, 2)]
    path = write_csv(tmp_path / "wide.csv", [*data, (999, 1, "Nowhere")])
    with sandbox(courses=600) as server:
        held = seed_section(server.url, 300, 1, "Part 1")
        plan = run_job(settings(path, server.url, tmp_path, dry_run=True))
    requests = plan.summary["requests"]
    assert isinstance(requests, dict) and sum(requests.values()) <= 20, requests
    assert plan.plan is not None
    actions = plan.plan.set_index(["course_id", "display_order"])["action"]
    assert actions[(300, 1)] == "exists" and plan.plan["section_id"].max() == held
    assert actions[(999, 1)] == "course_not_found"
    assert (actions == "create").sum() == 999
    names = plan.summary["course_names"]
    assert isinstance(names, dict) and names["600"] == "Sandbox course 600"


def test_a_sheet_over_few_courses_is_planned_per_course(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "few.csv", [(101, 1, "A"), (102, 1, "B")])
    with sandbox(courses=600) as server:
        plan = run_job(settings(path, server.url, tmp_path, dry_run=True))
    requests = plan.summary["requests"]
    assert isinstance(requests, dict) and requests.get("get") == 2, requests
