"""The plan: classification on plain data, and the read-only requests against the sandbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from import_support import control, posts, rows, sandbox, seed_section, settings, write_csv

import importer.engine.match as match_module
from importer.codes import RowStatus
from importer.engine.job import run_job
from importer.engine.ledger import LedgerRecord, LedgerStatus, payload_hash
from importer.engine.match import ServerSection, normalize_title
from importer.engine.plan import classify
from importer.engine.rows import PLAN_COLUMNS, plan_frame
from importer.validate import ValidRow, validate_file

#: The importer meets both sandbox profiles (documented and live), every test.
pytestmark = pytest.mark.usefixtures("sandbox_profile")


def row(source_row: int, course: int, order: int, title: str) -> ValidRow:
    payload = {
        "CourseId": course,
        "Title": title,
        "DisplayOrder": order,
        "UnlockType": 1,
        "UnlockAfterDays": 0,
    }
    return ValidRow(source_row, (course, order), payload)


def section(id_: int, order: int, title: str, course: int = 101) -> ServerSection:
    return ServerSection(id=id_, course_id=course, title=title, display_order=order)


def actions(plans: list) -> list[tuple[RowStatus, int | None]]:
    return [(p.kind.row_status, p.section_id) for p in plans]


def test_titles_compare_trimmed_nfc_and_casefolded() -> None:
    assert normalize_title("  Cafe\u0301 Basics ") == normalize_title("CAFÉ basics")
    assert normalize_title("Straße") == normalize_title("STRASSE")
    assert normalize_title("Intro") != normalize_title("Intro 2")


def test_each_action() -> None:
    valid = [
        row(2, 101, 1, "New one"),  # create
        row(3, 101, 2, "Café"),  # exists (NFD, spaces, case on the server)
        row(4, 101, 3, "Moved away"),  # moved: the title sits at order 9
        row(5, 101, 4, "Mine"),  # conflict: order 4 holds another title
        row(6, 101, 5, "Twice"),  # duplicate_exists: two matches at order 5
        row(7, 999, 1, "Nowhere"),  # course_not_found
    ]
    server = {
        101: [
            section(11, 2, " CAFE\u0301 "),
            section(12, 9, "moved away"),
            section(13, 4, "Theirs"),
            section(14, 5, "Twice"),
            section(15, 5, "twice"),
        ],
        999: None,
    }
    plans = classify(valid, server)
    assert actions(plans) == [
        (RowStatus.CREATE, None),
        (RowStatus.EXISTS, 11),
        (RowStatus.MOVED, 12),
        (RowStatus.CONFLICT, 13),
        (RowStatus.DUPLICATE_EXISTS, 14),
        (RowStatus.COURSE_NOT_FOUND, None),
    ]
    assert plans[2].server_display_order == 9
    assert plans[3].server_title == "Theirs" and "Theirs" in plans[3].reason


def test_a_title_claimed_by_its_own_row_does_not_make_another_row_moved() -> None:
    # The sheet has "Review" twice (a warning, not an error); the first is on the server.
    valid = [row(2, 101, 1, "Review"), row(3, 101, 5, "Review")]
    plans = classify(valid, {101: [section(21, 1, "Review")]})
    assert actions(plans) == [(RowStatus.EXISTS, 21), (RowStatus.CREATE, None)]


def test_two_sections_with_the_title_elsewhere_are_duplicate_exists() -> None:
    plans = classify(
        [row(2, 101, 1, "Intro")], {101: [section(31, 7, "Intro"), section(32, 8, "Intro")]}
    )
    assert actions(plans) == [(RowStatus.DUPLICATE_EXISTS, 31)]


def test_changed_since_import_needs_our_ledger_record_and_a_different_payload() -> None:
    edited = row(2, 101, 1, "Intro (edited)")
    same = row(3, 101, 2, "Second")
    server = {101: [section(41, 1, "Intro"), section(42, 2, "Second")]}

    def record(r: ValidRow, payload: dict, status: LedgerStatus, sid: int) -> LedgerRecord:
        return LedgerRecord(
            "u",
            r.key[0],
            r.key[1],
            payload_hash(payload),
            status,
            sid,
            1,
            1.0,
            1.0,
            "a.csv",
            r.source_row,
            None,
        )

    original = {**edited.payload, "Title": "Intro"}
    ledger = {
        edited.key: record(edited, original, LedgerStatus.CREATED, 41),
        same.key: record(same, same.payload, LedgerStatus.CREATED, 42),
    }
    plans = classify([edited, same], server, ledger)
    assert actions(plans) == [(RowStatus.CHANGED_SINCE_IMPORT, 41), (RowStatus.EXISTS, 42)]
    # Without our record the same edit is a plain conflict (someone else's section).
    assert classify([edited], server)[0].kind.row_status == RowStatus.CONFLICT
    # The same file (by name, wherever it lies) is an edit; another file's row is a conflict.
    same_file = classify([edited], server, ledger, source_file="/elsewhere/a.csv")
    assert same_file[0].kind.row_status == RowStatus.CHANGED_SINCE_IMPORT
    other = classify([edited], server, ledger, source_file="b.csv")[0]
    assert other.kind.row_status == RowStatus.CONFLICT
    assert "imported from a.csv" in other.reason and "Id 41" in other.reason


def test_plan_frame_is_in_input_order_with_invalid_rows() -> None:
    plans = classify([row(5, 101, 1, "B"), row(2, 101, 2, "A")], {101: []})
    frame = plan_frame(plans, [(3, None, 4, "bad")])
    assert tuple(frame.columns) == PLAN_COLUMNS
    assert frame["source_row"].tolist() == [2, 3, 5]
    assert frame["action"].tolist() == ["create", "invalid", "create"]
    assert str(frame["section_id"].dtype) == "Int64"


def test_plan_reads_each_course_once_and_never_writes(tmp_path: Path) -> None:
    data = rows(3, course=101) + rows(2, course=102) + [(999, 1, "No such course")]
    path = write_csv(tmp_path / "in.csv", data)
    with sandbox() as server:
        existing = seed_section(server.url, 101, 1, "Section 1")
        before = control(server.url, "stats")["requests"]
        result = run_job(settings(path, server.url, tmp_path, dry_run=True))
        after = control(server.url, "stats")["requests"]
        assert posts(server.url) == 1  # only the seeded one
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta["GET /api/content/courses/{id}"] == 3
    assert delta["GET /api/content/coursesections"] == 2  # 999 is never listed
    assert result.exit_code == 1  # course_not_found needs attention
    assert result.plan is not None
    assert result.plan["action"].tolist() == [
        "exists",
        "create",
        "create",
        "create",
        "create",
        "course_not_found",
    ]
    assert result.plan["section_id"].iloc[0] == existing
    assert result.report_dir is not None and (result.report_dir / "plan.csv").exists()
    assert not (tmp_path / "state").exists()  # a plan writes no state


def test_listing_reads_every_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checklist 20: the matching section is on page 3 of the listing; it is adopted."""
    monkeypatch.setattr(match_module, "LIST_PAGE_SIZE", 4)
    data = rows(12)
    path = write_csv(tmp_path / "in.csv", data)
    with sandbox() as server:
        for course, order, title in data[:10]:
            seed_section(server.url, course, order, title)
        result = run_job(settings(path, server.url, tmp_path))
        assert posts(server.url) == 12  # 10 seeded + 2 new: nothing posted twice
        pages = control(server.url, "stats")["requests"]["GET /api/content/coursesections"]
    assert result.exit_code == 0
    assert result.results["status"].tolist() == ["exists"] * 10 + ["created"] * 2
    assert pages >= 3


def test_trailing_spaces_and_nfd_accents_still_match_the_server(tmp_path: Path) -> None:
    """Checklist 22: the server stores trimmed NFC; the sheet has NFD and spaces."""
    path = write_csv(tmp_path / "in.csv", [(101, 1, "Cafe\u0301 basics  "), (101, 2, "ÉCOLE")])
    with sandbox() as server:
        first = seed_section(server.url, 101, 1, "Café basics")
        second = seed_section(server.url, 101, 2, "école")
        result = run_job(settings(path, server.url, tmp_path))
        assert posts(server.url) == 2  # the two seeds only
    assert result.exit_code == 0
    assert result.results["status"].tolist() == ["exists", "exists"]
    assert result.results["section_id"].tolist() == [first, second]


def test_plan_reads_the_ledger_to_report_changed_since_import(tmp_path: Path) -> None:
    """`sections plan` agrees with `sections import` on an edited row (it used to say
    `conflict`, because the plan never looked at the ledger), and still writes nothing."""
    path = write_csv(tmp_path / "in.csv", rows(2))
    with sandbox() as server:
        assert run_job(settings(path, server.url, tmp_path)).exit_code == 0
        write_csv(path, [(101, 1, "Section 1"), (101, 2, "Section 2 (renamed)")])
        ledger_file = tmp_path / "state" / "ledger.sqlite3"
        with sqlite3.connect(ledger_file) as db:  # fold the WAL in, so bytes compare
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = ledger_file.read_bytes()
        plan = run_job(settings(path, server.url, tmp_path, dry_run=True))
        assert ledger_file.read_bytes() == before  # the plan only reads the ledger
        imported = run_job(settings(path, server.url, tmp_path))
    assert plan.plan is not None
    assert plan.plan["action"].tolist() == ["exists", "changed_since_import"]
    assert imported.results["status"].tolist() == ["exists", "changed_since_import"]
    assert plan.exit_code == imported.exit_code == 1


def test_plan_without_a_ledger_creates_no_state(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", rows(1))
    with sandbox() as server:
        result = run_job(settings(path, server.url, tmp_path, dry_run=True))
    assert result.plan is not None and result.plan["action"].tolist() == ["create"]
    assert not (tmp_path / "state").exists()


def test_sequential_first_is_not_a_finding_in_a_course_that_already_has_sections(
    tmp_path: Path,
) -> None:
    """The sheet's first row of course 101 is Sequential: a warning for an empty course, but
    not where the server already holds sections it follows (checked at plan time)."""
    path = tmp_path / "more.csv"
    path.write_text(
        "Course ID,Section title,Display order,Unlock type\n"
        "101,Part two,5,Sequential\n102,Only,1,Sequential\n",
        encoding="utf-8",
    )
    with sandbox() as server:
        seed_section(server.url, 101, 1, "Part one")
        result = run_job(settings(path, server.url, tmp_path, dry_run=True))
    assert result.report_dir is not None
    summary = json.loads((result.report_dir / "summary.json").read_text("utf-8"))
    assert summary["findings"] == {"errors": 0, "warnings": 1}  # course 102's row only
    checked = validate_file(path).findings["rule"].tolist()
    assert checked.count("sequential_first") == 2  # offline, both are warned about


def test_a_page_size_clamped_to_100_still_classifies_all_250_sections(tmp_path: Path) -> None:
    """Issue 11: `--max-page-size 100 --page-size-overflow clamp` and 250 sections in a
    course: the plan reads every page, so each of the 250 rows is `exists`, the 5 new ones
    `create`."""
    data = rows(255)
    path = write_csv(tmp_path / "in.csv", data)
    with sandbox(max_page_size=100, page_size_overflow="clamp") as server:
        for course, order, title in data[:250]:
            seed_section(server.url, course, order, title)
        result = run_job(settings(path, server.url, tmp_path, dry_run=True))
    assert result.plan is not None
    counts = result.plan["action"].value_counts().to_dict()
    assert counts == {"exists": 250, "create": 5}


def test_the_provenance_stamp_finds_our_section_whatever_the_server_did_to_its_title() -> None:
    """Issue 12 item 2: a created section carries `sections:v1:...` as its SystemId; plan and
    reconcile recognise it by that even when the server shortened the title (313 -> 255)."""
    from dataclasses import replace

    from importer.engine.actions import WRITE_KINDS, ActionKind, create_action
    from importer.engine.match import STAMP_PREFIX

    long_title = "L" * 313
    mine = row(2, 101, 4, long_title)
    action = create_action(mine.source_row, mine.key, mine.payload)
    stamp = str(action.body["SystemId"])
    assert stamp.startswith(STAMP_PREFIX + "101:4:") and "SystemId" not in mine.payload
    assert action.request_hash == payload_hash(mine.payload)  # edits compare as before
    cut = replace(section(77, 4, long_title[:255]), system_id=stamp)
    assert actions(classify([mine], {101: [cut]})) == [(RowStatus.EXISTS, 77)]
    assert [s.id for s in WRITE_KINDS[ActionKind.CREATE].reconcile(action, [cut]).applied] == [77]
    # Without the stamp the shortened title would be someone else's section at our order.
    plain = section(78, 4, long_title[:255])
    assert actions(classify([mine], {101: [plain]})) == [(RowStatus.CONFLICT, 78)]
    # A row with a System ID of its own is sent with it, unstamped.
    own = ValidRow(3, (101, 5), {**mine.payload, "DisplayOrder": 5, "SystemId": "LMS-9"})
    assert create_action(own.source_row, own.key, own.payload).body["SystemId"] == "LMS-9"


def test_an_imported_section_carries_its_stamp_on_the_server(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", rows(2))
    with sandbox() as server:
        run_job(settings(path, server.url, tmp_path))
        stamps = sorted(str(s["SystemId"]) for s in control(server.url, "sections"))
    assert [s.rsplit(":", 1)[0] for s in stamps] == ["sections:v1:101:1", "sections:v1:101:2"]
