"""`sections batch`: import every spreadsheet dropped into an inbox folder, for cron/systemd.

One run takes the settled *.csv / *.xlsx files of the inbox (not subfolders), oldest first,
copies each into the state folder, imports the copy with `job.run_job` and files it under
`done/` or `failed/` (the inbox file is removed only if it did not change meanwhile). A
file that the shared write budget stopped (exit 4) stays in the inbox and the next run
resumes it through the ledger kept in the inbox's own state folder (`.sections-state`), so
moving finished files never loses history. One lock per inbox: an overlapping run is refused
before touching anything. Each run writes one summary JSON in `reports/` and may POST it to
a webhook.

The batch exit code is decided by `batch_exit_code` (the one place the rule lives).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import filelock
import httpx

from importer.clock import utc_iso, utc_stamp
from importer.codes import EXIT_CODE_MEANINGS, ExitCode, exit_code_for
from importer.credentials import Credentials, safe_url
from importer.engine.budget import WriteBudget
from importer.engine.job import JobResult, run_job
from importer.engine.progress import ProgressCallback
from importer.engine.settings import DEFAULT_REPORT_DIRNAME, DEFAULT_STATE_DIRNAME, JobSettings
from importer.errors import ConfigError, ImporterError, LockedError
from importer.local_sandbox import running_sandbox
from importer.safe_io import atomic_write_text

logger = logging.getLogger(__name__)

SUFFIXES = frozenset({".csv", ".xlsx"})
IGNORED_ENDINGS = (".part", ".tmp", ".crdownload", ".partial")
LOCK_NAME = ".sections-batch.lock"
DONE_DIRNAME = "done"
FAILED_DIRNAME = "failed"

DONE, FAILED, LEFT, VANISHED = "done", "failed", "left", "vanished"
#: Where each file is copied before its import (in the state folder): the import reads the
#: copy, so a file overwritten in the inbox meanwhile is imported as a whole, next run.
SNAPSHOT_DIRNAME = "snapshots"


@dataclass
class BatchSettings:
    """Options of one `sections batch` run; `job` is the template for each file's import."""

    inbox: Path
    job: JobSettings | None = None  # import options; input/state/report dirs are set per file
    settle_seconds: float = 10.0  # a file modified more recently than this is still being written
    notify_url: str | None = None  # webhook receiving the summary JSON (POST, no credentials)
    notify_timeout: float = 5.0
    sandbox: bool = False  # start one built-in sandbox for the whole run (demos, tests)
    sandbox_db: Path | None = None  # the sandbox's data file (None: temporary, gone after)
    recheck_seconds: float = 1.0  # pause between the two looks at each file (<= settle)


@dataclass
class FileOutcome:
    """What happened to one inbox file in this run."""

    name: str
    outcome: str  # done | failed | left | vanished (deleted from the inbox during its import)
    exit_code: int | None  # None: not attempted (still being written, run stopped)
    path: str  # where the file is now
    report: str | None = None  # its report folder (or error note), where it is now
    counts: dict[str, int] = field(default_factory=dict)  # rows by RowStatus value
    message: str = ""


@dataclass
class BatchResult:
    exit_code: ExitCode
    files: list[FileOutcome]
    summary: dict[str, object]
    summary_path: Path
    notify_error: str | None = None


def batch_exit_code(codes: Iterable[int | None]) -> ExitCode:
    """The run's exit code from its files' codes: the worst of 3 > 2 > 1, else 4, else 0.

    4 (stopped early, resumable) is milder than any real failure: it must not hide a file
    that failed (1), was invalid (2) or hit a configuration problem (3). Files not attempted
    (None, e.g. still being written) do not count.
    """
    seen = {int(c) for c in codes if c is not None}
    failures = seen & {ExitCode.ROWS_FAILED, ExitCode.INVALID_INPUT, ExitCode.CONFIG}
    if failures:
        return ExitCode(max(failures))
    return ExitCode.RESUMABLE if ExitCode.RESUMABLE in seen else ExitCode.OK


def is_candidate(path: Path) -> bool:
    """A spreadsheet to import: not hidden, not an Office lock file, not a partial download."""
    name = path.name
    lowered = name.casefold()
    if name.startswith((".", "~$")) or lowered.endswith(IGNORED_ENDINGS):
        return False
    return path.suffix.casefold() in SUFFIXES and path.is_file()


def scan_inbox(
    inbox: Path, *, settle_seconds: float, now: float | None = None
) -> tuple[list[tuple[Path, os.stat_result]], list[Path]]:
    """(settled files oldest first with their stat, files still being written)."""
    now = time.time() if now is None else now
    ready: list[tuple[Path, os.stat_result]] = []
    busy: list[Path] = []
    for path in inbox.iterdir():
        if not is_candidate(path):
            continue
        stat = path.stat()
        if now - stat.st_mtime < settle_seconds:
            busy.append(path)
        else:
            ready.append((path, stat))
    ready.sort(key=lambda item: (item[1].st_mtime, item[0].name))
    return ready, sorted(busy)


def _unchanged(path: Path, first: os.stat_result) -> bool:
    """Second look right before importing: same size and mtime as when the inbox was listed."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    return (now.st_size, now.st_mtime_ns) == (first.st_size, first.st_mtime_ns)


def file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes (None: it is gone)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def take_snapshot(path: Path, state_dir: Path) -> tuple[Path, str]:
    """Copy `path` to `<state_dir>/snapshots/<name>` (the same name every run, so the ledger
    knows the file again) and return the copy with its sha256. FileNotFoundError: gone."""
    folder = state_dir / SNAPSHOT_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = folder / path.name
    shutil.copyfile(path, snapshot)
    return snapshot, file_digest(snapshot) or ""


def free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or with a UTC timestamp (and counter) before the suffix if taken."""
    target = folder / name
    if not target.exists():
        return target
    stem, suffix = Path(name).stem, Path(name).suffix
    stamp = utc_stamp()
    for n in range(1, 10_000):
        extra = f"-{n}" if n > 1 else ""
        target = folder / f"{stem}-{stamp}{extra}{suffix}"
        if not target.exists():
            return target
    raise ConfigError(f"{folder}: cannot find a free name for {name}")


def _move(source: Path, folder: Path, name: str) -> Path:
    """Move without overwriting: os.replace within the inbox filesystem, copy across."""
    folder.mkdir(parents=True, exist_ok=True)
    target = free_name(folder, name)
    try:
        os.replace(source, target)
    except OSError:  # another filesystem (e.g. report_dir elsewhere): copy, keep the original
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return target


@contextmanager
def inbox_lock(inbox: Path) -> Iterator[None]:
    """Hold the inbox lock or raise LockedError at once (an overlapping run touches nothing)."""
    lock = filelock.FileLock(str(inbox / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockedError(
            f"another 'sections batch' run is using {inbox}; this run did nothing"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _counts(result: JobResult) -> dict[str, int]:
    frame = result.results
    if frame is None or "status" not in frame:
        return {}
    return {str(k): int(v) for k, v in frame["status"].value_counts().items()}


@contextmanager
def _folders(template: JobSettings) -> Iterator[None]:
    """Create the state and report folders before any file is touched: a folder that cannot
    be made is a configuration problem (exit 3), not a reason to send files to failed/."""
    for what, folder in (
        ("state", template.resolved_state_dir()),
        ("report", template.resolved_report_dir()),
    ):
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"cannot create the {what} folder {folder}: {error.strerror or error}"
            ) from None
    yield


@contextmanager
def _api(settings: BatchSettings, template: JobSettings) -> Iterator[JobSettings]:
    """The job template pointing at the API: one sandbox for the whole run when asked."""
    if not settings.sandbox:
        if template.credentials is None:  # missing credentials: refuse before touching a file
            template = dataclasses.replace(template, credentials=Credentials.from_env())
        yield template
        return
    with running_sandbox(template, settings.sandbox_db) as (job_template, _server):
        yield job_template


class _BatchRun:
    """State of one batch run (keeps run_batch short)."""

    def __init__(
        self,
        settings: BatchSettings,
        template: JobSettings,
        progress: ProgressCallback | None,
        on_file: Callable[[FileOutcome], object] | None,
        cancel: threading.Event | None,
        sleep: Callable[[float], object],
    ) -> None:
        self.inbox = settings.inbox
        self.settings = settings
        self.template = template
        self.progress = progress
        self.on_file = on_file
        self.cancel = cancel
        self.budget = WriteBudget(template.send.max_writes)
        self.sleep = sleep  # the pause between the two looks at a file (injected in tests)
        self.files: list[FileOutcome] = []

    def record(self, outcome: FileOutcome) -> None:
        self.files.append(outcome)
        if self.on_file is not None:
            self.on_file(outcome)

    def left(self, path: Path, message: str, code: int | None = None) -> None:
        self.record(FileOutcome(path.name, LEFT, code, str(path), message=message))

    def import_file(self, path: Path) -> FileOutcome:
        """Import a snapshot of `path`, then file what was imported under done/ or failed/.

        The inbox file is removed only if it is still the version imported; one changed
        meanwhile stays for the next run, one deleted meanwhile is `vanished`.
        """
        try:
            snapshot, digest = take_snapshot(path, self.template.resolved_state_dir())
        except FileNotFoundError:
            return FileOutcome(path.name, VANISHED, None, str(path), message="vanished")
        job = dataclasses.replace(self.template, input=snapshot, dry_run=False)
        try:
            result = run_job(job, progress=self.progress, cancel=self.cancel, budget=self.budget)
        except ImporterError as error:
            return self._finish_error(path, snapshot, digest, error)
        code = ExitCode(result.exit_code)
        report = Path(result.report_dir) if result.report_dir else None
        outcome = FileOutcome(
            path.name,
            LEFT,
            int(code),
            str(path),
            str(report) if report else None,
            _counts(result),
            result.message,
        )
        if code in (ExitCode.RESUMABLE, ExitCode.CONFIG):  # not the file's fault: it waits
            snapshot.unlink(missing_ok=True)
            return outcome
        folder = self.inbox / (DONE_DIRNAME if code == ExitCode.OK else FAILED_DIRNAME)
        outcome.outcome, outcome.path = self._file_away(path, snapshot, digest, folder, code)
        if outcome.outcome == LEFT:
            outcome.message += "; the file changed during its import: the new version is next"
        if report is not None and report.is_dir():  # the report travels with its file
            moved = Path(outcome.path) if outcome.outcome != LEFT else folder / path.name
            outcome.report = str(_move(report, folder, f"{moved.stem}-report"))
        return outcome

    def _file_away(
        self, path: Path, snapshot: Path, digest: str, folder: Path, code: ExitCode
    ) -> tuple[str, str]:
        """Move the imported copy to `folder`; (outcome, where the inbox file is now)."""
        moved = _move(snapshot, folder, path.name)
        current = file_digest(path)
        if current is None:
            return VANISHED, str(moved)
        if current != digest:
            return LEFT, str(path)
        path.unlink()
        return (DONE if code == ExitCode.OK else FAILED), str(moved)

    def _finish_error(
        self, path: Path, snapshot: Path, digest: str, error: ImporterError
    ) -> FileOutcome:
        """A file run_job could not start on: unreadable -> failed/ with a one-line note
        beside it; a configuration, credential or lock problem is not the file's fault, so
        it stays in the inbox for the next run."""
        code = exit_code_for(error)
        if code == ExitCode.CONFIG:
            snapshot.unlink(missing_ok=True)
            return FileOutcome(path.name, LEFT, int(code), str(path), message=str(error))
        folder = self.inbox / FAILED_DIRNAME
        outcome, where = self._file_away(path, snapshot, digest, folder, code)
        note = free_name(folder, f"{Path(path.name).stem}-error.txt")
        atomic_write_text(note, f"{error}\n")
        return FileOutcome(path.name, outcome, int(code), where, str(note), {}, str(error))

    def second_look(
        self, ready: list[tuple[Path, os.stat_result]]
    ) -> tuple[list[tuple[Path, os.stat_result]], list[Path]]:
        """Look again a moment later: a file whose size or mtime moved is still arriving
        (catches copies that keep an old mtime while they write)."""
        pause = min(self.settings.recheck_seconds, self.settings.settle_seconds)
        if not ready or pause <= 0:
            return ready, []
        self.sleep(pause)
        still: list[tuple[Path, os.stat_result]] = []
        moving: list[Path] = []
        for path, first in ready:
            if not path.exists():
                continue  # taken away since the listing: nothing to do, nothing to report
            if _unchanged(path, first):
                still.append((path, first))
            else:
                moving.append(path)
        return still, moving

    def run(self) -> None:
        settle = self.settings.settle_seconds
        ready, busy = scan_inbox(self.inbox, settle_seconds=settle)
        ready, moving = self.second_look(ready)
        stop_reason = ""
        stop_code: int | None = None
        for path, first in ready:
            if not stop_reason and self.cancel is not None and self.cancel.is_set():
                stop_reason, stop_code = "run stopped; the next run takes it", ExitCode.RESUMABLE
            if stop_reason:
                self.left(path, stop_reason, stop_code)
                continue
            # A spent write budget does not stop the loop: files needing no writes (all rows
            # already there) still finish, invalid ones still go to failed/, the rest exit 4.
            if not path.exists():
                continue
            if not _unchanged(path, first):
                self.left(path, "changed while waiting; still being written")
                continue
            outcome = self.import_file(path)
            self.record(outcome)
            if outcome.exit_code == ExitCode.CONFIG:
                stop_reason = "not attempted after a configuration problem (see above)"
        for path in moving:
            self.left(path, "still being written (its size or time changed while looking)")
        for path in busy:
            self.left(path, f"still being written (modified less than {settle:g} s ago)")


def _notify(url: str, summary: dict[str, object], timeout: float) -> str | None:
    """POST the summary; a failure is logged and returned, never raised."""
    where = urlsplit(url)
    shown = f"{where.scheme}://{where.hostname}{':' + str(where.port) if where.port else ''}"
    try:
        response = httpx.post(url, json=summary, timeout=timeout, follow_redirects=False)
        if response.is_success:
            return None
        problem = f"webhook {shown} answered HTTP {response.status_code}"
    except httpx.HTTPError as error:
        problem = f"webhook {shown} failed: {type(error).__name__}"
    logger.warning("%s; the batch itself is unaffected", problem)
    return problem


def check_notify_url(url: str) -> None:
    """A webhook is http(s) and carries no user:password (nothing secret ever leaves)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--notify-url must be an http(s) address, got {url[:80]!r}")
    if parts.username or parts.password:
        raise ConfigError("--notify-url must not contain a user name or password")


def _check_inbox(inbox: Path) -> Path:
    if not inbox.is_dir():
        raise ConfigError(f"inbox folder not found: {inbox}")
    return inbox.resolve()


def run_batch(
    settings: BatchSettings,
    *,
    progress: ProgressCallback | None = None,
    on_file: Callable[[FileOutcome], object] | None = None,
    cancel: threading.Event | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> BatchResult:
    """Import every settled file of the inbox once; see the module docstring.

    Raises LockedError (exit 3) when another run holds the inbox, ConfigError when the
    inbox does not exist; every per-file problem is a FileOutcome instead.
    """
    inbox = _check_inbox(Path(settings.inbox))
    if settings.notify_url:
        check_notify_url(settings.notify_url)
    settings = dataclasses.replace(settings, inbox=inbox)
    base = settings.job or JobSettings(input=inbox)
    folders = base.target
    template = base.with_options(
        state_dir=Path(folders.state_dir) if folders.state_dir else inbox / DEFAULT_STATE_DIRNAME,
        report_dir=Path(folders.report_dir)
        if folders.report_dir
        else inbox / DEFAULT_REPORT_DIRNAME,
    )
    started = datetime.now(UTC)
    with inbox_lock(inbox), _folders(template), _api(settings, template) as job_template:
        run = _BatchRun(settings, job_template, progress, on_file, cancel, sleep)
        try:
            run.run()
        finally:
            code = batch_exit_code(f.exit_code for f in run.files)
            summary = {
                "inbox": str(inbox),
                "started_at": utc_iso(started),
                "finished_at": utc_iso(),
                "exit_code": int(code),
                "exit_meaning": EXIT_CODE_MEANINGS[code],
                "api_url": safe_url(job_template.target.api_url),  # also sent to the webhook
                "max_writes": run.budget.limit,
                "writes_used": run.budget.used,
                "files": [dataclasses.asdict(f) for f in run.files],
                "counts": {
                    o: sum(f.outcome == o for f in run.files)
                    for o in (DONE, FAILED, LEFT, VANISHED)
                },
            }
            report_root = job_template.resolved_report_dir()
            summary_path = free_name(report_root, f"batch-{utc_stamp(started)}.json")
            try:
                atomic_write_text(summary_path, json.dumps(summary, indent=2, ensure_ascii=False))
            except OSError as error:
                raise ConfigError(
                    f"cannot write the batch summary {summary_path}: {error.strerror or error}"
                ) from None
    notify_error = None
    if settings.notify_url:
        notify_error = _notify(settings.notify_url, summary, settings.notify_timeout)
    return BatchResult(code, run.files, summary, summary_path, notify_error)
