"""Actions: what the plan decides for each row and the sender executes.

An `Action` is one row's decision: its kind, the request it implies (method, path, body),
the section it targets and the values it would change (before -> after). Only write kinds
carry a request; the others (`none`: already there; and the decisions that need a person)
are reported, never sent.

Each write kind has a `WriteKind` entry in `WRITE_KINDS`: how to execute its request with
the client, how to tell after an ambiguous answer whether it took effect, and the status it
leaves. create (POST), update (PUT, `--update`) and the two kinds of `sections undo` (delete:
DELETE; restore: PUT of the before-image) are four entries; scheduling, pacing, retry and the
ledger protocol are the same for all.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from importer.codes import RowStatus
from importer.engine.diff import changes, describe, restore_body, stored_values, update_body
from importer.engine.ledger import Key, payload_hash
from importer.engine.match import ServerSection, matches, provenance_stamp
from importer.errors import AlreadyGoneError

SECTIONS_PATH = "/api/content/coursesections"


class ActionKind(StrEnum):
    """What the plan decided for a row."""

    CREATE = "create"  # POST a new section
    UPDATE = "update"  # PUT the row's values over its section (--update)
    DELETE = "delete"  # undo a create: DELETE the section
    RESTORE = "restore"  # undo an update: PUT the section's before-image
    NONE = "none"  # already on the server: adopt its Id, send nothing
    MOVED = "moved"
    CONFLICT = "conflict"
    DUPLICATE_EXISTS = "duplicate_exists"
    CHANGED_SINCE_IMPORT = "changed_since_import"
    COURSE_NOT_FOUND = "course_not_found"
    COURSE_AMBIGUOUS = "course_ambiguous"
    INVALID = "invalid"
    EDITED_SINCE = "edited_since"  # undo: changed on the server after the run

    @property
    def row_status(self) -> RowStatus:
        """The status a row with this decision shows in the plan and results frames."""
        return RowStatus.EXISTS if self is ActionKind.NONE else RowStatus(self.value)


class PlannedRow(Protocol):
    """What planning needs of a valid row (importer.validate.ValidRow has it)."""

    @property
    def source_row(self) -> int: ...
    @property
    def key(self) -> Key: ...
    @property
    def payload(self) -> dict[str, object]: ...


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
    changes: str = ""  # the fields an update (or restore) changes, for people

    @property
    def is_write(self) -> bool:
        return self.kind in WRITE_KINDS

    @property
    def before_image(self) -> str | None:
        """`before` of a write that changes an existing section, as JSON (what undo restores)."""
        if self.before is None or self.kind is ActionKind.CREATE:
            return None
        return json.dumps(dict(self.before), default=str)

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


def update_action(
    source_row: int, key: Key, payload: Mapping[str, object], section: ServerSection
) -> Action | None:
    """The `update` of `section` to the row's values (None: nothing differs). The body is
    the section's full record with the row laid over it; its before-image is what undo puts
    back."""
    diff = changes(section.record, payload)
    if not diff:
        return None
    body = update_body(section.record, payload, section.id)
    return Action(
        ActionKind.UPDATE,
        source_row,
        key,
        str(payload.get("Title") or ""),
        request=Request("PUT", SECTIONS_PATH, body),
        section_id=section.id,
        before=stored_values(section.record),
        after=body,
        server_title=section.title,
        server_display_order=section.display_order,
        request_hash=payload_hash(payload),
        changes=describe(diff),
    )


def undo_action(
    kind: ActionKind,
    source_row: int,
    course_id: int,
    section_id: int,
    title: str,
    before: Mapping[str, object] | None = None,
) -> Action:
    """`delete` (undo a create) or `restore` (undo an update to `before`) of one section;
    keyed (course, section Id) in the undo's journal."""
    if kind is ActionKind.DELETE:
        request = Request("DELETE", f"{SECTIONS_PATH}/{section_id}", {})
    else:
        request = Request("PUT", SECTIONS_PATH, restore_body(before or {}, section_id))
    return Action(
        kind,
        source_row,
        (course_id, section_id),
        title,
        request=request,
        section_id=section_id,
        before=before,
    )


# -- executing and reconciling, per kind --------------------------------------------------------


class SectionWriter(Protocol):
    """The writes the sender makes (importer.client.NexudusClient has them)."""

    def create_section(self, payload: Mapping[str, Any]) -> int: ...
    def update_section(self, record: Mapping[str, Any]) -> dict[str, Any]: ...
    def delete_section(self, section_id: int) -> None: ...


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
    done: RowStatus  # the row's status once it took effect


def _execute_create(client: SectionWriter, action: Action) -> int:
    return client.create_section(action.body)


def _reconcile_create(action: Action, sections: Sequence[ServerSection]) -> Found:
    """A create took effect when a section matching the row is there (match.py's rule)."""
    stamp = str((action.after or {}).get("SystemId") or "")
    return Found(matches(sections, title=action.title, display_order=action.key[1], stamp=stamp))


def _execute_put(client: SectionWriter, action: Action) -> int:
    client.update_section(action.body)
    return int(action.section_id or 0)


def _reconcile_put(action: Action, sections: Sequence[ServerSection]) -> Found:
    """A PUT took effect when its section holds the values it sent (PUT is idempotent, so
    "not yet" is simply sent again)."""
    wanted = action.after if action.kind is ActionKind.UPDATE else action.before
    found = [s for s in sections if s.id == action.section_id]
    return Found([s for s in found if not changes(s.record, wanted or {})])


def _execute_delete(client: SectionWriter, action: Action) -> int:
    with contextlib.suppress(AlreadyGoneError):  # 404: already deleted (an earlier try)
        client.delete_section(int(action.section_id or 0))
    return int(action.section_id or 0)


def _reconcile_delete(action: Action, sections: Sequence[ServerSection]) -> Found:
    """A DELETE took effect when its section is no longer listed."""
    if any(s.id == action.section_id for s in sections):
        return Found([])
    return Found([ServerSection(int(action.section_id or 0), action.key[0], action.title, 0)])


#: Every write kind; the sender looks its kind up here and knows nothing else about it.
WRITE_KINDS: dict[ActionKind, WriteKind] = {
    ActionKind.CREATE: WriteKind(_execute_create, _reconcile_create, RowStatus.CREATED),
    ActionKind.UPDATE: WriteKind(_execute_put, _reconcile_put, RowStatus.UPDATED),
    ActionKind.DELETE: WriteKind(_execute_delete, _reconcile_delete, RowStatus.DELETED),
    ActionKind.RESTORE: WriteKind(_execute_put, _reconcile_put, RowStatus.RESTORED),
}
