"""The run journal: which sections each import run created or updated, for `sections undo`.

It lives in the ledger's SQLite file (same state folder, same crash safety) but answers
another question. The ledger holds one record per row position, overwritten by the next
run; the journal keeps, per run, every section the run wrote: a create once its Id is
known, an update from its intent on (with the before-image, stored BEFORE the PUT). A run
killed before its report was written has no report folder to undo, so the next run of the
same file in the same scope takes its writes over (`begin_run`): the run that finishes the
job owns them. An undo marks each write's undo state, with its own intent before every
request, so a killed undo is finished by running it again.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from importer.clock import utc_stamp
from importer.engine.actions import Action, ActionKind
from importer.engine.ledger import Key, Ledger, LedgerStatus, normalize_scope

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs ("
    " run_id TEXT PRIMARY KEY, scope TEXT NOT NULL, source_file TEXT NOT NULL,"
    " started_at REAL NOT NULL, finished_at REAL, report_dir TEXT, undone_at REAL)",
    "CREATE TABLE IF NOT EXISTS run_writes ("
    " run_id TEXT NOT NULL, section_id INTEGER NOT NULL, course_id INTEGER NOT NULL,"
    " kind TEXT NOT NULL, title TEXT NOT NULL DEFAULT '', before_image TEXT,"
    " after_image TEXT, state TEXT NOT NULL, written_at REAL NOT NULL,"
    " undo_state TEXT NOT NULL DEFAULT 'todo', undo_attempts INTEGER NOT NULL DEFAULT 0,"
    " undo_sent_at REAL, undo_error TEXT,"
    " PRIMARY KEY (run_id, section_id))",
)
_WRITE_COLUMNS = (
    "run_id, section_id, course_id, kind, title, before_image, after_image, state, written_at,"
    " undo_state, undo_attempts, undo_sent_at, undo_error"
)
#: undo_state values: not undone yet; sent (outcome unknown); done; left alone or failed.
UNDO_TODO, UNDO_SENDING, UNDO_DONE, UNDO_LEFT = "todo", "sending", "done", "left"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    scope: str
    source_file: str
    started_at: float
    finished_at: float | None
    report_dir: str | None
    undone_at: float | None


@dataclass(frozen=True)
class RunWrite:
    """One section a run wrote: `kind` create or update; `state` intent or written."""

    run_id: str
    section_id: int
    course_id: int
    kind: str
    title: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    state: str
    written_at: float
    undo_state: str
    undo_attempts: int
    undo_sent_at: float | None
    undo_error: str | None


def _json(value: Mapping[str, object] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), default=str, sort_keys=True)


def _loads(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))


class Journal:
    """The runs and their writes, in the ledger's file (every write committed at once)."""

    def __init__(self, ledger: Ledger, *, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self._clock = clock
        with ledger.transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    # -- runs -----------------------------------------------------------------------------

    def begin_run(self, scope: str, source_file: str) -> str:
        """A new run's id; the writes of runs of this file that never finished become its."""
        run_id = f"{utc_stamp()}-{secrets.token_hex(3)}"
        scope = normalize_scope(scope)
        with self.ledger.transaction() as db:
            db.execute(
                "INSERT INTO runs (run_id, scope, source_file, started_at) VALUES (?, ?, ?, ?)",
                (run_id, scope, source_file, self._clock()),
            )
            orphans = [
                r[0]
                for r in db.execute(
                    "SELECT run_id FROM runs WHERE finished_at IS NULL AND scope = ?"
                    " AND source_file = ? AND run_id <> ?",
                    (scope, source_file, run_id),
                )
            ]
            for orphan in orphans:  # oldest write of a section first: its before-image stays
                db.execute(
                    f"INSERT OR IGNORE INTO run_writes ({_WRITE_COLUMNS})"
                    f" SELECT ?, {_WRITE_COLUMNS.split(', ', 1)[1]} FROM run_writes"
                    " WHERE run_id = ? ORDER BY written_at",
                    (run_id, orphan),
                )
                db.execute("DELETE FROM run_writes WHERE run_id = ?", (orphan,))
                db.execute("DELETE FROM runs WHERE run_id = ?", (orphan,))
        return run_id

    def finish_run(self, run_id: str, report_dir: str | None) -> None:
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, report_dir = ? WHERE run_id = ?",
                (self._clock(), report_dir, run_id),
            )

    def run(self, run_id: str) -> RunInfo | None:
        with self.ledger.transaction() as db:
            row = db.execute(
                "SELECT run_id, scope, source_file, started_at, finished_at, report_dir,"
                " undone_at FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return None if row is None else RunInfo(*row)

    def mark_undone(self, run_id: str) -> None:
        with self.ledger.transaction() as db:
            db.execute("UPDATE runs SET undone_at = ? WHERE run_id = ?", (self._clock(), run_id))

    def writes(self, run_id: str) -> list[RunWrite]:
        with self.ledger.transaction() as db:
            rows = db.execute(
                f"SELECT {_WRITE_COLUMNS} FROM run_writes WHERE run_id = ? ORDER BY written_at",
                (run_id,),
            ).fetchall()
        return [
            RunWrite(
                str(r[0]),
                int(r[1]),
                int(r[2]),
                str(r[3]),
                str(r[4]),
                _loads(r[5]),
                _loads(r[6]),
                str(r[7]),
                float(r[8]),
                str(r[9]),
                int(r[10]),
                r[11],
                r[12],
            )
            for r in rows
        ]

    def last_written(self) -> dict[int, float]:
        """section Id -> when this tool last wrote it (any run, any undo): a later UpdatedOn
        on the server is someone else's edit."""
        with self.ledger.transaction() as db:
            rows = db.execute(
                "SELECT section_id, MAX(MAX(written_at, COALESCE(undo_sent_at, 0)))"
                " FROM run_writes GROUP BY section_id"
            ).fetchall()
        return {int(r[0]): float(r[1]) for r in rows}

    # -- an import's writes -----------------------------------------------------------------

    def intent(self, run_id: str, action: Action) -> None:
        """Before a PUT: the section's before-image (the first one of this run stays)."""
        self._record(run_id, "intent", action, int(action.section_id or 0))

    def written(self, run_id: str, action: Action, section_id: int) -> None:
        """The write took effect (answered, or found on the server after an unclear answer)."""
        self._record(run_id, "written", action, section_id)

    def _record(self, run_id: str, state: str, action: Action, section_id: int) -> None:
        before = action.before if action.kind is ActionKind.UPDATE else None
        with self.ledger.transaction() as db:
            db.execute(
                "INSERT INTO run_writes (run_id, section_id, course_id, kind, title,"
                " before_image, after_image, state, written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, section_id) DO UPDATE SET"
                " after_image = excluded.after_image, title = excluded.title,"
                " written_at = CASE WHEN excluded.state = 'written' THEN excluded.written_at"
                " ELSE run_writes.written_at END,"
                " state = CASE WHEN excluded.state = 'written' THEN 'written'"
                " ELSE run_writes.state END",
                (
                    run_id,
                    section_id,
                    action.key[0],
                    action.kind.value,
                    action.title,
                    _json(before),
                    _json(action.after),
                    state,
                    self._clock(),
                ),
            )

    # -- an undo's progress -----------------------------------------------------------------

    def undo_intent(self, run_id: str, section_id: int) -> int:
        """Before an undo request: `sending`, attempts+1; returns the attempts so far."""
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE run_writes SET undo_state = ?, undo_attempts = undo_attempts + 1,"
                " undo_sent_at = ? WHERE run_id = ? AND section_id = ?",
                (UNDO_SENDING, self._clock(), run_id, section_id),
            )
            row = db.execute(
                "SELECT undo_attempts FROM run_writes WHERE run_id = ? AND section_id = ?",
                (run_id, section_id),
            ).fetchone()
        return int(row[0]) if row else 0

    def undo_mark(self, run_id: str, section_id: int, state: str, error: str | None = None) -> None:
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE run_writes SET undo_state = ?, undo_error = ?"
                " WHERE run_id = ? AND section_id = ?",
                (state, error, run_id, section_id),
            )


@dataclass(frozen=True)
class _Attempts:
    attempts: int


class UndoLedger:
    """What the Sender needs of a ledger, for an undo: intents and outcomes go to the
    journal's undo state of each write (keyed (course, section Id))."""

    def __init__(self, journal: Journal, run_id: str) -> None:
        self.journal = journal
        self.run_id = run_id

    def mark_intent(
        self,
        scope: str,
        key: Key,
        *,
        request_hash: str,
        kind: str = "",
        before_image: str | None = None,
        source_file: str | None,
        source_row: int | None,
        section_id: int | None = None,
    ) -> _Attempts:
        return _Attempts(self.journal.undo_intent(self.run_id, key[1]))

    def mark(
        self,
        scope: str,
        key: Key,
        status: LedgerStatus,
        *,
        section_id: int | None = None,
        error: str | None = None,
        undo_attempt: bool = False,
        sent_at: float | None = None,
    ) -> None:
        if status in (LedgerStatus.DELETED, LedgerStatus.RESTORED):
            state = UNDO_DONE
        elif status is LedgerStatus.FAILED:
            state = UNDO_LEFT
        elif status is LedgerStatus.PENDING:
            state = UNDO_TODO
        else:
            state = UNDO_SENDING
        self.journal.undo_mark(self.run_id, key[1], state, error)
