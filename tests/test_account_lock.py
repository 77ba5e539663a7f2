"""One account, one writer (issue 12 item 1): runs with different state folders that write
to the same API exclude each other on this machine, however the URL is spelled."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from import_support import CREATOR_ENV, assert_exactly_once, rows, sandbox, write_csv

from importer.codes import ExitCode
from importer.engine.locks import account_lock
from importer.engine.scope import canonical_scope
from importer.errors import LockedError


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("https://Spaces.Nexudus.com/", "https://spaces.nexudus.com:443"),
        ("https://spaces.nexudus.com:443", "https://spaces.nexudus.com:443"),
        ("HTTP://127.0.0.1:8765//", "http://127.0.0.1:8765"),
        ("http://[::1]:80/api/", "http://[::1]:80/api"),
        ("https://bücher.example", "https://xn--bcher-kva.example:443"),
        ("sandbox:/data/Sandbox.sqlite3", "sandbox:/data/Sandbox.sqlite3"),
    ],
)
def test_canonical_scope(spelling: str, canonical: str) -> None:
    assert canonical_scope(spelling) == canonical


def test_a_second_writer_to_the_same_account_is_refused_naming_the_first(tmp_path: Path) -> None:
    with account_lock("https://spaces.nexudus.com", lock_dir=tmp_path, holder="/in/a.csv"):
        with (
            pytest.raises(LockedError) as refused,
            account_lock("HTTPS://spaces.nexudus.com:443/", lock_dir=tmp_path),
        ):
            pass
        text = str(refused.value)
        assert f"process {os.getpid()}" in text and "/in/a.csv" in text and "since 20" in text
        with account_lock("https://other.example", lock_dir=tmp_path):
            pass  # another account is another lock
    with account_lock("https://spaces.nexudus.com", lock_dir=tmp_path):
        pass  # released


def _start(path: Path, url: str, state: Path, *extra: str) -> subprocess.Popen[str]:
    """An import paced to last a few seconds (the sandbox is unthrottled)."""
    return subprocess.Popen(
        [sys.executable, "-m", "importer", "import", str(path), "--api-url", url,
         "--state-dir", str(state), "--report-dir", str(state / "reports"),
         "--requests-per-minute", "2400", "--min-interval", "0.02", *extra],
        cwd=path.parent,
        env={**os.environ, **CREATOR_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_two_imports_of_one_sheet_with_different_state_folders_post_each_row_once(
    tmp_path: Path,
) -> None:
    """Started together: one imports, the other stops at once (exit 3) naming it; nothing
    is posted twice. The copy of the sheet lives in another folder, as people do it."""
    data = rows(60)
    first_sheet = write_csv(tmp_path / "a" / "in.csv", data)
    second_sheet = write_csv(tmp_path / "b" / "in.csv", data)
    with sandbox() as server:
        runs = [
            _start(first_sheet, server.url, tmp_path / "a" / "state", "--writes-per-minute", "600"),
            _start(
                second_sheet,
                server.url + "/",
                tmp_path / "b" / "state",
                "--writes-per-minute",
                "600",
            ),
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        codes = sorted(run.returncode for run in runs)
        assert codes in ([ExitCode.OK, ExitCode.CONFIG], [ExitCode.OK, ExitCode.OK]), outputs
        if codes[1] == ExitCode.CONFIG:
            refused = next(
                err for run, (_, err) in zip(runs, outputs, strict=True) if run.returncode == 3
            )
            assert "another run is writing to" in refused and "process" in refused
        assert_exactly_once(server.url, data)


def test_wait_lock_waits_for_the_other_run_then_finds_everything_there(tmp_path: Path) -> None:
    data = rows(20)
    first_sheet = write_csv(tmp_path / "a" / "in.csv", data)
    second_sheet = write_csv(tmp_path / "b" / "in.csv", data)
    with sandbox() as server:
        first = _start(
            first_sheet, server.url, tmp_path / "a" / "state", "--writes-per-minute", "300"
        )
        time.sleep(2.5)  # the first run holds the lock and is writing
        second = _start(second_sheet, server.url, tmp_path / "b" / "state", "--wait-lock", "90")
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
        assert first.returncode == ExitCode.OK, out1 + err1
        assert second.returncode == ExitCode.OK, out2 + err2
        assert "20 exists" in out2 or "exists: 20" in out2, out2
        assert_exactly_once(server.url, data)
