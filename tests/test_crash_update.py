"""kill -9 during `--update` and during `sections undo` (issue 9's chaos point), in its own
file so that it runs beside test_crash.py's chaos tests (one file per xdist worker)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from import_support import FAST_FLAGS, control, rows, write_csv
from test_crash import _env, importer_command, run_to_the_end, sandbox_process

pytestmark = pytest.mark.slow
__all__ = ["sandbox_process"]  # the fixture, used by name below


def writes_of(url: str, method: str) -> int:
    """Requests of `method` to the sections API the sandbox has seen (answered or not)."""
    requests = control(url, "stats")["requests"]
    return sum(int(n) for key, n in requests.items() if key.startswith(f"{method} /api/content"))


def killed_three_times(command: list[str], url: str, method: str, seed: int) -> int:
    """Start `command` three times, each SIGKILLed after a few more `method` requests."""
    rng = random.Random(seed)
    kills = 0
    for _ in range(3):
        target = writes_of(url, method) + rng.randint(3, 12)
        process = subprocess.Popen(
            command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if writes_of(url, method) >= target:
                break
            time.sleep(0.005)
        kills += process.poll() is None
        process.kill()
        process.wait(timeout=10)
    return kills


def server_view(url: str) -> dict[int, tuple[object, ...]]:
    fields = ("CourseId", "Title", "DisplayOrder", "UnlockType", "Active", "SystemId")
    return {s["Id"]: tuple(s[f] for f in fields) for s in control(url, "sections")}


def test_update_and_undo_killed_three_times_each_leave_the_server_as_intended(
    tmp_path: Path, sandbox_process: str
) -> None:
    """Issue 9's chaos point: --update, then undo of it, then undo of the import, each killed
    with kill -9 three times under 10% ambiguous and 10% failing answers, then re-run."""
    url = sandbox_process
    data = rows(20, course=101) + rows(20, course=102)
    path = write_csv(tmp_path / "in.csv", data)
    assert run_to_the_end(importer_command(path, url, tmp_path)) == 0
    imported = server_view(url)
    import_report = max((tmp_path / "reports").iterdir())

    edited = [(c, o, f"{t} (v2)") for c, o, t in data]
    edited[0], edited[1] = (101, 2, edited[0][2]), (101, 1, edited[1][2])  # a swap
    write_csv(path, edited)
    update = importer_command(path, url, tmp_path, "--update")
    reports_before = set((tmp_path / "reports").iterdir())
    assert killed_three_times(update, url, "PUT", 9) >= 2
    assert run_to_the_end(update) == 0
    view = server_view(url)
    assert set(view) == set(imported)  # no section created, none lost
    wanted = {(c, t): o for c, o, t in edited}
    assert {(v[0], v[1]): v[2] for v in view.values()} == wanted
    assert all(view[i][3:] == imported[i][3:] for i in view)  # every other field kept
    puts = writes_of(url, "PUT")
    assert run_to_the_end(update) == 0 and writes_of(url, "PUT") == puts

    undo_flags = [*FAST_FLAGS, "--reconcile-grace", "0.3", "--api-url", url, "--quiet"]
    new_reports = set((tmp_path / "reports").iterdir()) - reports_before
    for report in sorted(new_reports, reverse=True):
        if not (report / "summary.json").exists():
            # a run killed before its report: its writes passed to the next run of the file
            undo = [sys.executable, "-m", "importer", "undo", str(report), *undo_flags]
            refused = subprocess.run(undo, env=_env(), capture_output=True, text=True, timeout=60)
            assert refused.returncode == 2 and "stopped before" in refused.stderr
            continue
        undo = [sys.executable, "-m", "importer", "undo", str(report), *undo_flags]
        killed_three_times(undo, url, "PUT", 10)
        assert run_to_the_end(undo) == 0
    assert server_view(url) == imported  # every before-image restored

    undo = [sys.executable, "-m", "importer", "undo", str(import_report), *undo_flags]
    assert killed_three_times(undo, url, "DELETE", 11) >= 2
    assert run_to_the_end(undo) == 0
    assert control(url, "sections") == []
    again = subprocess.run(undo, env=_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "undone already" in again.stdout
