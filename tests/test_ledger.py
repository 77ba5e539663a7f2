"""The ledger: intent before send, outcome after, durable settings, and the run lock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from importer.engine.ledger import (
    LEDGER_FILENAME,
    SCHEMA_VERSION,
    Ledger,
    LedgerStatus,
    Mark,
    payload_hash,
    read_records,
)
from importer.engine.locks import state_lock
from importer.errors import LockedError

API = "https://spaces.nexudus.com"


def test_intent_is_committed_before_the_outcome_and_counts_attempts(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, clock=lambda: 1000.0) as ledger:
        first = ledger.mark_intent(
            API, (101, 1), request_hash="h1", source_file="a.csv", source_row=2
        )
        assert (first.status, first.attempts, first.sent_at) == (LedgerStatus.SENDING, 1, 1000.0)
        # A second process sees the intent at once (committed, not pending in a transaction).
        other = sqlite3.connect(tmp_path / LEDGER_FILENAME)
        assert other.execute("SELECT status FROM sections").fetchone() == ("sending",)
        ledger.mark(API, (101, 1), LedgerStatus.AMBIGUOUS, error="HTTP 502")
        again = ledger.mark_intent(
            API, (101, 1), request_hash="h1", source_file="a.csv", source_row=2
        )
        assert again.attempts == 2
        ledger.mark(API, (101, 1), LedgerStatus.CREATED, section_id=77)
        other.close()
    with Ledger.open(tmp_path) as reopened:  # survives closing
        record = reopened.get(API + "/", (101, 1))  # the URL is normalised
        assert record is not None
        assert (record.status, record.section_id, record.attempts) == (LedgerStatus.CREATED, 77, 2)
        assert record.request_hash == "h1" and record.source_row == 2


def test_durable_settings(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        db = ledger._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_undo_attempt_gives_back_a_send_that_never_happened(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        ledger.mark_intent(API, (1, 1), request_hash="h", source_file=None, source_row=None)
        ledger.mark(API, (1, 1), LedgerStatus.PENDING, undo_attempt=True)
        record = ledger.get(API, (1, 1))
        assert record is not None and record.attempts == 0
        assert record.status == LedgerStatus.PENDING


def test_mark_many_and_records_are_scoped_by_api(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        ledger.mark_many(
            API,
            [
                Mark((1, n), LedgerStatus.EXISTS, request_hash="h", section_id=n)
                for n in range(1, 4)
            ],
        )
        ledger.mark("http://127.0.0.1:9", (1, 1), LedgerStatus.CREATED, section_id=9)
        assert sorted(ledger.records(API)) == [(1, 1), (1, 2), (1, 3)]
        assert ledger.records(API)[(1, 2)].section_id == 2
        assert list(ledger.records("http://127.0.0.1:9")) == [(1, 1)]


def test_payload_hash_ignores_key_order_but_not_values() -> None:
    a = {"CourseId": 1, "Title": "Intro", "DisplayOrder": 1}
    b = {"DisplayOrder": 1, "Title": "Intro", "CourseId": 1}
    assert payload_hash(a) == payload_hash(b)
    assert payload_hash(a) != payload_hash({**a, "Title": "Intro "})


def test_second_lock_on_the_same_state_is_refused_at_once(tmp_path: Path) -> None:
    with state_lock(tmp_path):
        started = time.monotonic()
        with pytest.raises(LockedError, match="another import is running on"), state_lock(tmp_path):
            pass
        assert time.monotonic() - started < 1
    with state_lock(tmp_path):  # released
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from importer.engine.locks import state_lock\n"
        f"with state_lock({str(tmp_path)!r}):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError), state_lock(tmp_path):
            pass
        holder.kill()  # SIGKILL: no cleanup runs
        holder.wait(timeout=10)
        with state_lock(tmp_path):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()


V1_SCHEMA = """
CREATE TABLE sections (
    api_url TEXT NOT NULL, course_id INTEGER NOT NULL, display_order INTEGER NOT NULL,
    payload_hash TEXT NOT NULL, status TEXT NOT NULL, section_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, sent_at REAL, updated_at REAL NOT NULL,
    source_file TEXT, source_row INTEGER, error TEXT,
    PRIMARY KEY (api_url, course_id, display_order)
);
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO sections VALUES ('http://api.example', 101, 1, 'h1', 'created', 41, 1, 5.0, 6.0,
                             'a.csv', 2, NULL);
INSERT INTO sections VALUES ('http://api.example', 101, 2, 'h2', 'ambiguous', NULL, 2, 7.0, 8.0,
                             'a.csv', 3, 'HTTP 502');
"""


def test_a_schema_1_ledger_is_read_then_migrated_keeping_its_records(tmp_path: Path) -> None:
    """The column api_url became scope, records got a kind and a before-image; none is lost."""
    path = tmp_path / LEDGER_FILENAME
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.close()
    before = read_records(tmp_path, "http://API.example/")  # a plan reads it unmigrated
    assert before[(101, 1)].section_id == 41 and before[(101, 2)].attempts == 2
    with Ledger.open(tmp_path) as ledger:
        records = ledger.records("http://api.example")
        assert records == before
        assert records[(101, 1)].kind == "create" and records[(101, 1)].before_image is None
        assert records[(101, 2)].status == LedgerStatus.AMBIGUOUS
        assert records[(101, 2)].request_hash == "h2" and records[(101, 2)].sent_at == 7.0
        again = ledger.mark_intent(
            "http://api.example", (101, 2), request_hash="h2", source_file=None, source_row=3
        )
        assert again.attempts == 3
    db = sqlite3.connect(path)
    columns = {row[1] for row in db.execute("PRAGMA table_info(sections)")}
    schema = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0]
    db.close()
    assert {"scope", "kind", "request_hash", "before_image"} <= columns
    assert "api_url" not in columns and schema == str(SCHEMA_VERSION)
    with Ledger.open(tmp_path) as ledger:  # opening a migrated ledger again changes nothing
        assert ledger.records("http://api.example")[(101, 2)].attempts == 3


def test_a_sandbox_scope_keeps_the_case_of_its_file_name(tmp_path: Path) -> None:
    """An API root is compared without case; a sandbox data file's name is not lower-cased."""
    with Ledger.open(tmp_path) as ledger:
        ledger.mark("sandbox:/data/Sandbox.sqlite3", (1, 1), LedgerStatus.CREATED, section_id=1)
        ledger.mark("HTTP://Api.Example/", (1, 1), LedgerStatus.CREATED, section_id=2)
        assert ledger.records("sandbox:/data/sandbox.sqlite3") == {}
        assert ledger.records("sandbox:/data/Sandbox.sqlite3")[(1, 1)].section_id == 1
        assert ledger.records("http://api.example")[(1, 1)].section_id == 2


def test_the_intent_records_the_action_kind_and_its_before_image(tmp_path: Path) -> None:
    """What an update or delete needs to be undone is committed before it is sent."""
    with Ledger.open(tmp_path) as ledger:
        first = ledger.mark_intent(
            API,
            (101, 1),
            request_hash="h",
            kind="update",
            before_image='{"Title": "Old"}',
            source_file=None,
            source_row=2,
        )
        again = ledger.mark_intent(
            API, (101, 1), request_hash="h", kind="update", source_file=None, source_row=2
        )
    assert first.kind == "update" and first.before_image == '{"Title": "Old"}'
    assert again.before_image == '{"Title": "Old"}' and again.attempts == 2
