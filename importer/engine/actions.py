"""Actions: what the plan decides for each row and the sender executes.

An `Action` is one row's decision: its kind, the request it implies (method, path, body),
the section it targets and the values it would change (before -> after). Only write kinds
carry a request; the others (`none`: already there; and the decisions that need a person)
are reported, never sent.

Each write kind has a `WriteKind` entry in `WRITE_KINDS`: how to execute its request with
the client and how to tell, after an ambiguous answer, whether it took effect. Adding a kind
(update: PUT, delete: DELETE) is one entry here; scheduling, pacing, retry and the ledger
protocol do not change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from importer.codes import RowStatus
from importer.engine.ledger import Key, payload_hash
from importer.engine.match import ServerSection, matches, provenance_stamp

SECTIONS_PATH = "/api/content/coursesections"


class ActionKind(StrEnum):
    """What the plan decided for a row."""

    CREATE = "create"  # POST a new section
    NONE = "none"  # already on the server: adopt its Id, send nothing
    MOVED = "moved"
    CONFLICT = "conflict"
    DUPLICATE_EXISTS = "duplicate_exists"
    CHANGED_SINCE_IMPORT = "changed_since_import"
    COURSE_NOT_FOUND = "course_not_found"
    INVALID = "invalid"

    @property
    def row_status(self) -> RowStatus:
        """The status a row with this decision shows in the plan and results frames."""
        return RowStatus.EXISTS if self is ActionKind.NONE else RowStatus(self.value)


@dataclass(frozen=True)
class Request:
    """The HTTP request an action implies."""

    method: str
    path: str
    body: Mapping[str, object]


@dataclass(frozen=True)
class Action:
    """One row's decision and, for write kinds, the request that carries it out."""

    kind: ActionKind
    source_row: int
    key: Key  # (CourseId, DisplayOrder)
    title: str
    request: Request | None = None
    section_id: int | None = None  # the section it targets (or the one found)
    before: Mapping[str, object] | None = None  # the section's values now (None: absent)
    after: Mapping[str, object] | None = None  # the values it will hold
    server_title: str | None = None
    server_display_order: int | None = None
    reason: str = ""
    request_hash: str = field(default="")  # hash of the body: detects edited rows

    @property
    def is_write(self) -> bool:
        return self.kind in WRITE_KINDS

    @property
    def before_image(self) -> str | None:
        """`before` as JSON, for the ledger (what an undo would restore)."""
        return None if self.before is None else json.dumps(dict(self.before), default=str)

    @property
    def body(self) -> dict[str, object]:
        return dict(self.request.body) if self.request is not None else {}


def create_action(source_row: int, key: Key, payload: Mapping[str, object]) -> Action:
    """The `create` action of a row: POST its payload, with the provenance stamp as its
    SystemId when the row has none (the hash is the row's, so edits compare as before)."""
    body = dict(payload)
    if not body.get("SystemId"):
        body["SystemId"] = provenance_stamp(key[0], key[1], body.get("Title"))
    return Action(
        ActionKind.CREATE,
        source_row,
        key,
        str(body.get("Title") or ""),
        request=Request("POST", SECTIONS_PATH, body),
        after=body,
        request_hash=payload_hash(payload),
    )


# -- executing and reconciling, per kind --------------------------------------------------------


class SectionWriter(Protocol):
    """The writes the sender makes (importer.client.NexudusClient has them)."""

    def create_section(self, payload: Mapping[str, Any]) -> int: ...


@dataclass(frozen=True)
class Found:
    """What a listing says about an action whose answer was lost.

    `applied`: the ids of the sections showing it took effect (one: adopt it; two or more:
    duplicates); empty: not applied (yet).
    """

    applied: Sequence[ServerSection]


@dataclass(frozen=True)
class WriteKind:
    """How one write kind is executed and reconciled."""

    execute: Callable[[SectionWriter, Action], int]  # returns the section's Id
    reconcile: Callable[[Action, Sequence[ServerSection]], Found]


def _execute_create(client: SectionWriter, action: Action) -> int:
    return client.create_section(action.body)


def _reconcile_create(action: Action, sections: Sequence[ServerSection]) -> Found:
    """A create took effect when a section matching the row is there (match.py's rule)."""
    stamp = str((action.after or {}).get("SystemId") or "")
    return Found(matches(sections, title=action.title, display_order=action.key[1], stamp=stamp))


#: Every write kind; the sender looks its kind up here and knows nothing else about it.
WRITE_KINDS: dict[ActionKind, WriteKind] = {
    ActionKind.CREATE: WriteKind(_execute_create, _reconcile_create),
}
