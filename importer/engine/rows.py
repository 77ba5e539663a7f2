"""Rows: one typed state per input row, from plan to report, and the frames built from it.

`RowState` is what the run knows of one row (its decision, then its outcome); the results
frame is built from the states and the plan frame from the actions, both in input order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

from importer.codes import RowStatus
from importer.engine.actions import Action, ActionKind
from importer.engine.ledger import Key

RESULT_COLUMNS: tuple[str, ...] = (
    "source_row",
    "course_id",
    "display_order",
    "title",
    "status",
    "section_id",
    "http_status",
    "attempts",
    "errors",
    "changes",
)

#: (source_row, course_id, display_order, title) of a row that failed validation.
InvalidRow = tuple[int, object, object, object]


@dataclass
class RowOutcome:
    """What this run did with one row (the sender's report; see RowState)."""

    source_row: int
    key: Key
    title: str
    status: RowStatus
    section_id: int | None = None
    http_status: int | None = None
    attempts: int = 0  # requests sent in this run
    errors: str = ""


@dataclass
class RowState:
    """One input row's line of the results frame."""

    source_row: int
    course_id: object
    display_order: object
    title: object
    status: RowStatus
    section_id: int | None = None
    http_status: int | None = None
    attempts: int = 0  # sends of this row in this run
    errors: str = ""
    changes: str = ""  # what an update changes: 'Title: "A" → "B"; DisplayOrder: 2 → 3'

    @classmethod
    def invalid(cls, row: InvalidRow) -> RowState:
        source_row, course_id, order, title = row
        return cls(
            source_row, course_id, order, title, RowStatus.INVALID, errors="failed validation"
        )


def results_frame(states: Iterable[RowState]) -> pd.DataFrame:
    """The results frame (ARCHITECTURE.md), in source_row order."""
    records = [{**asdict(s), "status": s.status.value} for s in states]
    frame = pd.DataFrame.from_records(records, columns=list(RESULT_COLUMNS))
    frame = frame.sort_values("source_row", kind="stable").reset_index(drop=True)
    for column in ("source_row", "course_id", "display_order", "section_id", "http_status"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    frame["attempts"] = pd.to_numeric(frame["attempts"], errors="coerce").fillna(0).astype(int)
    for column in ("title", "status", "errors", "changes"):
        frame[column] = frame[column].fillna("").astype("string")
    return frame


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
    "changes",
)


def plan_frame(plans: Iterable[Action], invalid: Iterable[InvalidRow] = ()) -> pd.DataFrame:
    """The plan frame (ARCHITECTURE.md): one row per input row, in input (source_row) order.

    `invalid`: (source_row, course_id, display_order, title) of rows that failed validation.
    """
    records: list[dict[str, object]] = [
        {
            "source_row": p.source_row,
            "course_id": p.key[0],
            "display_order": p.key[1],
            "title": p.title,
            "action": p.kind.row_status.value,
            "section_id": p.section_id,
            "server_title": p.server_title,
            "server_display_order": p.server_display_order,
            "reason": p.reason,
            "changes": p.changes,
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
                "action": ActionKind.INVALID.value,
                "section_id": None,
                "server_title": None,
                "server_display_order": None,
                "reason": "failed validation (see the findings)",
                "changes": "",
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
    for column in ("title", "action", "server_title", "reason", "changes"):
        frame[column] = frame[column].astype("string")
    return frame
