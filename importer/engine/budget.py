"""Write budgets: `WriteBudget` (--max-writes, one run or batch) and `DailyBudget`
(--writes-per-day: writes per API account over a rolling 24 hours, across runs).

The API allows a few thousand writes a day (../shared/docs/nexudus-api.md). `--max-writes`
bounds one run; this bounds the account: every write this tool sends (import, update, undo,
batch) is logged with its time in one SQLite file per user, beside the account locks
(`$XDG_STATE_HOME/sections/writes.sqlite3`), keyed by the API's canonical scope, so runs
from different state folders share it. A 409 whose Retry-After is an hour or more (the
server's own daily limit) is recorded too: later runs wait for it instead of sending.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from importer.clock import utc_words
from importer.engine.locks import default_lock_dir
from importer.engine.scope import canonical_scope
from importer.engine.settings import JobSettings
from importer.errors import ConfigError

WINDOW_SECONDS = 24 * 3600.0
#: A Retry-After at least this long is the server's daily limit: later runs wait for it too.
DAILY_LIMIT_WAIT = 3600.0
DAILY_FILENAME = "writes.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS writes (scope TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS writes_by_scope ON writes (scope, at)",
    "CREATE TABLE IF NOT EXISTS blocked (scope TEXT PRIMARY KEY, until REAL NOT NULL)",
)


def daily_log_path(lock_dir: Path | None) -> Path:
    """The per-user write log, beside the account locks."""
    return (lock_dir or default_lock_dir()).parent / DAILY_FILENAME


class DailyBudget:
    """`limit` writes per rolling 24 hours for one scope; thread-safe, committed at once."""

    def __init__(
        self,
        scope: str,
        limit: int,
        *,
        lock_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scope = canonical_scope(scope)
        self.limit = int(limit)
        self.clock = clock
        self.path = daily_log_path(lock_dir)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30
            )
            for statement in _SCHEMA:
                self._db.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the daily write log {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def used(self) -> int:
        """Writes in the last 24 hours."""
        with self._lock:
            return self._used(self.clock())

    def _used(self, now: float) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM writes WHERE scope = ? AND at > ?",
            (self.scope, now - WINDOW_SECONDS),
        ).fetchone()
        return int(row[0])

    def left(self) -> int:
        return 0 if self.blocked_until() else max(0, self.limit - self.used())

    def take(self) -> bool:
        """Log one write now; False (nothing logged) when the budget is spent or blocked."""
        now = self.clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ok = self._used(now) < self.limit and self._blocked(now) is None
                if ok:
                    self._db.execute("INSERT INTO writes VALUES (?, ?)", (self.scope, now))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise
        return ok

    def free_at(self, count: int = 1) -> float:
        """When `count` more writes will be allowed (now, if they are)."""
        now = self.clock()
        blocked = self.blocked_until() or 0.0
        with self._lock:
            times = [
                float(r[0])
                for r in self._db.execute(
                    "SELECT at FROM writes WHERE scope = ? AND at > ? ORDER BY at",
                    (self.scope, now - WINDOW_SECONDS),
                )
            ]
        over = len(times) + count - self.limit  # the oldest `over` writes must expire first
        if over <= 0:
            return max(now, blocked)
        expire = times[over - 1] + WINDOW_SECONDS if over <= len(times) else now + WINDOW_SECONDS
        return max(expire, blocked)

    def server_asked_to_wait(self, seconds: float) -> None:
        """A Retry-After beyond the run's cap: of DAILY_LIMIT_WAIT or more, every run waits."""
        if seconds >= DAILY_LIMIT_WAIT:
            self.block_until(self.clock() + seconds)

    def block_until(self, until: float) -> None:
        """The server asked to wait until `until` (a Retry-After of hours): every run waits."""
        with self._lock:
            self._db.execute(
                "INSERT INTO blocked VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET"
                " until = MAX(until, excluded.until)",
                (self.scope, until),
            )

    def blocked_until(self) -> float | None:
        with self._lock:
            return self._blocked(self.clock())

    def _blocked(self, now: float) -> float | None:
        row = self._db.execute(
            "SELECT until FROM blocked WHERE scope = ?", (self.scope,)
        ).fetchone()
        return float(row[0]) if row and float(row[0]) > now else None

    def spent_message(self) -> str:
        blocked = self.blocked_until()
        if blocked:
            return f"the API asked to wait until {utc_words(blocked)}; run the same command then"
        return (
            f"the daily write budget (--writes-per-day {self.limit}) is spent; writes are "
            f"allowed again from {utc_words(self.free_at())}: run the same command then"
        )

    def outlook(self, needed: int) -> str:
        """What a plan says about the budget (see `outlook`)."""
        left = self.left()
        return outlook(needed, left, self.free_at(left + 1))


def outlook(needed: int, left: int, rest_at: float) -> str:
    """`1200 write(s) needed, 800 left in the daily budget: about 800 now, the rest after
    2026-12-04 09:14 UTC` (`rest_at`: when writes beyond `left` are allowed again)."""
    if needed <= left:
        return f"{needed} write(s) needed, {left} left in the daily budget"
    return (
        f"{needed} write(s) needed, {left} left in the daily budget: about {left} now, "
        f"the rest after {utc_words(rest_at)}"
    )


def plan_outlook(scope: str, limit: int, needed: int, *, lock_dir: Path | None,
                 clock: Callable[[], float] = time.time) -> str:  # fmt: skip
    """The outlook for a plan, which writes nothing: no log yet means nothing used."""
    if not daily_log_path(lock_dir).is_file():
        return outlook(needed, limit, clock() + WINDOW_SECONDS)
    daily = DailyBudget(scope, limit, lock_dir=lock_dir, clock=clock)
    try:
        return daily.outlook(needed)
    finally:
        daily.close()


class WriteBudget:
    """How many POSTs a run (or a whole batch) may still send; thread-safe."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must not be negative")
        self.limit = int(limit)
        self._used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Reserve one write; False when the budget is spent (the caller stops, exit 4)."""
        with self._lock:
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    def give_back(self) -> None:
        """Return one reserved write that was not sent (another budget refused it)."""
        with self._lock:
            self._used = max(0, self._used - 1)

    @property
    def used(self) -> int:
        with self._lock:
            return self._used


MAX_WRITES_SPENT = (
    "the write budget (--max-writes) is spent; run the same command again to continue"
)


def write_gate(budget: WriteBudget, daily: DailyBudget | None) -> Callable[[], str | None]:
    """The Sender's `take_write`: None when one more write may go, else why it may not."""

    def take() -> str | None:
        if not budget.take():
            return MAX_WRITES_SPENT
        if daily is not None and not daily.take():
            budget.give_back()
            return daily.spent_message()
        return None

    return take


def open_daily(settings: JobSettings) -> DailyBudget:
    """The account's daily write budget (DailyBudget) for a run that writes."""
    return DailyBudget(
        settings.scope,
        settings.send.writes_per_day,
        lock_dir=settings.target.lock_dir,
        clock=settings.clock or time.time,
    )
