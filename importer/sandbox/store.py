"""Course sections and courses in a real SQLite file, so the sandbox behaves like a server
with storage (data survives a restart when `db_path` is given).

New section ids start at `first_id` and skip 0..`id_gaps` numbers each (drawn from their own
seeded random stream, so fault sequences do not change); a section may be marked as having
lessons (the `section_children` table) so that DELETE can be refused while children exist.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from importer.sandbox.config import SandboxConfig, seeded_courses

_SCHEMA = """
CREATE TABLE IF NOT EXISTS courses (
    Id INTEGER PRIMARY KEY,
    Title TEXT NOT NULL,
    DisplayOrder INTEGER NOT NULL,
    Active INTEGER NOT NULL,
    Visibility INTEGER NOT NULL,
    UniqueId TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sections (
    Id INTEGER PRIMARY KEY AUTOINCREMENT,
    CourseId INTEGER NOT NULL REFERENCES courses(Id),
    Title TEXT NOT NULL,
    DisplayOrder INTEGER NOT NULL,
    UnlockType INTEGER NOT NULL,
    UnlockAfterDays INTEGER NOT NULL,
    SectionContents TEXT,
    Active INTEGER NOT NULL,
    ImageFileName TEXT,
    UniqueId TEXT NOT NULL,
    CreatedOn TEXT NOT NULL,
    UpdatedOn TEXT NOT NULL,
    UpdatedBy TEXT,
    SystemId TEXT
);
CREATE TABLE IF NOT EXISTS section_children (
    SectionId INTEGER PRIMARY KEY,
    Lessons INTEGER NOT NULL
);
"""

#: Columns a client may write; the rest are server-managed.
WRITABLE = (
    "CourseId",
    "Title",
    "DisplayOrder",
    "UnlockType",
    "UnlockAfterDays",
    "SectionContents",
    "Active",
    "ImageFileName",
    "SystemId",
)

#: Record fields in the order the API returns them (also the valid orderBy names).
SECTION_FIELDS = (
    "Id",
    "CourseId",
    "CourseTitle",
    "Title",
    "DisplayOrder",
    "UnlockType",
    "UnlockAfterDays",
    "SectionContents",
    "Active",
    "ImageFileName",
    "UniqueId",
    "CreatedOn",
    "UpdatedOn",
    "UpdatedBy",
    "SystemId",
    "IsNew",
)


def now_iso(decimals: int = 0) -> str:
    """UTC timestamp as the API writes it: `2025-03-01T09:00:00Z`, or with `decimals` digits
    of the second (live accounts: seven, `2026-08-27T08:24:35.2825432Z`)."""
    nanoseconds = time.time_ns()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(nanoseconds // 1_000_000_000))
    if decimals > 0:
        fraction = f"{nanoseconds % 1_000_000_000:09d}"[:decimals]
        stamp = f"{stamp}.{fraction}"
    return stamp + "Z"


class Store:
    """Thread-safe access to the sandbox database (one connection behind a lock)."""

    def __init__(self, path: Path, config: SandboxConfig | None = None) -> None:
        self.path = path
        self.config = config or SandboxConfig()
        self._lock = threading.Lock()
        self._ids = random.Random(self.config.seed)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO courses VALUES (?, ?, ?, 1, 1, ?)",
                (
                    (
                        course_id,
                        title,
                        course_id - 100,
                        str(uuid.uuid5(uuid.NAMESPACE_URL, f"course/{course_id}")),
                    )
                    for course_id, title in seeded_courses(self.config.courses).items()
                ),
            )
            self._db.execute("COMMIT")

    def _next_id(self) -> int:
        """The id for the next section: `first_id`, then the last id + 1 + a random gap."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='sections'").fetchone()
        last = int(row[0]) if row is not None else 0
        if last < self.config.first_id:
            return self.config.first_id
        gaps = self.config.id_gaps
        return last + 1 + (self._ids.randint(0, gaps) if gaps > 0 else 0)

    def reseed(self) -> None:
        with self._lock:
            self._ids = random.Random(self.config.seed)

    def now(self) -> str:
        return now_iso(self.config.timestamp_decimals)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- courses -------------------------------------------------------------------------
    def course(self, course_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM courses WHERE Id = ?", (course_id,)).fetchone()
        return _course(row) if row else None

    def courses(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM courses ORDER BY Id").fetchall()
        return [_course(row) for row in rows]

    def add_course(self, course_id: int, title: str) -> None:
        """Create or rename a course (control API: e.g. two courses with one name)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO courses VALUES (?, ?, ?, 1, 1, ?) "
                "ON CONFLICT(Id) DO UPDATE SET Title = excluded.Title",
                (course_id, title, course_id - 100, str(uuid.uuid4())),
            )

    # --- sections ------------------------------------------------------------------------
    def insert(self, values: dict[str, Any], user: str) -> dict[str, Any]:
        stamp = self.now()
        row = {name: values.get(name) for name in WRITABLE}
        row.update(UniqueId=str(uuid.uuid4()), CreatedOn=stamp, UpdatedOn=stamp, UpdatedBy=user)
        with self._lock:
            new_id = self._next_id()
            row["Id"] = new_id
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            self._db.execute(
                f"INSERT INTO sections ({names}) VALUES ({marks})", tuple(row.values())
            )
        section = self.section(new_id)
        assert section is not None
        return section

    def update(self, section_id: int, values: dict[str, Any], user: str) -> dict[str, Any]:
        row = {name: values[name] for name in WRITABLE if name in values}
        row.update(UpdatedOn=self.now(), UpdatedBy=user)
        assignments = ", ".join(f"{name} = ?" for name in row)
        with self._lock:
            self._db.execute(
                f"UPDATE sections SET {assignments} WHERE Id = ?", (*row.values(), section_id)
            )
        section = self.section(section_id)
        assert section is not None
        return section

    def delete(self, section_id: int) -> bool:
        """Delete a section and its lessons (the caller decides whether lessons block it)."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM sections WHERE Id = ?", (section_id,))
            self._db.execute("DELETE FROM section_children WHERE SectionId = ?", (section_id,))
        return cursor.rowcount > 0

    def children(self, section_id: int) -> int:
        """How many lessons the section holds (0 unless the control API set some)."""
        with self._lock:
            row = self._db.execute(
                "SELECT Lessons FROM section_children WHERE SectionId = ?", (section_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def set_children(self, section_id: int, lessons: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO section_children VALUES (?, ?)", (section_id, lessons)
            )

    def section(self, section_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(_SELECT + " WHERE s.Id = ?", (section_id,)).fetchone()
        return _section(row) if row else None

    def sections(self) -> list[dict[str, Any]]:
        """Every stored section, in id order."""
        with self._lock:
            rows = self._db.execute(_SELECT + " ORDER BY s.Id").fetchall()
        return [_section(row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM sections").fetchone()[0])

    def clear(self) -> None:
        """Delete every section and restart ids (control API reset)."""
        with self._lock:
            self._db.execute("DELETE FROM sections")
            self._db.execute("DELETE FROM section_children")
            self._db.execute("DELETE FROM sqlite_sequence WHERE name='sections'")


_SELECT = (
    "SELECT s.*, c.Title AS CourseTitle FROM sections s LEFT JOIN courses c ON c.Id = s.CourseId"
)


def _section(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["Active"] = bool(data["Active"])
    data["IsNew"] = False
    return {name: data.get(name) for name in SECTION_FIELDS}


def _course(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["Active"] = bool(data["Active"])
    data["IsNew"] = False
    return data
