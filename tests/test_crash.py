"""kill -9 at random moments, then the same command: every valid row ends up exactly once.

The sandbox runs as its own process (`python -m importer sandbox ...`) with ambiguous
outcomes and clean failures switched on; the importer CLI runs as a subprocess and is killed
with SIGKILL while it is sending. Both sides are unthrottled so a 100-row run takes ~a second.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from import_support import FAST_FLAGS, assert_exactly_once, control, posts, rows, write_csv

pytestmark = pytest.mark.slow

CREATOR_ENV = {"NEXUDUS_USERNAME": "creator@example.com", "NEXUDUS_PASSWORD": "creator"}


def _env() -> dict[str, str]:
    """The environment for a child process (conftest already removed NEXUDUS_*)."""
    return {**os.environ, **CREATOR_ENV}


FAST = [*FAST_FLAGS, "--reconcile-grace", "0.3", "--quiet"]


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[str]:
    """`sections sandbox` in its own process: 10% ambiguous outcomes, 10% clean failures."""
    command = [
        sys.executable,
        "-m",
        "importer",
        "sandbox",
        "--port",
        "0",
        "--control",
        "--db",
        str(tmp_path / "sandbox.sqlite3"),
        "--ambiguous-rate",
        "0.1",
        "--fail-rate",
        "0.1",
        "--seed",
        "3",
        "--no-throttle",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env()
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("Nexudus sandbox listening on http://127.0.0.1:"), first
        yield first.rsplit(" ", 1)[-1]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def importer_command(path: Path, url: str, tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "importer",
        "import",
        str(path),
        "--api-url",
        url,
        "--state-dir",
        str(tmp / "state"),
        "--report-dir",
        str(tmp / "reports"),
        *FAST,
        *extra,
    ]


def kill_when(
    process: subprocess.Popen, url: str, posts_at_least: int, timeout: float = 30.0
) -> bool:
    """SIGKILL `process` once the sandbox has seen `posts_at_least` POSTs; False if it ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if posts(url) >= posts_at_least:
            process.kill()
            process.wait(timeout=10)
            return True
        time.sleep(0.005)
    process.kill()
    process.wait(timeout=10)
    return True


def run_to_the_end(command: list[str], limit: int = 6) -> int:
    """Run the same command until it is no longer 'stopped early, resumable' (exit 4)."""
    for _ in range(limit):
        done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=120)
        if done.returncode != 4:
            assert "Traceback" not in done.stderr, done.stderr
            return done.returncode
    return 4


def test_killed_three_times_then_run_to_the_end_leaves_each_row_once(
    tmp_path: Path, sandbox_process: str
) -> None:
    """The acceptance point: ambiguous 10% + fail 10%, kill -9 three times, then finish."""
    url = sandbox_process
    data = rows(50, course=101) + rows(50, course=102)
    path = write_csv(tmp_path / "in.csv", data)
    command = importer_command(path, url, tmp_path)
    rng = random.Random(20261127)
    kills = 0
    for _ in range(3):
        target = posts(url) + rng.randint(3, 25)
        process = subprocess.Popen(
            command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        kills += kill_when(process, url, target)
    assert kills >= 2  # the runs really were cut short
    assert run_to_the_end(command) == 0
    assert_exactly_once(url, data)
    # The live profile defaults Active to false: every row was sent with Active true.
    assert all(section["Active"] is True for section in control(url, "sections"))
    # A further run adopts everything and sends no POST at all.
    before = posts(url)
    assert run_to_the_end(command) == 0
    assert posts(url) == before


def test_lost_state_folder_is_rebuilt_from_the_server(tmp_path: Path, sandbox_process: str) -> None:
    """Checklist 5: journal deleted after a partial run: adopt what exists, post the rest."""
    url = sandbox_process
    data = rows(40, course=103)
    path = write_csv(tmp_path / "in.csv", data)
    command = importer_command(path, url, tmp_path)
    process = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    kill_when(process, url, 15)
    shutil.rmtree(tmp_path / "state")
    assert run_to_the_end(command) == 0
    assert_exactly_once(url, data)


def test_a_second_concurrent_run_is_refused_and_a_killed_run_leaves_no_stale_lock(
    tmp_path: Path, sandbox_process: str
) -> None:
    """Checklist 7 and 8."""
    url = sandbox_process
    control(url, "config", {"fail_rate": 0.0, "ambiguous_rate": 0.0})
    data = rows(30, course=101, prefix="Slow")
    path = write_csv(tmp_path / "in.csv", data)
    slow = importer_command(path, url, tmp_path, "--writes-per-minute", "300")
    first = subprocess.Popen(slow, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while posts(url) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        before = control(url, "stats")["requests"]
        second = subprocess.run(slow, env=_env(), capture_output=True, text=True, timeout=60)
        assert second.returncode == 3
        assert "another import is running on" in second.stderr
        after = control(url, "stats")["requests"]
        # Only the first run's POSTs moved on: the second sent no token, GET or list request.
        for kind in ("POST /api/token", "GET /api/content/courses/{id}"):
            assert after.get(kind, 0) == before.get(kind, 0)
    finally:
        first.kill()  # SIGKILL while it holds the lock
        first.wait(timeout=10)
    assert run_to_the_end(importer_command(path, url, tmp_path)) == 0
    assert_exactly_once(url, data)
