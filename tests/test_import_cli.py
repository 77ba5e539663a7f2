"""`sections plan` / `sections import` as a person runs them: exit codes 0-4, output, secrets.

The CLI runs as a subprocess against an in-process sandbox over loopback.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from import_support import (
    FAST_FLAGS,
    assert_exactly_once,
    configure,
    control,
    posts,
    rows,
    sandbox,
    seed_section,
    write_csv,
)

from importer.cli.progress import ProgressDisplay, describe
from importer.engine.locks import state_lock
from importer.engine.progress import ProgressEvent
from importer.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
CREATOR_ENV = {"NEXUDUS_USERNAME": "creator@example.com", "NEXUDUS_PASSWORD": "creator"}
# Sections seeded moments before an import with no ledger are waited out for read timeout +
# grace (a write a killed run may have left in flight): keep that short here.
FAST = [*FAST_FLAGS, "--reconcile-grace", "0.2", "--read-timeout", "2"]


@pytest.fixture(scope="module", params=["documented", "live"])
def server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """One sandbox per profile: every test here meets the documented and the live API."""
    with sandbox(request.param) as running:
        yield running


@pytest.fixture
def url(server: SandboxServer) -> str:
    control(server.url, "reset")
    configure(server.url, throttle=False, fail_rate=0.0, ambiguous_rate=0.0, latency_ms=0)
    return server.url


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)  # conftest already removed NEXUDUS_*
    env.update(extra)
    return env


def sections(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else base_env(**CREATOR_ENV),
        cwd=cwd,
        timeout=120,
    )


def run_import(
    path: Path,
    url: str,
    tmp: Path,
    *extra: str,
    command: str = "import",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return sections(
        command,
        str(path),
        "--api-url",
        url,
        "--state-dir",
        str(tmp / "state"),
        "--report-dir",
        str(tmp / "reports"),
        *FAST,
        *extra,
        env=env,
    )


def latest_report(tmp: Path) -> Path:
    return sorted((tmp / "reports").iterdir())[-1]


def results_of(tmp: Path) -> list[dict[str, str]]:
    with open(latest_report(tmp) / "results.csv", encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def statuses(tmp: Path) -> list[str]:
    return [r["Status"] if "Status" in r else r["status"] for r in results_of(tmp)]


# -- exit 0 ----------------------------------------------------------------------------------


def test_import_then_rerun_sends_no_post_and_every_row_exists(url: str, tmp_path: Path) -> None:
    """Checklist 6: exit 0; the second run sends 0 POSTs and reports every row `exists`."""
    data = rows(5, course=101) + rows(3, course=102)
    path = write_csv(tmp_path / "in.csv", data)
    first = run_import(path, url, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Rows by course" in first.stdout and "created: 8" in first.stdout
    assert "Report: " in first.stdout
    assert_exactly_once(url, data)
    before = posts(url)
    second = run_import(path, url, tmp_path)
    assert second.returncode == 0, second.stderr
    assert posts(url) == before
    assert set(statuses(tmp_path)) == {"exists"}
    summary = json.loads((latest_report(tmp_path) / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["dry_run"] is False
    assert summary["requests"].get("post", 0) == 0
    # every kind of request is counted, the token request too (a key named "token" used to
    # be dropped from summary.json as secret-looking)
    assert summary["requests"]["auth"] == 1 and summary["requests"]["list"] == 2


def test_plan_sends_nothing_and_writes_the_plan(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", rows(4))
    seed_section(url, 101, 1, "Section 1")
    done = run_import(path, url, tmp_path, command="plan")
    assert done.returncode == 0, done.stderr
    assert posts(url) == 1  # the seeded section only
    with open(latest_report(tmp_path) / "plan.csv", encoding="utf-8-sig", newline="") as handle:
        actions = [r["action"] for r in csv.DictReader(handle)]
    assert actions == ["exists", "create", "create", "create"]
    assert "Exit 0: no row needs attention (plan only: nothing was sent)" in done.stdout
    assert "every valid row is on the server" not in done.stdout  # not true of a plan
    dry = run_import(path, url, tmp_path, "--dry-run")
    assert dry.returncode == 0 and posts(url) == 1


def test_formula_looking_titles_are_sent_literally(url: str, tmp_path: Path) -> None:
    """Checklist 28: sent as text; neutralised only in the report."""
    data = [(101, 1, "=cmd|' /C calc'!A0"), (101, 2, "@SUM(1)")]
    path = write_csv(tmp_path / "in.csv", data)
    done = run_import(path, url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert_exactly_once(url, data)
    text = (latest_report(tmp_path) / "results.csv").read_text(encoding="utf-8-sig")
    assert "'=cmd|' /C calc'!A0" in text and "'@SUM(1)" in text


# -- exit 1 ----------------------------------------------------------------------------------


def test_rows_needing_attention_exit_1(url: str, tmp_path: Path) -> None:
    """course_not_found, conflict, moved and duplicate_exists: never posted, exit 1."""
    seed_section(url, 101, 2, "Someone else's")  # conflict for order 2
    seed_section(url, 101, 9, "Section 3")  # row 3 is at order 9 on the server: moved
    seed_section(url, 102, 1, "Section 1")  # two matches for (102, 1): duplicate_exists
    seed_section(url, 102, 1, "section 1")
    data = [
        (101, 1, "Section 1"),
        (101, 2, "Section 2"),
        (101, 3, "Section 3"),
        (102, 1, "Section 1"),
        (999, 1, "Nowhere"),
    ]
    path = write_csv(tmp_path / "in.csv", data)
    done = run_import(path, url, tmp_path)
    assert done.returncode == 1, done.stderr
    assert statuses(tmp_path) == [
        "created",
        "conflict",
        "moved",
        "duplicate_exists",
        "course_not_found",
    ]
    # the per-course table is readable in a log: status names are never cut to "dupl…"
    header = next(line for line in done.stdout.splitlines() if "Course" in line)
    assert "duplicate_exists" in header and "course_not_found" in header, done.stdout
    assert posts(url) == 4 + 1  # the seeds + the one row that was free


def test_changed_since_import_is_reported_not_posted(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", rows(3))
    assert run_import(path, url, tmp_path).returncode == 0
    write_csv(
        path, [(101, 1, "Section 1"), (101, 2, "Section 2 (new name)"), (101, 3, "Section 3")]
    )
    before = posts(url)
    done = run_import(path, url, tmp_path)
    assert done.returncode == 1
    assert statuses(tmp_path) == ["exists", "changed_since_import", "exists"]
    assert posts(url) == before


# -- exit 2 ----------------------------------------------------------------------------------


def test_invalid_input_sends_nothing_unless_skip_invalid(url: str, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    write_csv(path, rows(3))
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write("101,Broken order,abc,Immediate,\n")
    done = run_import(path, url, tmp_path)
    assert done.returncode == 2
    assert posts(url) == 0
    assert "Traceback" not in done.stderr
    skipped = run_import(path, url, tmp_path, "--skip-invalid")
    assert skipped.returncode == 0, skipped.stderr
    assert statuses(tmp_path) == ["created", "created", "created", "invalid"]
    assert posts(url) == 3


def test_invalid_input_exits_2_even_without_credentials(url: str, tmp_path: Path) -> None:
    """The file's problems come first: it used to say "no credentials" (exit 3) instead."""
    path = tmp_path / "in.csv"
    write_csv(path, rows(2))
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write("101,Broken order,abc,Immediate,\n")
    done = run_import(path, url, tmp_path, env=base_env())
    assert done.returncode == 2, done.stderr
    assert "no credentials" not in done.stderr
    assert control(url, "stats")["requests"] == {}


def test_unreadable_file_exits_2_with_one_line(url: str, tmp_path: Path) -> None:
    done = run_import(tmp_path / "missing.csv", url, tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("sections: ") and "Traceback" not in done.stderr


# -- exit 3 ----------------------------------------------------------------------------------


def test_no_credentials_exit_3_naming_the_variables(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", rows(2))
    done = run_import(path, url, tmp_path, env=base_env())
    assert done.returncode == 3
    assert "NEXUDUS_TOKEN" in done.stderr and "NEXUDUS_PASSWORD" in done.stderr
    assert control(url, "stats")["requests"] == {}


def test_wrong_password_exits_3_with_one_line_and_never_shows_it(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", rows(2))
    secret = "Wr0ng-pass-XYZ"
    env = base_env(NEXUDUS_USERNAME="creator@example.com", NEXUDUS_PASSWORD=secret)
    log = tmp_path / "run.log"
    done = run_import(path, url, tmp_path, "--log-file", str(log), env=env)
    assert done.returncode == 3
    # no table of untouched `pending` rows; only where the report is
    assert done.stdout.startswith("Report: ") and len(done.stdout.splitlines()) == 1
    errors = [
        line for line in done.stderr.splitlines() if not line.startswith(("validate:", "plan:"))
    ]  # progress lines
    assert len(errors) == 1 and errors[0].startswith("sections: "), done.stderr
    assert "refused the password" in errors[0] and "NEXUDUS_PASSWORD" in errors[0]
    assert secret not in done.stderr + log.read_text(encoding="utf-8")
    assert posts(url) == 0


def test_viewer_credentials_exit_3(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", rows(3))
    env = base_env(NEXUDUS_USERNAME="viewer@example.com", NEXUDUS_PASSWORD="viewer")
    done = run_import(path, url, tmp_path, "--concurrency", "1", env=env)
    assert done.returncode == 3
    assert control(url, "sections") == []
    errors = [line for line in done.stderr.splitlines() if line.startswith("sections: ")]
    assert len(errors) == 1 and "CourseSection-Create" in errors[0], done.stderr


def test_held_lock_exits_3_at_once_without_a_request(url: str, tmp_path: Path) -> None:
    """Checklist 7: another run holds the state folder."""
    path = write_csv(tmp_path / "in.csv", rows(2))
    with state_lock(tmp_path / "state"):
        done = run_import(path, url, tmp_path)
    assert done.returncode == 3
    assert f"another import is running on {tmp_path / 'state'}" in done.stderr
    assert control(url, "stats")["requests"] == {}


# -- exit 4 ----------------------------------------------------------------------------------


def test_write_budget_stops_with_4_and_the_rerun_finishes(url: str, tmp_path: Path) -> None:
    data = rows(5)
    path = write_csv(tmp_path / "in.csv", data)
    first = run_import(path, url, tmp_path, "--max-writes", "2")
    assert first.returncode == 4, first.stderr
    assert posts(url) == 2
    assert sorted(statuses(tmp_path)) == ["created", "created", "pending", "pending", "pending"]
    second = run_import(path, url, tmp_path)
    assert second.returncode == 0
    assert_exactly_once(url, data)


# -- secrets ---------------------------------------------------------------------------------


def test_no_output_file_or_log_line_contains_the_token_or_password(
    url: str, tmp_path: Path
) -> None:
    """Checklist 30: token (NEXUDUS_TOKEN run) and password (password-grant run)."""
    token = httpx.post(
        f"{url}/api/token",
        data={"grant_type": "password", "username": "creator@example.com", "password": "creator"},
    ).json()["access_token"]
    configure(url, ambiguous_rate=0.5)  # make the log talk about failures too
    path = write_csv(tmp_path / "in.csv", rows(6))
    outputs = []
    with_token = run_import(
        path,
        url,
        tmp_path,
        "--log-file",
        str(tmp_path / "token.log"),
        env=base_env(NEXUDUS_TOKEN=token),
    )
    outputs += [with_token.stdout, with_token.stderr]
    write_csv(path, rows(6, start=10))
    password = "creator"
    with_password = run_import(path, url, tmp_path, "--log-file", str(tmp_path / "pw.log"))
    outputs += [with_password.stdout, with_password.stderr]
    assert with_token.returncode == 0 and with_password.returncode == 0
    assert (tmp_path / "token.log").stat().st_size > 0
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "in.csv"]
    texts = outputs + [p.read_bytes().decode("utf-8", "replace") for p in files]
    for text in texts:
        assert token not in text
        assert "Bearer " not in text
        assert f"password={password}" not in text and f'"{password}"' not in text


def test_unclear_answers_are_said_in_plain_words_never_as_exception_names(
    url: str, tmp_path: Path
) -> None:
    """Issue 13 item 2: the summary says how many answers were unclear and that they were
    checked; class names (AmbiguousError, TransportError) stay in the --log-file."""
    configure(url, ambiguous_rate=0.5, seed=5)
    path = write_csv(tmp_path / "in.csv", rows(8))
    log = tmp_path / "run.log"
    done = run_import(path, url, tmp_path, "--reconcile-grace", "0.2", "--log-file", str(log))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answer(s) were unclear and were checked against the server" in done.stdout
    shown = done.stdout + done.stderr
    assert "AmbiguousError" not in shown and "TransportError" not in shown
    summary = json.loads((latest_report(tmp_path) / "summary.json").read_text("utf-8"))
    assert summary["unclear_answers"] > 0


@pytest.mark.slow
def test_sandbox_flag_works_with_no_setup(tmp_path: Path) -> None:
    """`sections import data/sample_sections.csv --sandbox` at the documented limits."""
    sample = tmp_path / "sample_sections.csv"
    sample.write_bytes((ROOT / "data" / "sample_sections.csv").read_bytes())
    done = sections("import", str(sample), "--sandbox", env=base_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "created: 13" in done.stdout and "Report: " in done.stdout
    again = sections("import", str(sample), "--sandbox", "--quiet", env=base_env(), cwd=tmp_path)
    assert again.returncode == 0
    assert "exists: 13" in again.stdout
    assert (tmp_path / ".sections-state" / "sandbox.sqlite3").exists()
    assert (tmp_path / "reports").is_dir()


def test_ctrl_c_records_what_was_sent_writes_the_report_and_exits_4(
    url: str, tmp_path: Path
) -> None:
    data = rows(40)
    path = write_csv(tmp_path / "in.csv", data)
    command = [
        sys.executable,
        "-m",
        "importer",
        "import",
        str(path),
        "--api-url",
        url,
        "--state-dir",
        str(tmp_path / "state"),
        "--report-dir",
        str(tmp_path / "reports"),
        "--writes-per-minute",
        "600",
        "--requests-per-minute",
        "6000",
        "--min-interval",
        "0",
    ]
    process = subprocess.Popen(
        command,
        env=base_env(**CREATOR_ENV),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while posts(url) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 4, err
    assert "Traceback" not in err
    assert "Report: " in out
    found = statuses(tmp_path)
    assert found.count("created") == posts(url)  # every request in flight was recorded
    assert "pending" in found
    assert run_import(path, url, tmp_path).returncode == 0
    assert_exactly_once(url, data)


def test_progress_lines_when_not_on_a_terminal() -> None:
    lines: list[str] = []
    now = [0.0]
    display = ProgressDisplay(terminal=False, clock=lambda: now[0], echo=lines.append)
    event = ProgressEvent("send", 3, 10, {"created": 3}, 30.0, 14.0)
    with display:
        display(event)  # a new phase: printed at once
        now[0] = 1.0
        display(event)  # too soon: not printed
        now[0] = 6.0
        display(ProgressEvent("send", 5, 10, {"created": 5}, 30.0, 10.0))
    assert lines == [
        "send: 3/10 rows, 30.0 writes/min, ETA 14s (created 3)",
        "send: 5/10 rows, 30.0 writes/min, ETA 10s (created 5)",
    ]
    assert describe(ProgressEvent("plan", 0, 10)) == "plan: reading the server for 10 row(s)"
    quiet: list[str] = []
    with ProgressDisplay(quiet=True, terminal=False, echo=quiet.append) as silent:
        silent(event)
    assert quiet == []


def test_plan_and_import_share_their_options() -> None:
    plan_help = sections("plan", "--help", env=base_env()).stdout
    import_help = sections("import", "--help", env=base_env()).stdout
    for option in (
        "--api-url",
        "--sandbox",
        "--skip-invalid",
        "--sheet",
        "--delimiter",
        "--writes-per-minute",
        "--requests-per-minute",
        "--max-writes",
        "--concurrency",
        "--max-retry-after",
        "--reconcile-grace",
        "--breaker",
        "--state-dir",
        "--report-dir",
        "--quiet",
        "--log-file",
    ):
        assert option in plan_help and option in import_help, option
    assert "  --dry-run" in import_help and "  --dry-run" not in plan_help
