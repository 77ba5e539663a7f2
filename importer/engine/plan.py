"""Plan: classify each valid row into an action, by reading the server (never writing).

The server is the truth. For each distinct course: one GET of the course (unknown course
-> its rows are `course_not_found`) and one full listing of its sections, or, for a sheet
over many courses, one paged listing of the account's courses and one of its sections
(whichever takes fewer requests: `fetch_server_state`). Every valid row
is then classified by match.py's rule (title key at the row's display order):

    none (exists)        a section with this title sits at this order: adopt its Id
    moved                the title sits at another order in the course: never posted
    conflict             the order is taken by another title: never posted
    duplicate_exists     two or more server sections match the row: never posted or deleted
    changed_since_import the ledger says we created it, but the row was edited since
    create               none of the above: will be posted

This listing is also the run's startup reconciliation (docs/reliability.md): a row the
ledger shows as sent but unanswered is `exists` if the server has it, and otherwise `create`
(the sender waits for the grace period before sending it again). `adoptions` decides which
of the sections found count as ours (`created`) and which were there before (`exists`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from importer.codes import Rule
from importer.engine.actions import Action, ActionKind, PlannedRow, create_action
from importer.engine.ledger import (
    UNRESOLVED,
    Key,
    LedgerRecord,
    LedgerStatus,
    Mark,
    payload_hash,
)
from importer.engine.match import (
    CourseSections,
    SectionSource,
    ServerSection,
    list_course,
    normalize_title,
    provenance_stamp,
    same_title_and_order,
)
from importer.engine.update import apply_update

__all__ = [
    "ServerSection",
    "ServerState",
    "adoptions",
    "classify",
    "fetch_server_state",
    "normalize_title",
]


#: Courses in a sheet from which reading the whole account may take fewer requests.
ACCOUNT_WIDE_FROM = 4
#: Page size asked for when listing the whole account (the client steps down if refused).
ACCOUNT_PAGE_SIZE = 1000


@dataclass
class ServerState:
    """What the server showed: course -> its sections, or None when the course is unknown."""

    sections: dict[int, list[ServerSection] | None] = field(default_factory=dict)
    course_names: dict[int, str] = field(default_factory=dict)  # for reports: "101 Onboarding"

    def add(
        self,
        client: SectionSource,
        course_id: int,
        course: Mapping[str, object] | None,
        sections: list[ServerSection],
        *,
        full: bool,
    ) -> None:
        """One course as read (None: it does not exist), its sections made whole if `full`."""
        if course is None:
            self.sections[course_id] = None
            return
        name = course.get("Title") or course.get("Name")
        if isinstance(name, str) and name.strip():
            self.course_names[course_id] = name.strip()
        self.sections[course_id] = _whole(client, sections) if full else sections


def unsettled_wait(
    server: ServerState,
    rows: Iterable[PlannedRow],
    known: Mapping[Key, LedgerRecord],
    *,
    window: float,
    now: float,
) -> float:
    """Seconds to wait before this listing can be trusted for courses the ledger knows nothing
    of (0: none). A section of one of our rows created less than `window` seconds ago there
    means a run of this sheet wrote recently without this ledger (a deleted state folder, a
    killed run): a POST it left in flight may still be stored, so wait it out and list again.
    """
    known_courses = {key[0] for key in known}
    newest = 0.0
    for row in rows:
        course, order = row.key
        sections = server.sections.get(course)
        if course in known_courses or not sections:
            continue
        for section in sections:
            created = section.created_at
            recent = created is not None and now - window < created <= now + window
            if recent and same_title_and_order(section, _title(row), order):
                newest = max(newest, created or 0.0)
    return max(0.0, newest + window - now) if newest else 0.0


def answered_findings(
    findings: pd.DataFrame, server: ServerState, course_of_row: Mapping[int, object]
) -> pd.DataFrame:
    """The validation findings without those the server answers: `sequential_first` is
    not a problem in a course that already has sections (the row follows them)."""
    if not len(findings):
        return findings
    filled = {course for course, sections in server.sections.items() if sections}
    answered = (findings["rule"] == str(Rule.SEQUENTIAL_FIRST)) & findings["source_row"].map(
        lambda row: course_of_row.get(row) in filled
    ).astype(bool)
    return findings[~answered].reset_index(drop=True)


def fetch_server_state(
    client: SectionSource, course_ids: Iterable[int], *, full: bool = False
) -> ServerState:
    """The courses' sections, read with as few requests as the sheet allows.

    Per course: one GET of the course and one listing of its sections (2 requests a course).
    When the sheet spans ACCOUNT_WIDE_FROM courses or more, one page of the account's
    sections is read first: if the whole account's sections take fewer pages than the
    per-course requests, the account's courses and sections are each read with one paged
    listing instead (a sheet over 500 courses: a handful of requests, not a thousand).
    `full` (--update): sections listed without all their fields (the live API leaves
    SectionContents out of lists) are read whole with batch reads, so an update's PUT and
    its before-image hold every field.
    """
    wanted = sorted(set(course_ids))
    if len(wanted) >= ACCOUNT_WIDE_FROM:
        head = client.first_page(None, size=ACCOUNT_PAGE_SIZE)
        size = int(head.get("PageSize") or 0) or len(head.get("Records") or ()) or 1
        pages = -(-int(head.get("TotalItems") or 0) // size)
        if 2 + pages < 2 * len(wanted):  # + the courses listing and this first page
            return _account_wide(client, wanted, full)
    state = ServerState()
    for course_id in wanted:
        course = client.get_course(course_id)
        listed = list_course(client, course_id) if course is not None else []
        state.add(client, course_id, course, listed, full=full)
    return state


def _account_wide(client: SectionSource, wanted: list[int], full: bool) -> ServerState:
    """Every course and every section of the account, one paged listing each."""
    state = ServerState()
    courses = {int(c["Id"]): c for c in client.list_courses() if c.get("Id") is not None}
    listed: dict[int, list[ServerSection]] = defaultdict(list)
    for record in client.list_sections(None, page_size=ACCOUNT_PAGE_SIZE):
        if record.get("CourseId") is not None and int(record["CourseId"]) in courses:
            listed[int(record["CourseId"])].append(ServerSection.from_record(record))
    for course_id in wanted:
        ordered = sorted(listed.get(course_id, []), key=lambda s: (s.display_order, s.id))
        state.add(client, course_id, courses.get(course_id), ordered, full=full)
    return state


def _whole(client: SectionSource, sections: list[ServerSection]) -> list[ServerSection]:
    """The sections, those listed without SectionContents read whole (batch reads)."""
    partial = [s.id for s in sections if "SectionContents" not in s.record]
    if not partial:
        return sections
    read = {int(r["Id"]): ServerSection.from_record(r) for r in client.get_sections(partial)}
    return [read.get(s.id, s) for s in sections]


def classify(
    rows: Sequence[PlannedRow],
    server: Mapping[int, Sequence[ServerSection] | None],
    ledger: Mapping[Key, LedgerRecord] | None = None,
    source_file: str | None = None,
    *,
    update: bool = False,
) -> list[Action]:
    """Decide every valid row against the server (and our ledger), in input order.

    `source_file`: the file being planned; a position the ledger knows from a file of
    another name is that file's section, not this row's (a `conflict`, not an edit).
    `update`: matched rows that differ become updates (importer.engine.update).
    Pure: no I/O, so it is unit-tested on plain data.
    """
    ledger = ledger or {}
    by_course: dict[int, list[PlannedRow]] = defaultdict(list)
    for row in rows:
        by_course[row.key[0]].append(row)
    decided: dict[int, Action] = {}
    for course_id, course_rows in by_course.items():
        sections = server.get(course_id)
        if sections is None:
            for row in course_rows:
                decided[row.source_row] = _decide(
                    row,
                    ActionKind.COURSE_NOT_FOUND,
                    reason=f"course {course_id} was not found: check the Course ID, or use "
                    "the Course column with the course's name",
                )
            continue
        source = Path(source_file).name if source_file else None
        for plan in _classify_course(course_rows, list(sections), ledger, source):
            decided[plan.source_row] = plan
    actions = [decided[row.source_row] for row in rows]
    return apply_update(actions, rows, server, ledger) if update else actions


def _title(row: PlannedRow) -> str:
    return str(row.payload.get("Title") or "")


def _classify_course(
    rows: list[PlannedRow],
    sections: list[ServerSection],
    ledger: Mapping[Key, LedgerRecord],
    source: str | None,
) -> list[Action]:
    course = CourseSections(sections)
    by_order, by_id = course.by_order, course.by_id
    # Server sections that some input row matches exactly (same order, same title) belong
    # to that row; only the others can make a row "moved".
    claimed: set[int] = set()
    stamped: dict[int, list[ServerSection]] = {}  # source_row -> sections with its stamp
    for row in rows:
        stamp = "" if row.payload.get("SystemId") else provenance_stamp(*row.key, _title(row))
        stamped[row.source_row] = list(course.by_system_id.get(stamp, ())) if stamp else []
        claimed.update(s.id for s in stamped[row.source_row])
        for section in by_order.get(row.key[1], ()):
            if same_title_and_order(section, _title(row), row.key[1]):
                claimed.add(section.id)
    by_title: dict[str, list[ServerSection]] = defaultdict(list)
    for section in sections:
        if section.id not in claimed:
            by_title[normalize_title(section.title)].append(section)

    plans: list[Action] = []
    for row in rows:
        order = row.key[1]
        title = normalize_title(_title(row))
        at_order = by_order.get(order, [])
        # Our stamp first: the server may have rewritten the title (e.g. cut it short).
        same = stamped[row.source_row] or [
            s for s in at_order if same_title_and_order(s, _title(row), order)
        ]
        elsewhere = by_title.get(title, [])
        record = ledger.get(row.key)
        ours = by_id.get(record.section_id) if record and record.section_id else None
        if (
            record is not None
            and record.status in (LedgerStatus.CREATED, LedgerStatus.UPDATED)
            and ours is not None
            and record.request_hash != payload_hash(row.payload)
        ):
            other_file = Path(record.source_file).name if record.source_file else None
            if source and other_file and other_file != source:
                plans.append(
                    _decide(
                        row,
                        ActionKind.CONFLICT,
                        ours,
                        reason=f"display order {order} holds '{ours.title}' (Id {ours.id}), "
                        f"imported from {other_file}, not from this file: give this row a free "
                        "Display order, or change that section in Nexudus",
                    )
                )
                continue
            plans.append(
                _decide(
                    row,
                    ActionKind.CHANGED_SINCE_IMPORT,
                    ours,
                    reason="this row was edited after it was imported; "
                    "change the section in Nexudus or restore the row",
                )
            )
        elif len(same) >= 2:
            ids = ", ".join(str(s.id) for s in same)
            plans.append(
                _decide(
                    row,
                    ActionKind.DUPLICATE_EXISTS,
                    same[0],
                    reason=f"{len(same)} sections already match this row "
                    f"(Ids {ids}); remove the extra ones in Nexudus",
                )
            )
        elif len(same) == 1:
            plans.append(_decide(row, ActionKind.NONE, same[0], reason="already on the server"))
        elif len(elsewhere) >= 2:
            ids = ", ".join(str(s.id) for s in elsewhere)
            plans.append(
                _decide(
                    row,
                    ActionKind.DUPLICATE_EXISTS,
                    elsewhere[0],
                    reason=f"{len(elsewhere)} sections with this title already "
                    f"exist at other orders (Ids {ids}): remove the extra ones in Nexudus, "
                    "or change the Title",
                )
            )
        elif len(elsewhere) == 1:
            there = elsewhere[0]
            plans.append(
                _decide(
                    row,
                    ActionKind.MOVED,
                    there,
                    reason=f"the section is at order {there.display_order} on the server "
                    f"(Id {there.id}): change Display order to {there.display_order}, or move "
                    "it in Nexudus",
                )
            )
        elif at_order:
            other = at_order[0]
            plans.append(
                _decide(
                    row,
                    ActionKind.CONFLICT,
                    other,
                    reason=f"display order {order} is taken by '{other.title}' (Id "
                    f"{other.id}): give this row a free Display order, or change or remove "
                    f"'{other.title}' in Nexudus",
                )
            )
        else:
            plans.append(create_action(row.source_row, row.key, row.payload))
    return plans


def _decide(
    row: PlannedRow, kind: ActionKind, section: ServerSection | None = None, reason: str = ""
) -> Action:
    """A decision that sends nothing (none, or one that needs a person)."""
    return Action(
        kind,
        row.source_row,
        row.key,
        _title(row),
        section_id=section.id if section else None,
        before={"Title": section.title, "DisplayOrder": section.display_order} if section else None,
        after=dict(row.payload),
        server_title=section.title if section else None,
        server_display_order=section.display_order if section else None,
        reason=reason,
        request_hash=payload_hash(row.payload),
    )


def adoptions(
    actions: Iterable[Action],
    known: Mapping[Key, LedgerRecord],
    *,
    source_file: str,
) -> list[Mark]:
    """Ledger marks for the rows found on the server (`none`): which sections are ours.

    A section counts as ours (`created`, or `updated`) when our ledger shows an unanswered
    write for the row (it landed), or says we wrote it from this very request; otherwise it
    was there before us (`exists`).
    """
    marks: list[Mark] = []
    for action in actions:
        if action.kind is not ActionKind.NONE:
            continue
        marks.append(
            Mark(
                action.key,
                _adopted_status(known.get(action.key), action.request_hash),
                request_hash=action.request_hash,
                section_id=action.section_id,
                source_file=source_file,
                source_row=action.source_row,
            )
        )
    return marks


def _adopted_status(previous: LedgerRecord | None, request_hash: str) -> LedgerStatus:
    if previous is None:
        return LedgerStatus.EXISTS
    if previous.status in UNRESOLVED:  # the write landed
        return LedgerStatus.UPDATED if previous.kind == "update" else LedgerStatus.CREATED
    ours = (LedgerStatus.CREATED, LedgerStatus.UPDATED)
    if previous.status in ours and previous.request_hash == request_hash:
        return previous.status
    return LedgerStatus.EXISTS
