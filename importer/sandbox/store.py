"""Course sections and courses in a real SQLite file, so the sandbox behaves like a server
with storage (data survives a restart when `db_path` is given)."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from importer.sandbox.config import DEMO_COURSES

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
"""

#: First id handed out, so sandbox ids look like real (large) Nexudus ids.
FIRST_SECTION_ID = 5550001

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


def now_iso() -> str:
    """UTC timestamp in the `2025-03-01T09:00:00Z` form the API uses."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Thread-safe access to the sandbox database (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.executescript(_SCHEMA)
            for course_id, title in DEMO_COURSES.items():
                self._db.execute(
                    "INSERT OR IGNORE INTO courses VALUES (?, ?, ?, 1, 1, ?)",
                    (
                        course_id,
                        title,
                        course_id - 100,
                        str(uuid.uuid5(uuid.NAMESPACE_URL, f"course/{course_id}")),
                    ),
                )
            self._reset_sequence()

    def _reset_sequence(self) -> None:
        # AUTOINCREMENT ids never go back; start them at FIRST_SECTION_ID.
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='sections'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO sqlite_sequence(name, seq) VALUES ('sections', ?)",
                (FIRST_SECTION_ID - 1,),
            )

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

    # --- sections ------------------------------------------------------------------------
    def insert(self, values: dict[str, Any], user: str) -> dict[str, Any]:
        stamp = now_iso()
        row = {name: values.get(name) for name in WRITABLE}
        row.update(UniqueId=str(uuid.uuid4()), CreatedOn=stamp, UpdatedOn=stamp, UpdatedBy=user)
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._lock:
            cursor = self._db.execute(
                f"INSERT INTO sections ({names}) VALUES ({marks})", tuple(row.values())
            )
            new_id = int(cursor.lastrowid or 0)
        section = self.section(new_id)
        assert section is not None
        return section

    def update(self, section_id: int, values: dict[str, Any], user: str) -> dict[str, Any]:
        row = {name: values[name] for name in WRITABLE if name in values}
        row.update(UpdatedOn=now_iso(), UpdatedBy=user)
        assignments = ", ".join(f"{name} = ?" for name in row)
        with self._lock:
            self._db.execute(
                f"UPDATE sections SET {assignments} WHERE Id = ?", (*row.values(), section_id)
            )
        section = self.section(section_id)
        assert section is not None
        return section

    def delete(self, section_id: int) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM sections WHERE Id = ?", (section_id,))
        return cursor.rowcount > 0

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
            self._db.execute("DELETE FROM sqlite_sequence WHERE name='sections'")
            self._reset_sequence()


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
