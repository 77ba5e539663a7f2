"""`sections batch`: inbox scanning, moving files, the shared write budget, lock and webhook."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import filelock
import httpx
import pytest

from importer.batch import (
    LOCK_NAME,
    BatchSettings,
    batch_exit_code,
    free_name,
    is_candidate,
    run_batch,
    scan_inbox,
)
from importer.codes import ExitCode
from importer.credentials import Credentials
from importer.engine.settings import JobSettings
from importer.errors import LockedError
from importer.sandbox import SandboxServer

HEADER = "Course ID,Section title,Display order,Unlock type,Unlock after days\n"
FAST = ["--writes-per-minute", "6000", "--requests-per-minute", "6000", "--settle-seconds", "5"]


def _csv(path: Path, rows: list[str], age: float) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def _valid(inbox: Path, name: str = "a_valid.csv", age: float = 300) -> Path:
    return _csv(inbox / name, [f"101,Valid {n},{n},Immediate," for n in (1, 2, 3)], age)


def _invalid(inbox: Path, age: float = 200) -> Path:
    return _csv(inbox / "b_invalid.csv", ["101,Broken,x,Sometimes,"], age)


def _big(inbox: Path, age: float = 100) -> Path:
    return _csv(inbox / "c_big.csv", [f"102,Big {n},{n},Timed,{n}" for n in range(1, 7)], age)


@pytest.fixture
def api(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    """A private sandbox (control API on) with limits loose enough for fast tests."""
    return make_sandbox(throttle=False)


def _env() -> dict[str, str]:
    env = dict(os.environ)  # conftest already removed NEXUDUS_*
    env.update(NEXUDUS_USERNAME="creator@example.com", NEXUDUS_PASSWORD="creator")
    return env


def _batch(inbox: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", "batch", "--inbox", str(inbox), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


def _summary(stdout: str) -> dict:
    line = next(x for x in stdout.splitlines() if x.startswith("summary: "))
    return json.loads(Path(line.removeprefix("summary: ")).read_text(encoding="utf-8"))


def _server_sections(api: SandboxServer) -> list[dict]:
    response = httpx.get(f"{api.control_url}/sections", timeout=10)
    response.raise_for_status()
    return response.json()


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.slow
def test_inbox_run_moves_files_and_budget_leftover_resumes(
    tmp_path: Path, api: SandboxServer
) -> None:
    """Valid -> done/, invalid -> failed/ with errors, budget-stopped stays and is resumed."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _valid(inbox), _invalid(inbox), _big(inbox)

    first = _batch(inbox, "--api-url", api.url, "--max-writes", "5", *FAST)
    assert first.returncode == ExitCode.INVALID_INPUT, first.stderr  # 2 beats the resumable 4
    assert _names(inbox / "done") == {"a_valid.csv", "a_valid-report"}
    assert (inbox / "done" / "a_valid-report" / "results.csv").is_file()
    failed = inbox / "failed"
    assert "b_invalid.csv" in _names(failed)
    assert (failed / "b_invalid-report" / "errors.csv").is_file()
    assert (inbox / "c_big.csv").is_file()
    summary = _summary(first.stdout)
    outcomes = {f["name"]: (f["outcome"], f["exit_code"]) for f in summary["files"]}
    assert outcomes == {
        "a_valid.csv": ("done", 0),
        "b_invalid.csv": ("failed", 2),
        "c_big.csv": ("left", 4),
    }
    assert summary["writes_used"] == 5 and summary["exit_code"] == 2
    assert len(_server_sections(api)) == 5

    second = _batch(inbox, "--api-url", api.url, "--max-writes", "5", *FAST)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _names(inbox / "done") == {"a_valid.csv", "a_valid-report", "c_big.csv", "c_big-report"}
    sections = _server_sections(api)
    keys = [(s["CourseId"], s["DisplayOrder"]) for s in sections]
    assert len(keys) == len(set(keys)) == 9  # 3 + 6, nothing posted twice
    assert _summary(second.stdout)["writes_used"] == 4  # the 6 - 2 rows still missing


def test_overlapping_run_is_refused_touching_nothing(tmp_path: Path) -> None:
    """With the inbox lock held, a second run exits 3 at once and changes nothing."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _valid(inbox)
    with filelock.FileLock(str(inbox / LOCK_NAME), timeout=0):
        before = sorted(p.relative_to(inbox) for p in inbox.rglob("*"))
        result = _batch(inbox, "--api-url", "http://127.0.0.1:9", *FAST)
    assert result.returncode == ExitCode.CONFIG
    assert "another 'sections batch' run" in result.stderr
    assert "Traceback" not in result.stderr
    after = sorted(p.relative_to(inbox) for p in inbox.rglob("*"))
    assert after == before


def test_lock_refusal_in_process(tmp_path: Path) -> None:
    """run_batch raises LockedError (exit 3) while another holder has the inbox."""
    with filelock.FileLock(str(tmp_path / LOCK_NAME), timeout=0), pytest.raises(LockedError):
        run_batch(BatchSettings(inbox=tmp_path, sandbox=True))


def test_files_being_written_and_lock_files_are_left_alone(
    tmp_path: Path, api: SandboxServer
) -> None:
    """A just-modified file waits; ~$, .part, .tmp and hidden files are never picked up."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    growing = _valid(inbox, "growing.csv", age=0)
    ignored = ["~$growing.xlsx", "upload.csv.part", "upload.xlsx.tmp", ".hidden.csv", "notes.txt"]
    for name in ignored:
        (inbox / name).write_text("x", encoding="utf-8")
        os.utime(inbox / name, (time.time() - 999, time.time() - 999))
    result = _batch(inbox, "--api-url", api.url, *FAST)
    assert result.returncode == 0, result.stderr
    assert growing.is_file() and not (inbox / "done").exists()
    summary = _summary(result.stdout)
    assert [(f["name"], f["outcome"], f["exit_code"]) for f in summary["files"]] == [
        ("growing.csv", "left", None)
    ]
    assert all((inbox / name).is_file() for name in ignored)
    assert _server_sections(api) == []


def test_scan_orders_oldest_first_and_filters() -> None:
    """Candidates by name; scan order by mtime; settle time splits ready from busy."""
    assert is_candidate(Path(__file__).with_name("does-not-exist.csv")) is False
    for name in ("~$a.xlsx", "a.csv.part", "a.tmp", ".a.csv", "a.xls", "a.txt"):
        assert is_candidate(Path(name)) is False


def test_scan_inbox(tmp_path: Path) -> None:
    """Oldest first; a file younger than settle_seconds is busy; subfolders are not read."""
    new = _valid(tmp_path, "new.csv", age=50)
    old = _valid(tmp_path, "old.XLSX", age=500)
    busy = _valid(tmp_path, "busy.csv", age=1)
    (tmp_path / "sub").mkdir()
    _valid(tmp_path / "sub", "nested.csv")
    ready, waiting = scan_inbox(tmp_path, settle_seconds=10)
    assert [p for p, _ in ready] == [old, new]
    assert waiting == [busy]


def test_exit_code_rule() -> None:
    """Worst of 3 > 2 > 1; 4 only when nothing failed; not-attempted files do not count."""
    assert batch_exit_code([]) == ExitCode.OK
    assert batch_exit_code([0, None]) == ExitCode.OK
    assert batch_exit_code([0, 4]) == ExitCode.RESUMABLE
    assert batch_exit_code([4, 1]) == ExitCode.ROWS_FAILED
    assert batch_exit_code([1, 2, 4]) == ExitCode.INVALID_INPUT
    assert batch_exit_code([3, 2, 4, 0]) == ExitCode.CONFIG


def test_name_collision_in_done_gets_timestamp(tmp_path: Path, api: SandboxServer) -> None:
    """A file already in done/ is never overwritten: the newcomer gets a timestamp suffix."""
    inbox = tmp_path / "inbox"
    (inbox / "done").mkdir(parents=True)
    (inbox / "done" / "a_valid.csv").write_text("earlier file", encoding="utf-8")
    _valid(inbox)
    job = JobSettings.build(
        input=inbox,
        api_url=api.url,
        writes_per_minute=6000,
        requests_per_minute=6000,
        credentials=Credentials(username="creator@example.com", password="creator"),
    )
    result = run_batch(BatchSettings(inbox=inbox, job=job, settle_seconds=5))
    assert result.exit_code == ExitCode.OK
    done = {name for name in _names(inbox / "done") if not name.endswith("-report")}
    assert len(done) == 2 and "a_valid.csv" in done
    assert (inbox / "done" / "a_valid.csv").read_text(encoding="utf-8") == "earlier file"
    assert result.files[0].path != str(inbox / "done" / "a_valid.csv")
    assert free_name(inbox / "done", "other.csv") == inbox / "done" / "other.csv"


def test_unreadable_file_fails_with_a_note(tmp_path: Path) -> None:
    """A file that cannot be read at all goes to failed/ with its one-line reason beside it."""
    (tmp_path / "empty.csv").write_bytes(b"")
    os.utime(tmp_path / "empty.csv", (time.time() - 99, time.time() - 99))
    result = run_batch(BatchSettings(inbox=tmp_path, sandbox=True, settle_seconds=5))
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert (tmp_path / "failed" / "empty.csv").is_file()
    note = tmp_path / "failed" / "empty-error.txt"
    assert "empty" in note.read_text(encoding="utf-8")
    assert result.summary_path.parent == tmp_path / "reports"


def test_batch_summary_never_holds_a_password_from_the_api_url(tmp_path: Path) -> None:
    """The batch summary (also sent to the webhook) shows the API host, never user:password@."""
    job = JobSettings.build(
        input=tmp_path,
        api_url="https://someone:s3cret-pw@api.example.com/",
        credentials=Credentials(token="t"),
    )
    result = run_batch(BatchSettings(inbox=tmp_path, job=job))
    assert result.summary["api_url"] == "https://api.example.com/"
    assert "s3cret-pw" not in result.summary_path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- webhook


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((dict(self.headers), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_receives_the_summary(tmp_path: Path, api: SandboxServer, hook: str) -> None:
    """The summary JSON is POSTed as written, without any Authorization header."""
    _valid(tmp_path)
    result = _batch(tmp_path, "--api-url", api.url, "--notify-url", hook, *FAST)
    assert result.returncode == 0, result.stderr
    [(headers, body)] = _Hook.received
    assert body == _summary(result.stdout)
    assert body["files"][0]["outcome"] == "done"
    assert "authorization" not in {k.lower() for k in headers}
    assert "creator" not in json.dumps(body).replace("creator@", "")  # no password anywhere


def test_failing_webhook_is_not_fatal(tmp_path: Path, api: SandboxServer) -> None:
    """A webhook nobody listens on is reported on stderr; the exit code is the batch's."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _valid(tmp_path)
    result = _batch(
        tmp_path, "--api-url", api.url, "--notify-url", f"http://127.0.0.1:{port}/hook", *FAST
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "webhook" in line]
    assert len(warnings) == 1, result.stderr  # said once, not logged and echoed again
    assert (tmp_path / "done" / "a_valid.csv").is_file()


def test_missing_credentials_refused_before_touching_files(tmp_path: Path) -> None:
    """Without NEXUDUS_* credentials the run stops with exit 3 and moves nothing."""
    _valid(tmp_path)
    env = dict(os.environ)  # conftest already removed NEXUDUS_*
    result = subprocess.run(
        [sys.executable, "-m", "importer", "batch", "--inbox", str(tmp_path), *FAST],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == ExitCode.CONFIG
    assert "no credentials" in result.stderr
    assert (tmp_path / "a_valid.csv").is_file() and not (tmp_path / "failed").exists()


def test_ledger_in_use_leaves_the_file_in_the_inbox(tmp_path: Path) -> None:
    """Another import holding the inbox's ledger: exit 3, and the file waits in the inbox."""
    from importer.engine.locks import LOCK_FILENAME

    _valid(tmp_path)
    state = tmp_path / ".sections-state"
    state.mkdir()
    with filelock.FileLock(str(state / LOCK_FILENAME), timeout=0):
        result = run_batch(BatchSettings(inbox=tmp_path, sandbox=True, settle_seconds=5))
    assert result.exit_code == ExitCode.CONFIG
    assert [(f.outcome, f.exit_code) for f in result.files] == [("left", 3)]
    assert (tmp_path / "a_valid.csv").is_file() and not (tmp_path / "failed").exists()


def test_file_growing_with_an_old_mtime_is_left_alone(tmp_path: Path) -> None:
    """Second look: a file whose size changes during the pause waits, even with an old mtime."""
    path = _valid(tmp_path)
    pauses: list[float] = []

    def grow_while_waiting(seconds: float) -> None:
        pauses.append(seconds)
        stat = path.stat()
        with path.open("a", encoding="utf-8") as handle:
            handle.write("101,Late row,9,Immediate,\n")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a copy keeping the old mtime

    settings = BatchSettings(inbox=tmp_path, sandbox=True, settle_seconds=5)
    result = run_batch(settings, sleep=grow_while_waiting)
    assert pauses == [1.0]
    assert [(f.name, f.outcome, f.exit_code) for f in result.files] == [
        ("a_valid.csv", "left", None)
    ]
    assert "still being written" in result.files[0].message
    assert path.is_file() and not (tmp_path / "done").exists()


def test_stopped_run_leaves_the_rest_resumable(tmp_path: Path) -> None:
    """A stop request (SIGTERM in the CLI) before a file starts: it stays, exit 4."""
    _valid(tmp_path)
    stop = threading.Event()
    stop.set()
    result = run_batch(BatchSettings(inbox=tmp_path, sandbox=True, settle_seconds=5), cancel=stop)
    assert result.exit_code == ExitCode.RESUMABLE
    assert [(f.outcome, f.exit_code) for f in result.files] == [("left", 4)]
    assert (tmp_path / "a_valid.csv").is_file()


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x", "hooks"]
)
def test_notify_url_is_checked_before_anything(tmp_path: Path, url: str) -> None:
    """A webhook address with credentials (or not http) is refused before touching files."""
    from importer.errors import ConfigError

    _valid(tmp_path)
    with pytest.raises(ConfigError, match="notify-url") as caught:
        run_batch(BatchSettings(inbox=tmp_path, sandbox=True, notify_url=url))
    assert "pw" not in str(caught.value)
    assert (tmp_path / "a_valid.csv").is_file() and not (tmp_path / "reports").exists()


class _SlowHook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        time.sleep(3)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_notify_timeout_from_sections_toml_is_applied(tmp_path: Path, api: SandboxServer) -> None:
    """`[batch] notify_timeout` (no flag) is honoured: a hook slower than it is a warning."""
    server = HTTPServer(("127.0.0.1", 0), _SlowHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        _valid(inbox)
        config = tmp_path / "sections.toml"
        config.write_text("[batch]\nnotify_timeout = 0.3\n", encoding="utf-8")
        hook = f"http://127.0.0.1:{server.server_port}/hook"
        result = _batch(
            inbox, "--config", str(config), "--api-url", api.url, "--notify-url", hook, *FAST
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert "ReadTimeout" in result.stderr  # the default 5 s would have waited for the answer


@pytest.mark.parametrize("option", ["--report-dir", "--state-dir", "--log-file"])
def test_folder_that_cannot_be_made_is_one_line_and_touches_no_file(
    tmp_path: Path, option: str
) -> None:
    """A report/state/log place under a regular file: exit 3 in one line, the file stays."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _valid(inbox)
    blocker = tmp_path / "blocker.txt"
    blocker.write_text("a file, not a folder\n", encoding="utf-8")
    result = _batch(inbox, "--sandbox", option, str(blocker / "sub" / "x"), *FAST)
    assert result.returncode == ExitCode.CONFIG, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (inbox / "a_valid.csv").is_file()
    assert not (inbox / "done").exists() and not (inbox / "failed").exists()


def test_permission_problem_leaves_the_file_in_the_inbox(
    tmp_path: Path, api: SandboxServer
) -> None:
    """A 401 for a missing role is not the file's fault: exit 3, the file waits, nothing failed."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _valid(inbox)
    env = _env() | {"NEXUDUS_USERNAME": "viewer@example.com", "NEXUDUS_PASSWORD": "viewer"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "importer",
            "batch",
            "--inbox",
            str(inbox),
            "--api-url",
            api.url,
            *FAST,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == ExitCode.CONFIG, result.stdout + result.stderr
    assert (inbox / "a_valid.csv").is_file()
    assert not (inbox / "failed").exists() and not (inbox / "done").exists()
    assert _server_sections(api) == []


def test_update_from_sections_toml_applies_an_edited_file(
    tmp_path: Path, api: SandboxServer
) -> None:
    """`update = true` in sections.toml: an edited file dropped in again becomes updates."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _valid(inbox)
    first = _batch(inbox, "--api-url", api.url, *FAST)
    assert first.returncode == 0, first.stderr
    ids = sorted(s["Id"] for s in _server_sections(api))
    rows = [
        "101,Valid one (renamed),1,Immediate,",
        "101,Valid 2,2,Timed,4",
        "101,Valid 3,3,Immediate,",
    ]
    _csv(inbox / "a_valid.csv", rows, 300)
    config = tmp_path / "sections.toml"
    config.write_text("update = true\n", encoding="utf-8")
    second = _batch(inbox, "--config", str(config), "--api-url", api.url, *FAST)
    assert second.returncode == 0, second.stdout + second.stderr
    held = {
        s["Id"]: (s["Title"], s["UnlockType"], s["UnlockAfterDays"]) for s in _server_sections(api)
    }
    assert sorted(held) == ids  # updated in place, nothing created
    assert sorted(held.values()) == [
        ("Valid 2", 3, 4),
        ("Valid 3", 1, 0),
        ("Valid one (renamed)", 1, 0),
    ]
