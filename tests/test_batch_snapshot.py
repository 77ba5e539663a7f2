"""`sections batch` imports a snapshot (issue 12 item 6): a file overwritten or deleted in the
inbox during its import is neither lost nor half-imported, and the batch goes on."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from import_support import CREATOR, FAST, assert_exactly_once, rows, sandbox, write_csv

from importer.batch import LEFT, VANISHED, BatchSettings, file_digest, run_batch
from importer.codes import ExitCode
from importer.engine.progress import ProgressEvent
from importer.engine.settings import JobSettings


def _aged(path: Path) -> Path:
    then = time.time() - 120
    os.utime(path, (then, then))
    return path


def _settings(inbox: Path, url: str) -> BatchSettings:
    job = JobSettings.build(input=inbox, api_url=url, credentials=CREATOR, **FAST)
    return BatchSettings(inbox=inbox, job=job, settle_seconds=5, recheck_seconds=0)


def _on_first_send(action: Callable[[], None]) -> Callable[[ProgressEvent], None]:
    """A progress callback that does `action` once, when the first file starts sending."""
    done: list[bool] = []

    def progress(event: ProgressEvent) -> None:
        if event.phase == "send" and not done:
            done.append(True)
            action()

    return progress


@pytest.fixture
def url() -> str:  # type: ignore[misc]
    with sandbox() as server:
        yield server.url


def test_a_file_overwritten_during_its_import_is_imported_whole_next_run(
    tmp_path: Path, url: str
) -> None:
    inbox = tmp_path / "inbox"
    first, second = rows(10), rows(34)  # the new version adds 24 rows
    sheet = _aged(write_csv(inbox / "a.csv", first))
    result = run_batch(
        _settings(inbox, url), progress=_on_first_send(lambda: write_csv(sheet, second))
    )
    (outcome,) = result.files
    assert outcome.outcome == LEFT and outcome.exit_code == ExitCode.OK
    assert file_digest(sheet) is not None and "changed during its import" in outcome.message
    summary = json.loads(Path(outcome.report or "").joinpath("summary.json").read_text("utf-8"))
    assert summary["input_sha256"] == file_digest(inbox / "done" / "a.csv")  # what was imported
    assert_exactly_once(url, first)

    _aged(sheet)
    again = run_batch(_settings(inbox, url))
    assert [f.outcome for f in again.files] == ["done"] and again.exit_code == ExitCode.OK
    assert not sheet.exists()
    assert_exactly_once(url, second)


def test_a_file_deleted_during_its_import_is_vanished_and_the_batch_goes_on(
    tmp_path: Path, url: str
) -> None:
    inbox = tmp_path / "inbox"
    doomed = _aged(write_csv(inbox / "a.csv", rows(5)))
    _aged(write_csv(inbox / "b.csv", rows(5, course=102)))
    os.utime(inbox / "b.csv", (time.time() - 60, time.time() - 60))  # after a.csv
    result = run_batch(_settings(inbox, url), progress=_on_first_send(doomed.unlink))
    outcomes = {f.name: (f.outcome, f.exit_code) for f in result.files}
    assert outcomes == {"a.csv": (VANISHED, ExitCode.OK), "b.csv": ("done", ExitCode.OK)}
    assert result.exit_code == ExitCode.OK
    saved = json.loads(result.summary_path.read_text("utf-8"))
    assert {f["name"]: f["exit_code"] for f in saved["files"]} == {"a.csv": 0, "b.csv": 0}
    assert (inbox / "done" / "a.csv").is_file()  # what was imported is kept
    assert_exactly_once(url, rows(5) + rows(5, course=102))
