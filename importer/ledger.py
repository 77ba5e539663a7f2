"""The local journal: what this tool sent, when, and what came of it (SQLite, crash-safe).

The server is the truth; the ledger is an accelerator and audit trail. It answers two
questions the server cannot: "did we send this row before, and when?" (so an unanswered
send is only re-sent after the grace period) and "did the spreadsheet change since we
created it?" (changed_since_import). The intent (`sending`, attempts+1, sent_at) is
committed BEFORE each POST and the outcome right after it, so a kill -9 at any moment
leaves a record that the next run reconciles against the server.

WAL + synchronous=FULL: a committed transaction survives an OS crash, not only a process
crash. Every write is one explicit `BEGIN IMMEDIATE ... COMMIT`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import filelock

from importer.codes import RowStatus
from importer.errors import ConfigError, LockedError

logger = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite3"
LOCK_FILENAME = "import.lock"
SCHEMA_VERSION = 1

Key = tuple[int, int]  # (CourseId, DisplayOrder)


class LedgerStatus(StrEnum):
    """A ledger record's state; shares its values with RowStatus where they mean the same."""

    PENDING = RowStatus.PENDING.value  # known, never sent (or certainly not applied)
    SENDING = "sending"  # intent committed; the POST may or may not have reached the server
    CREATED = RowStatus.CREATED.value  # we created it; section_id known
    EXISTS = RowStatus.EXISTS.value  # already on the server; adopted
    FAILED = RowStatus.FAILED.value  # the API rejected it (or gave up after max attempts)
    AMBIGUOUS = RowStatus.AMBIGUOUS.value  # answered with an unknown outcome; reconcile


#: Records whose last POST may have been applied without us knowing the Id.
UNRESOLVED: frozenset[LedgerStatus] = frozenset({LedgerStatus.SENDING, LedgerStatus.AMBIGUOUS})


@dataclass(frozen=True)
class LedgerRecord:
    api_url: str
    course_id: int
    display_order: int
    payload_hash: str
    status: LedgerStatus
    section_id: int | None
    attempts: int
    sent_at: float | None  # wall-clock seconds of the last send intent
    updated_at: float
    source_file: str | None
    source_row: int | None
    error: str | None

    @property
    def key(self) -> Key:
        return (self.course_id, self.display_order)


@dataclass(frozen=True)
class Mark:
    """One outcome to record (see `Ledger.mark`)."""

    key: Key
    status: LedgerStatus
    payload_hash: str | None = None
    section_id: int | None = None
    error: str | None = None
    source_file: str | None = None
    source_row: int | None = None
    undo_attempt: bool = False
    sent_at: float | None = None  # when given, replaces the intent's time (see Sender._post)


def payload_hash(payload: Mapping[str, object]) -> str:
    """Stable hash of a POST body (sorted keys, no whitespace): detects edited rows."""
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_api_url(api_url: str) -> str:
    return api_url.strip().rstrip("/").lower()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sections (
    api_url       TEXT    NOT NULL,
    course_id     INTEGER NOT NULL,
    display_order INTEGER NOT NULL,
    payload_hash  TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    section_id    INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       REAL,
    updated_at    REAL    NOT NULL,
    source_file   TEXT,
    source_row    INTEGER,
    error         TEXT,
    PRIMARY KEY (api_url, course_id, display_order)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = (
    "api_url, course_id, display_order, payload_hash, status, section_id, attempts, "
    "sent_at, updated_at, source_file, source_row, error"
)


class Ledger:
    """One SQLite file per state folder; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._transaction() as db:
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                db.execute(statement)
            db.execute(
                "INSERT OR IGNORE INTO meta(name, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )

    @classmethod
    def open(cls, state_dir: Path, **kwargs: object) -> Ledger:
        """The ledger of a state folder; ConfigError (one line) when it cannot be opened."""
        path = Path(state_dir) / LEDGER_FILENAME
        try:
            return cls(path, **kwargs)  # type: ignore[arg-type]
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the ledger {path}: {exc}") from None

    # -- reads ----------------------------------------------------------------------------

    def records(self, api_url: str) -> dict[Key, LedgerRecord]:
        """Every record for one API, by key."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM sections WHERE api_url = ?",
                (normalize_api_url(api_url),),
            ).fetchall()
        return {(r[1], r[2]): _record(r) for r in rows}

    def get(self, api_url: str, key: Key) -> LedgerRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM sections WHERE api_url = ? AND course_id = ? "
                "AND display_order = ?",
                (normalize_api_url(api_url), key[0], key[1]),
            ).fetchone()
        return _record(row) if row else None

    # -- writes (each one committed before returning) ---------------------------------------

    def mark_intent(
        self,
        api_url: str,
        key: Key,
        *,
        payload_hash: str,
        source_file: str | None,
        source_row: int | None,
    ) -> LedgerRecord:
        """Commit `sending`, attempts+1, sent_at=now BEFORE the POST goes out."""
        now = self._clock()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sections (api_url, course_id, display_order, payload_hash, status,"
                " attempts, sent_at, updated_at, source_file, source_row)"
                " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
                " ON CONFLICT (api_url, course_id, display_order) DO UPDATE SET"
                " payload_hash = excluded.payload_hash, status = excluded.status,"
                " attempts = sections.attempts + 1, sent_at = excluded.sent_at,"
                " updated_at = excluded.updated_at, source_file = excluded.source_file,"
                " source_row = excluded.source_row, error = NULL, section_id = NULL",
                (
                    normalize_api_url(api_url),
                    key[0],
                    key[1],
                    payload_hash,
                    LedgerStatus.SENDING.value,
                    now,
                    now,
                    source_file,
                    source_row,
                ),
            )
        record = self.get(api_url, key)
        assert record is not None
        return record

    def mark(
        self,
        api_url: str,
        key: Key,
        status: LedgerStatus,
        *,
        payload_hash: str | None = None,
        section_id: int | None = None,
        error: str | None = None,
        source_file: str | None = None,
        source_row: int | None = None,
        undo_attempt: bool = False,
        sent_at: float | None = None,
    ) -> None:
        """Record an outcome (or an adoption) for one key; creates the record when absent.

        `undo_attempt`: the request was certainly never sent (cancelled while waiting), so
        the attempt counted by `mark_intent` is given back. `sent_at`: a later time to
        measure the reconcile grace from (an unknown outcome's answer time).
        """
        mark = Mark(
            key,
            status,
            payload_hash=payload_hash,
            section_id=section_id,
            error=error,
            source_file=source_file,
            source_row=source_row,
            undo_attempt=undo_attempt,
            sent_at=sent_at,
        )
        self.mark_many(api_url, [mark])

    def mark_many(self, api_url: str, marks: Iterable[Mark]) -> None:
        """Several outcomes in ONE transaction (the plan's adoptions: one fsync, not 1,000)."""
        now = self._clock()
        scope = normalize_api_url(api_url)
        with self._transaction() as db:
            for m in marks:
                db.execute(
                    "INSERT INTO sections (api_url, course_id, display_order, payload_hash,"
                    " status, section_id, attempts, sent_at, updated_at, source_file,"
                    " source_row, error)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (api_url, course_id, display_order) DO UPDATE SET"
                    " payload_hash = COALESCE(?, sections.payload_hash),"
                    " status = excluded.status, section_id = excluded.section_id,"
                    " sent_at = COALESCE(excluded.sent_at, sections.sent_at),"
                    " updated_at = excluded.updated_at,"
                    " source_file = COALESCE(excluded.source_file, sections.source_file),"
                    " source_row = COALESCE(excluded.source_row, sections.source_row),"
                    " error = excluded.error, attempts = MAX(0, sections.attempts - ?)",
                    (
                        scope,
                        m.key[0],
                        m.key[1],
                        m.payload_hash or "",
                        m.status.value,
                        m.section_id,
                        m.sent_at,
                        now,
                        m.source_file,
                        m.source_row,
                        m.error,
                        m.payload_hash,
                        1 if m.undo_attempt else 0,
                    ),
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def read_records(state_dir: Path, api_url: str) -> dict[Key, LedgerRecord]:
    """Every record for one API, read without writing (for `sections plan`).

    A plan must not create the state folder, take the lock or touch the file, yet it needs
    the ledger to tell `changed_since_import` from `conflict`. A missing or unreadable
    ledger reads as empty (the plan then judges by the server alone).
    """
    path = Path(state_dir) / LEDGER_FILENAME
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sections WHERE api_url = ?",
                (normalize_api_url(api_url),),
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        logger.warning(
            "could not read the ledger %s (%s); planning from the server alone", path, exc
        )
        return {}
    return {(r[1], r[2]): _record(r) for r in rows}


def _record(row: tuple) -> LedgerRecord:
    return LedgerRecord(
        api_url=row[0],
        course_id=int(row[1]),
        display_order=int(row[2]),
        payload_hash=row[3],
        status=LedgerStatus(row[4]),
        section_id=None if row[5] is None else int(row[5]),
        attempts=int(row[6]),
        sent_at=row[7],
        updated_at=row[8],
        source_file=row[9],
        source_row=None if row[10] is None else int(row[10]),
        error=row[11],
    )


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[filelock.BaseFileLock]:
    """Hold `<state_dir>/import.lock` for the whole run; refuse at once if it is taken.

    An OS-level lock (not a marker file): the kernel releases it when the process dies, so
    a kill -9 never leaves a stale lock.
    """
    state_dir = Path(state_dir)
    lock = filelock.FileLock(str(state_dir / LOCK_FILENAME), timeout=0)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except filelock.Timeout:
        raise LockedError(f"another import is running on {state_dir}") from None
    except OSError as exc:  # not a folder, no permission, read-only disk: one line, exit 3
        raise ConfigError(
            f"cannot use the state folder {state_dir}: {exc.strerror or exc}"
        ) from None
    try:
        yield lock
    finally:
        lock.release()
