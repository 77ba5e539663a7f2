"""Plan: what would happen to each valid row, decided by reading the server (never writing).

The server is the truth. For each distinct course: one GET of the course (unknown course
-> its rows are `course_not_found`) and one full listing of its sections. Every valid row
is then classified by its key (CourseId, DisplayOrder) and its title, compared trimmed,
Unicode NFC and casefolded:

    exists               a section with this title sits at this order: adopt its Id
    moved                the title sits at another order in the course: never posted
    conflict             the order is taken by another title: never posted
    duplicate_exists     two or more server sections match the row: never posted or deleted
    changed_since_import the ledger says we created it, but the row was edited since
    create               none of the above: will be posted

This listing is also the run's startup reconciliation (reliability R4): a row the ledger
shows as sent but unanswered is `exists` if the server has it, and otherwise `create`
(the sender waits for the grace period before posting it again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from importer.codes import RowStatus
from importer.ledger import Key, LedgerRecord, LedgerStatus, payload_hash
from importer.schema import title_key

PLAN_COLUMNS: tuple[str, ...] = (
    "source_row",
    "course_id",
    "display_order",
    "title",
    "action",
    "section_id",
    "server_title",
    "server_display_order",
    "reason",
)

#: Page size asked for when listing a course's sections (the API documents no maximum).
LIST_PAGE_SIZE = 500


def normalize_title(title: object) -> str:
    """How two titles are compared: trimmed, then schema.title_key (the one rule, shared
    with validation's duplicate_title check)."""
    return title_key(str(title or "").strip())


class PlannedRow(Protocol):
    """What the plan needs of a valid row (importer.validate.ValidRow has it)."""

    @property
    def source_row(self) -> int: ...
    @property
    def key(self) -> Key: ...
    @property
    def payload(self) -> dict[str, object]: ...


class SectionSource(Protocol):
    """The reads the plan makes (importer.client.NexudusClient has them, both retried)."""

    def get_course(self, course_id: int) -> dict[str, Any] | None: ...
    def list_sections(self, course_id: int, *, page_size: int = ...) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class ServerSection:
    """The fields of a listed section that the plan needs."""

    id: int
    course_id: int
    title: str
    display_order: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ServerSection:
        return cls(
            id=int(record["Id"]),
            course_id=int(record["CourseId"]),
            title=str(record.get("Title") or ""),
            display_order=int(record["DisplayOrder"]),
        )


@dataclass(frozen=True)
class RowPlan:
    """The decision for one valid row."""

    source_row: int
    key: Key
    title: str
    action: RowStatus
    section_id: int | None = None
    server_title: str | None = None
    server_display_order: int | None = None
    reason: str = ""


@dataclass
class ServerState:
    """What the server showed: course -> its sections, or None when the course is unknown."""

    sections: dict[int, list[ServerSection] | None] = field(default_factory=dict)


def fetch_server_state(client: SectionSource, course_ids: Iterable[int]) -> ServerState:
    """GET each distinct course once, then list its sections once (all pages)."""
    state = ServerState()
    for course_id in sorted(set(course_ids)):
        if client.get_course(course_id) is None:
            state.sections[course_id] = None
            continue
        records = client.list_sections(course_id, page_size=LIST_PAGE_SIZE)
        state.sections[course_id] = [ServerSection.from_record(r) for r in records]
    return state


def classify(
    rows: Sequence[PlannedRow],
    server: Mapping[int, Sequence[ServerSection] | None],
    ledger: Mapping[Key, LedgerRecord] | None = None,
) -> list[RowPlan]:
    """Decide every valid row against the server (and our ledger), in input order.

    Pure: no I/O, so it is unit-tested on plain data.
    """
    ledger = ledger or {}
    by_course: dict[int, list[PlannedRow]] = defaultdict(list)
    for row in rows:
        by_course[row.key[0]].append(row)
    decided: dict[int, RowPlan] = {}
    for course_id, course_rows in by_course.items():
        sections = server.get(course_id)
        if sections is None:
            for row in course_rows:
                decided[row.source_row] = _plan(
                    row, RowStatus.COURSE_NOT_FOUND, reason=f"course {course_id} was not found"
                )
            continue
        for plan in _classify_course(course_rows, list(sections), ledger):
            decided[plan.source_row] = plan
    return [decided[row.source_row] for row in rows]


def _title(row: PlannedRow) -> str:
    return str(row.payload.get("Title") or "")


def _classify_course(
    rows: list[PlannedRow], sections: list[ServerSection], ledger: Mapping[Key, LedgerRecord]
) -> list[RowPlan]:
    by_order: dict[int, list[ServerSection]] = defaultdict(list)
    by_id = {section.id: section for section in sections}
    for section in sections:
        by_order[section.display_order].append(section)
    # Server sections that some input row matches exactly (same order, same title) belong
    # to that row; only the others can make a row "moved".
    claimed: set[int] = set()
    for row in rows:
        title = normalize_title(_title(row))
        for section in by_order.get(row.key[1], ()):
            if normalize_title(section.title) == title:
                claimed.add(section.id)
    by_title: dict[str, list[ServerSection]] = defaultdict(list)
    for section in sections:
        if section.id not in claimed:
            by_title[normalize_title(section.title)].append(section)

    plans = []
    for row in rows:
        order = row.key[1]
        title = normalize_title(_title(row))
        at_order = by_order.get(order, [])
        same = [s for s in at_order if normalize_title(s.title) == title]
        elsewhere = by_title.get(title, [])
        record = ledger.get(row.key)
        ours = by_id.get(record.section_id) if record and record.section_id else None
        if (
            record is not None
            and record.status == LedgerStatus.CREATED
            and ours is not None
            and record.payload_hash != payload_hash(row.payload)
        ):
            plans.append(
                _plan(
                    row,
                    RowStatus.CHANGED_SINCE_IMPORT,
                    ours,
                    reason="this row was edited after it was imported; "
                    "change the section in Nexudus or restore the row",
                )
            )
        elif len(same) >= 2:
            ids = ", ".join(str(s.id) for s in same)
            plans.append(
                _plan(
                    row,
                    RowStatus.DUPLICATE_EXISTS,
                    same[0],
                    reason=f"{len(same)} sections already match this row "
                    f"(Ids {ids}); remove the extra ones in Nexudus",
                )
            )
        elif len(same) == 1:
            plans.append(_plan(row, RowStatus.EXISTS, same[0], reason="already on the server"))
        elif len(elsewhere) >= 2:
            ids = ", ".join(str(s.id) for s in elsewhere)
            plans.append(
                _plan(
                    row,
                    RowStatus.DUPLICATE_EXISTS,
                    elsewhere[0],
                    reason=f"{len(elsewhere)} sections with this title already "
                    f"exist at other orders (Ids {ids})",
                )
            )
        elif len(elsewhere) == 1:
            there = elsewhere[0]
            plans.append(
                _plan(
                    row,
                    RowStatus.MOVED,
                    there,
                    reason=f"a section with this title is at display order "
                    f"{there.display_order} (Id {there.id})",
                )
            )
        elif at_order:
            other = at_order[0]
            plans.append(
                _plan(
                    row,
                    RowStatus.CONFLICT,
                    other,
                    reason=f"display order {order} is taken by '{other.title}' (Id {other.id})",
                )
            )
        else:
            plans.append(_plan(row, RowStatus.CREATE))
    return plans


def _plan(
    row: PlannedRow, action: RowStatus, section: ServerSection | None = None, reason: str = ""
) -> RowPlan:
    return RowPlan(
        source_row=row.source_row,
        key=row.key,
        title=_title(row),
        action=action,
        section_id=section.id if section else None,
        server_title=section.title if section else None,
        server_display_order=section.display_order if section else None,
        reason=reason,
    )


def plan_frame(
    plans: Iterable[RowPlan], invalid: Iterable[tuple[int, object, object, object]] = ()
) -> pd.DataFrame:
    """The plan frame (ARCHITECTURE.md): one row per input row, in input (source_row) order.

    `invalid`: (source_row, course_id, display_order, title) of rows that failed validation.
    """
    records: list[dict[str, object]] = [
        {
            "source_row": p.source_row,
            "course_id": p.key[0],
            "display_order": p.key[1],
            "title": p.title,
            "action": p.action.value,
            "section_id": p.section_id,
            "server_title": p.server_title,
            "server_display_order": p.server_display_order,
            "reason": p.reason,
        }
        for p in plans
    ]
    for source_row, course_id, order, title in invalid:
        records.append(
            {
                "source_row": source_row,
                "course_id": course_id,
                "display_order": order,
                "title": title,
                "action": RowStatus.INVALID.value,
                "section_id": None,
                "server_title": None,
                "server_display_order": None,
                "reason": "failed validation (see the findings)",
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(PLAN_COLUMNS))
    frame = frame.sort_values("source_row", kind="stable").reset_index(drop=True)
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in (
        "source_row",
        "course_id",
        "display_order",
        "section_id",
        "server_display_order",
    ):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in ("title", "action", "server_title", "reason"):
        frame[column] = frame[column].astype("string")
    return frame
