"""The local journal: what this tool sent, when, and what came of it (SQLite, crash-safe).

The server is the truth; the ledger is an accelerator and audit trail. It answers two
questions the server cannot: "did we send this row before, and when?" (so an unanswered
send is only re-sent after the grace period) and "did the spreadsheet change since we
created it?" (changed_since_import). The intent (`sending`, attempts+1, sent_at) is
committed BEFORE each POST and the outcome right after it, so a kill -9 at any moment
leaves a record that the next run reconciles against the server.

WAL + synchronous=FULL: a committed transaction survives an OS crash, not only a process
crash. Every write is one explicit `BEGIN IMMEDIATE ... COMMIT`.

Records are keyed by `scope` (which API: its root URL, or `sandbox:<data file>`) and the row
key, and hold the action's kind, the request's hash and, for kinds that change an existing
section, a before-image (JSON) to undo from. A ledger of schema 1 (a column `api_url`, no
kind) is migrated in place when opened; its records are kept.
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
from typing import Any

from importer.codes import RowStatus
from importer.engine.scope import canonical_scope
from importer.errors import ConfigError, LedgerError

logger = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite3"
SCHEMA_VERSION = 2

Key = tuple[int, int]  # (CourseId, DisplayOrder)


class LedgerStatus(StrEnum):
    """A ledger record's state; shares its values with RowStatus where they mean the same."""

    PENDING = RowStatus.PENDING.value  # known, never sent (or certainly not applied)
    SENDING = "sending"  # intent committed; the POST may or may not have reached the server
    CREATED = RowStatus.CREATED.value  # we created it; section_id known
    EXISTS = RowStatus.EXISTS.value  # already on the server; adopted
    FAILED = RowStatus.FAILED.value  # the API rejected it (or gave up after max attempts)
    AMBIGUOUS = RowStatus.AMBIGUOUS.value  # answered with an unknown outcome; reconcile
    UPDATED = RowStatus.UPDATED.value  # we PUT the row's values over it (--update)
    DELETED = RowStatus.DELETED.value  # undo: deleted (undo's journal only)
    RESTORED = RowStatus.RESTORED.value  # undo: put back (undo's journal only)


#: Records whose last POST may have been applied without us knowing the Id.
UNRESOLVED: frozenset[LedgerStatus] = frozenset({LedgerStatus.SENDING, LedgerStatus.AMBIGUOUS})


@dataclass(frozen=True)
class LedgerRecord:
    scope: str
    course_id: int
    display_order: int
    request_hash: str
    status: LedgerStatus
    section_id: int | None
    attempts: int
    sent_at: float | None  # wall-clock seconds of the last send intent
    updated_at: float
    source_file: str | None
    source_row: int | None
    error: str | None
    kind: str = "create"  # the action kind (actions.ActionKind value)
    before_image: str | None = None  # JSON of the section before the action changed it

    @property
    def key(self) -> Key:
        return (self.course_id, self.display_order)


@dataclass(frozen=True)
class Mark:
    """One outcome to record (see `Ledger.mark`)."""

    key: Key
    status: LedgerStatus
    request_hash: str | None = None
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


def normalize_scope(scope: str) -> str:
    """The ledger's key for an API (importer.engine.scope.canonical_scope)."""
    return canonical_scope(scope)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sections (
    scope         TEXT    NOT NULL,
    course_id     INTEGER NOT NULL,
    display_order INTEGER NOT NULL,
    request_hash  TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    section_id    INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       REAL,
    updated_at    REAL    NOT NULL,
    source_file   TEXT,
    source_row    INTEGER,
    error         TEXT,
    kind          TEXT    NOT NULL DEFAULT 'create',
    before_image  TEXT,
    PRIMARY KEY (scope, course_id, display_order)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = (
    "scope, course_id, display_order, request_hash, status, section_id, attempts, "
    "sent_at, updated_at, source_file, source_row, error, kind, before_image"
)

#: Schema 1 -> 2: the scope column got its name, records got the action kind and a
#: before-image. Existing records are kept (all were creates).
_MIGRATE_1_TO_2 = (
    "ALTER TABLE sections RENAME COLUMN api_url TO scope",
    "ALTER TABLE sections RENAME COLUMN payload_hash TO request_hash",
    "ALTER TABLE sections ADD COLUMN kind TEXT NOT NULL DEFAULT 'create'",
    "ALTER TABLE sections ADD COLUMN before_image TEXT",
)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older ledger to SCHEMA_VERSION, in the caller's transaction."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(sections)")}
    if "api_url" in columns:
        for statement in _MIGRATE_1_TO_2:
            db.execute(statement)
        logger.info("ledger migrated from schema 1 to %d", SCHEMA_VERSION)


def _refuse_foreign(db: sqlite3.Connection, path: Path) -> None:
    """A file of another program or a newer version of this one is never written to."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(sections)")}
    missing = {name.strip() for name in _COLUMNS.split(",")} - columns
    found = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    newer = found is not None and not (str(found[0]).isdigit() and int(found[0]) <= SCHEMA_VERSION)
    if missing or newer:
        why = f"schema {found[0]}" if newer else "its sections table is not a ledger's"
        raise ConfigError(
            f"{path} is not a ledger this version can use ({why}): point --state-dir at "
            "another folder, or move the file away if it is not yours"
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
        self._db.create_function("canonical_scope", 1, canonical_scope, deterministic=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self.transaction() as db:
            _migrate(db)  # an older ledger first: CREATE IF NOT EXISTS leaves it as it is
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                db.execute(statement)
            _refuse_foreign(db, self.path)
            # Records keyed before scopes were canonical (e.g. no explicit port) keep working.
            db.execute(
                "UPDATE OR IGNORE sections SET scope = canonical_scope(scope)"
                " WHERE scope <> canonical_scope(scope)"
            )
            db.execute(
                "INSERT INTO meta(name, value) VALUES ('schema', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
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

    def records(self, scope: str) -> dict[Key, LedgerRecord]:
        """Every record for one API, by key."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM sections WHERE scope = ?",
                (normalize_scope(scope),),
            ).fetchall()
        return {(r[1], r[2]): _record(r) for r in rows}

    def get(self, scope: str, key: Key) -> LedgerRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM sections WHERE scope = ? AND course_id = ? "
                "AND display_order = ?",
                (normalize_scope(scope), key[0], key[1]),
            ).fetchone()
        return _record(row) if row else None

    # -- writes (each one committed before returning) ---------------------------------------

    def mark_intent(
        self,
        scope: str,
        key: Key,
        *,
        request_hash: str,
        kind: str = "create",
        before_image: str | None = None,
        source_file: str | None,
        source_row: int | None,
        section_id: int | None = None,
    ) -> LedgerRecord:
        """Commit `sending`, attempts+1, sent_at=now BEFORE the request goes out.

        `kind`: the action kind; `before_image`: JSON of the section as it was before an
        action that changes it (kept from an earlier intent when not given); `section_id`:
        the section an update targets (None for a create: its Id is not known yet).
        """
        now = self._clock()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sections (scope, course_id, display_order, request_hash, status,"
                " attempts, sent_at, updated_at, source_file, source_row, kind, before_image,"
                " section_id) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (scope, course_id, display_order) DO UPDATE SET"
                " request_hash = excluded.request_hash, status = excluded.status,"
                " kind = excluded.kind,"
                " before_image = COALESCE(excluded.before_image, sections.before_image),"
                " attempts = sections.attempts + 1, sent_at = excluded.sent_at,"
                " updated_at = excluded.updated_at, source_file = excluded.source_file,"
                " source_row = excluded.source_row, error = NULL,"
                " section_id = excluded.section_id",
                (
                    normalize_scope(scope),
                    key[0],
                    key[1],
                    request_hash,
                    LedgerStatus.SENDING.value,
                    now,
                    now,
                    source_file,
                    source_row,
                    kind,
                    before_image,
                    section_id,
                ),
            )
        record = self.get(scope, key)
        assert record is not None
        return record

    def mark(
        self,
        scope: str,
        key: Key,
        status: LedgerStatus,
        *,
        request_hash: str | None = None,
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
            request_hash=request_hash,
            section_id=section_id,
            error=error,
            source_file=source_file,
            source_row=source_row,
            undo_attempt=undo_attempt,
            sent_at=sent_at,
        )
        self.mark_many(scope, [mark])

    def mark_many(self, scope: str, marks: Iterable[Mark]) -> None:
        """Several outcomes in ONE transaction (the plan's adoptions: one fsync, not 1,000)."""
        now = self._clock()
        scope = normalize_scope(scope)
        with self.transaction() as db:
            for m in marks:
                db.execute(
                    "INSERT INTO sections (scope, course_id, display_order, request_hash,"
                    " status, section_id, attempts, sent_at, updated_at, source_file,"
                    " source_row, error)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (scope, course_id, display_order) DO UPDATE SET"
                    " request_hash = COALESCE(?, sections.request_hash),"
                    " status = excluded.status,"
                    " section_id = COALESCE(excluded.section_id, sections.section_id),"
                    " sent_at = COALESCE(excluded.sent_at, sections.sent_at),"
                    " updated_at = excluded.updated_at,"
                    " source_file = COALESCE(excluded.source_file, sections.source_file),"
                    " source_row = COALESCE(excluded.source_row, sections.source_row),"
                    " error = excluded.error, attempts = MAX(0, sections.attempts - ?)",
                    (
                        scope,
                        m.key[0],
                        m.key[1],
                        m.request_hash or "",
                        m.status.value,
                        m.section_id,
                        m.sent_at,
                        now,
                        m.source_file,
                        m.source_row,
                        m.error,
                        m.request_hash,
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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a write the disk refuses is LedgerError (one line)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise LedgerError(
                    f"cannot write the ledger {self.path} ({exc}: a full or read-only disk?); "
                    "what was sent before is recorded: free space, then run the same command again"
                ) from None


def read_records(state_dir: Path, scope: str) -> dict[Key, LedgerRecord]:
    """Every record for one API, read without writing (for `sections plan`).

    A plan must not create the state folder, take the lock or touch the file, yet it needs
    the ledger to tell `changed_since_import` from `conflict`. A missing or unreadable
    ledger reads as empty (the plan then judges by the server alone); a schema-1 ledger
    (not migrated yet: only an import writes) is read through its old column names.
    """
    path = Path(state_dir) / LEDGER_FILENAME
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        db.create_function("canonical_scope", 1, canonical_scope, deterministic=True)
        try:
            columns = {row[1] for row in db.execute("PRAGMA table_info(sections)")}
            select = _COLUMNS if "scope" in columns else _V1_COLUMNS
            where = "scope" if "scope" in columns else "api_url"
            rows = db.execute(
                f"SELECT {select} FROM sections WHERE canonical_scope({where}) = ?",
                (normalize_scope(scope),),
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        logger.warning(
            "could not read the ledger %s (%s); planning from the server alone", path, exc
        )
        return {}
    return {(r[1], r[2]): _record(r) for r in rows}


#: How schema 1 spelled _COLUMNS (for read-only readers of a not yet migrated ledger).
_V1_COLUMNS = (
    "api_url, course_id, display_order, payload_hash, status, section_id, attempts, "
    "sent_at, updated_at, source_file, source_row, error, 'create', NULL"
)


def _record(row: tuple[Any, ...]) -> LedgerRecord:
    return LedgerRecord(
        scope=canonical_scope(str(row[0])),
        course_id=int(row[1]),
        display_order=int(row[2]),
        request_hash=str(row[3]),
        status=LedgerStatus(row[4]),
        section_id=None if row[5] is None else int(row[5]),
        attempts=int(row[6]),
        sent_at=row[7],
        updated_at=row[8],
        source_file=row[9],
        source_row=None if row[10] is None else int(row[10]),
        error=row[11],
        kind=str(row[12]),
        before_image=row[13],
    )
