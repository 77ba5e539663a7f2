"""Faults of input, settings, disk and signals as a person meets them: one line on stderr, a
documented exit code, never a traceback (issue 12 item 7, issue 13 item 1)."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from import_support import CREATOR_ENV, FAST_FLAGS, assert_exactly_once, rows, sandbox, write_csv

from importer.codes import ExitCode

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample_sections.csv"


def sections(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    preexec: object = None,
    patch: str = "",
) -> subprocess.CompletedProcess[str]:
    """`sections ARGS` in a child process; `patch` (Python run first, in the child) replaces
    a library function to make a fault that no input can."""
    start = ["-c", f"import sys\n{patch}\nfrom importer.cli import main\nmain(sys.argv[1:])"]
    return subprocess.run(
        [sys.executable, *(start if patch else ["-m", "importer"]), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **CREATOR_ENV, **(env or {})},
        timeout=120,
        preexec_fn=preexec,  # type: ignore[arg-type]
    )  # fmt: skip


def assert_one_line(done: subprocess.CompletedProcess[str], code: ExitCode, *words: str) -> None:
    """The run ended with `code`, no traceback anywhere, and one line of its output says why
    (a "cannot start" fault on stderr; a stopped run's summary line on stdout)."""
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert "Traceback" not in output, output
    lines = output.splitlines()
    assert any(all(word in line for word in words) for line in lines), output


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--min-interval", "inf"),
        ("--writes-per-minute", "1e-300"),
        ("--writes-per-minute", "nan"),
        ("--writes-per-minute", "0"),
        ("--requests-per-minute", "1e400"),
        ("--read-timeout", "-1"),
    ],
)
def test_absurd_rates_and_intervals_are_bad_options(tmp_path: Path, flag: str, value: str) -> None:
    done = sections("plan", str(SAMPLE), "--sandbox", flag, value, cwd=tmp_path)
    assert_one_line(done, ExitCode.CONFIG, flag)


def test_absurd_rate_in_sections_toml_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "sections.toml").write_text("writes_per_minute = 1e-300\n", encoding="utf-8")
    done = sections("plan", str(SAMPLE), "--sandbox", cwd=tmp_path)
    assert_one_line(done, ExitCode.CONFIG, "writes_per_minute")


def test_token_that_is_not_a_header_value(tmp_path: Path) -> None:
    env = {"NEXUDUS_TOKEN": "tok\u00e9n", "NEXUDUS_USERNAME": "", "NEXUDUS_PASSWORD": ""}
    done = sections("plan", str(SAMPLE), "--api-url", "http://127.0.0.1:9", cwd=tmp_path, env=env)
    assert_one_line(done, ExitCode.CONFIG, "NEXUDUS_TOKEN")


def test_binary_config_file(tmp_path: Path) -> None:
    (tmp_path / "bin.toml").write_bytes(bytes(range(256)) * 4)
    done = sections("--config", "bin.toml", "validate", str(SAMPLE), cwd=tmp_path)
    assert_one_line(done, ExitCode.CONFIG, "bin.toml")


def test_ledger_of_another_schema_is_refused_naming_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "ledger.sqlite3") as db:
        db.execute("CREATE TABLE sections (id INTEGER, name TEXT)")
    done = sections("import", str(SAMPLE), "--sandbox", "--state-dir", str(state), cwd=tmp_path)
    assert_one_line(done, ExitCode.CONFIG, "ledger.sqlite3", "not a ledger")


@pytest.mark.parametrize("name", ["ledger.sqlite3", "sandbox.sqlite3"])
def test_corrupt_database_files_are_refused_naming_the_file(tmp_path: Path, name: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / name).write_bytes(b"this is not a database" * 100)
    done = sections("import", str(SAMPLE), "--sandbox", "--state-dir", str(state), cwd=tmp_path)
    assert_one_line(done, ExitCode.CONFIG, name)


def test_unexpected_exception_is_exit_5_with_the_traceback_only_in_the_log(tmp_path: Path) -> None:
    """A bug (here: the planner raising) is one line and exit 5; the log file has the details."""
    bug = (
        "import importer.engine.job as job\n"
        "def broken(*a, **k): raise RuntimeError('planner bug')\n"
        "job.classify = broken"
    )
    log = tmp_path / "run.log"
    done = sections(
        "import", str(SAMPLE), "--sandbox", "--log-file", str(log), "--state-dir",
        str(tmp_path / "st"), "--report-dir", str(tmp_path / "reports"), cwd=tmp_path, patch=bug,
    )  # fmt: skip
    assert_one_line(done, ExitCode.INTERNAL, "internal error", "log-file")
    assert "RuntimeError: planner bug" in log.read_text(encoding="utf-8")


def test_memory_exhaustion_is_exit_2(tmp_path: Path) -> None:
    huge = (
        "import importer.engine.job as job\n"
        "def huge(*a, **k): raise MemoryError\n"
        "job.validate_file = huge"
    )
    done = sections(
        "import", str(SAMPLE), "--sandbox", "--state-dir", str(tmp_path / "st"), cwd=tmp_path,
        patch=huge,
    )  # fmt: skip
    assert_one_line(done, ExitCode.INVALID_INPUT, "memory")


def test_nothing_valid_with_skip_invalid_is_exit_2(tmp_path: Path) -> None:
    done = sections(
        "import", str(ROOT / "data" / "invalid_sections.csv"), "--skip-invalid", "--sandbox",
        "--report-dir", str(tmp_path / "reports"), "--state-dir", str(tmp_path / "st"),
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_line(done, ExitCode.INVALID_INPUT, "no valid row")
    assert "Report:" in done.stdout


def test_server_never_reached_is_exit_3_naming_the_url(tmp_path: Path) -> None:
    started = time.monotonic()
    done = sections(
        "import", str(SAMPLE), "--api-url", "http://127.0.0.1:9",
        "--report-dir", str(tmp_path / "reports"), cwd=tmp_path,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert_one_line(done, ExitCode.CONFIG, "http://127.0.0.1:9")
    assert "Report:" in done.stdout
    assert "TransportError" not in done.stderr  # class names only in --log-file


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_full_disk_under_the_state_folder_stops_with_exit_3_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """The ledger's file cannot grow (a full disk): the run stops with one line, exit 3;
    a rerun with space finishes with every row on the server exactly once."""
    data = rows(40)
    path = write_csv(tmp_path / "in.csv", data)

    def small_files() -> None:  # in the child: files stop growing past 60 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    with sandbox(writes_per_minute=100000, requests_per_minute=100000, min_interval_ms=0) as srv:
        args = ("import", str(path), "--api-url", srv.url, "--state-dir", "st", *FAST_FLAGS)
        full = sections(*args, cwd=tmp_path, preexec=small_files)
        assert_one_line(full, ExitCode.CONFIG, "ledger", "disk")
        again = sections(*args, cwd=tmp_path)
        assert again.returncode == ExitCode.OK, again.stdout + again.stderr
        assert_exactly_once(srv.url, data)


def test_sigterm_finishes_in_flight_writes_the_report_and_exits_4(tmp_path: Path) -> None:
    data = rows(40)
    path = write_csv(tmp_path / "in.csv", data)
    with sandbox() as srv:
        args = ["import", str(path), "--api-url", srv.url, "--state-dir", "st"]
        child = subprocess.Popen(
            [sys.executable, "-m", "importer", *args, "--writes-per-minute", "60"],
            cwd=tmp_path,
            env={**os.environ, **CREATOR_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(6)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
        assert child.returncode == ExitCode.RESUMABLE, out + err
        assert "Traceback" not in out + err and "Report:" in out
        again = sections(*args, *FAST_FLAGS, cwd=tmp_path)
        assert again.returncode == ExitCode.OK, again.stdout + again.stderr
        assert_exactly_once(srv.url, data)


def test_sandbox_port_is_used_and_a_taken_one_is_one_line_exit_3(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = sections("plan", str(SAMPLE), "--sandbox", "--sandbox-port", str(port), cwd=tmp_path)
        assert_one_line(busy, ExitCode.CONFIG, str(port))
    done = sections("plan", str(SAMPLE), "--sandbox", "--sandbox-port", str(port), cwd=tmp_path)
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert f"http://127.0.0.1:{port}" in done.stderr
