"""Helpers for the import tests (plan/send/job/CLI/crash): sandboxes, input files, checks.

Shared by test_plan, test_send, test_import_cli, test_crash and test_state_machine so each
file states only its scenario.
"""

from __future__ import annotations

import contextlib
import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from importer.client import Credentials
from importer.engine.settings import JobSettings
from importer.sandbox import SandboxConfig, SandboxServer

CREATOR = Credentials(username="creator@example.com", password="creator")
ADMIN = Credentials(username="admin@example.com", password="admin")
VIEWER = Credentials(username="viewer@example.com", password="viewer")
HEADERS = ("Course ID", "Section title", "Display order", "Unlock type", "Unlock after days")
#: Importer limits that make loopback runs fast (the sandbox is unthrottled or raised to match).
FAST = {"writes_per_minute": 60000.0, "requests_per_minute": 120000.0, "min_interval": 0.0}

Row = tuple[int, int, str]  # (course, order, title)


@contextlib.contextmanager
def sandbox(profile: str | None = None, **config: Any) -> Iterator[SandboxServer]:
    """A fresh unthrottled sandbox with the control API (keyword args override), in
    `profile`, else that of the `sandbox_profile` fixture (conftest) when the test runs
    under both."""
    settings = {"control": True, "throttle": False, "seed": 11, **config}
    chosen = profile or PROFILE[0]
    with SandboxServer(SandboxConfig.for_profile(chosen, **settings)) as server:
        yield server


#: The sandbox profile `sandbox()` starts: set per test by conftest's `sandbox_profile`.
PROFILE = ["documented"]


def control(url: str, what: str, body: dict[str, Any] | None = None) -> Any:
    if body is None and what in ("stats", "sections"):
        response = httpx.get(f"{url}/sandbox/{what}", timeout=10)
    else:
        response = httpx.post(f"{url}/sandbox/{what}", json=body or {}, timeout=10)
    response.raise_for_status()
    return response.json()


def configure(url: str, **fields: Any) -> None:
    control(url, "config", fields)


def posts(url: str) -> int:
    """POSTs to /api/content/coursesections the sandbox has seen."""
    return int(control(url, "stats")["requests"].get("POST /api/content/coursesections", 0))


def rows(count: int, *, course: int = 101, start: int = 1, prefix: str = "Section") -> list[Row]:
    return [(course, order, f"{prefix} {order}") for order in range(start, start + count)]


def write_csv(path: Path, data: Sequence[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for course, order, title in data:
            writer.writerow([course, title, order, "Immediate", ""])
    return path


def seed_section(url: str, course: int, order: int, title: str) -> int:
    """Create a section directly (as a person in Nexudus would), return its Id."""
    with httpx.Client(base_url=url, timeout=10) as client:
        token = client.post(
            "/api/token",
            data={
                "grant_type": "password",
                "username": ADMIN.username,
                "password": ADMIN.password,
            },
        ).json()["access_token"]
        body = {
            "CourseId": course,
            "Title": title,
            "DisplayOrder": order,
            "UnlockType": 1,
            "UnlockAfterDays": 0,
        }
        answer = client.post(
            "/api/content/coursesections", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        answer.raise_for_status()
        return int(answer.json()["Value"]["Id"])


def settings(path: Path, url: str, tmp: Path, **overrides: Any) -> JobSettings:
    """JobSettings for a fast loopback run; state and reports under `tmp`."""
    values: dict[str, Any] = {
        "input": path,
        "api_url": url,
        "credentials": CREATOR,
        **FAST,
        "reconcile_grace": 0.2,
        "state_dir": tmp / "state",
        "report_dir": tmp / "reports",
        "sleep": lambda seconds: None,
    }
    values.update(overrides)
    return JobSettings.build(**values)


def server_keys(url: str) -> Counter[tuple[int, int, str]]:
    """(course, order, title) -> how many sections the server holds with that key."""
    return Counter((s["CourseId"], s["DisplayOrder"], s["Title"]) for s in control(url, "sections"))


def assert_exactly_once(url: str, data: Sequence[Row], *, others: int = 0) -> None:
    """Each row is on the server exactly once, and nothing else (but `others`)."""
    held = server_keys(url)
    wanted = Counter(data)
    missing = [row for row in wanted if held[row] == 0]
    doubled = {row: n for row, n in held.items() if n > 1}
    assert not missing, f"missing on the server: {missing[:5]}"
    assert not doubled, f"duplicates on the server: {doubled}"
    assert sum(held.values()) == len(wanted) + others


#: The environment a child `sections` process logs in with (conftest removed NEXUDUS_*).
CREATOR_ENV = {"NEXUDUS_USERNAME": "creator@example.com", "NEXUDUS_PASSWORD": "creator"}
#: FAST as command-line flags.
FAST_FLAGS = (
    "--writes-per-minute",
    "60000",
    "--requests-per-minute",
    "120000",
    "--min-interval",
    "0",
)
