"""`--update`: bring the sections the sheet already matches in line with it.

Runs after plan.classify has decided every row as for a plain import. Each row is matched
to a server section by the first key that applies:

1. its `Section Id` cell (a Section Id that is not in the row's course is a `conflict`);
2. its own System ID (two server sections with it: `duplicate_exists`);
   then the section an earlier update of this very row (same values) targeted, per the
   ledger: an update run cut short is finished on the same sections;
3. the plain import's match: the section found at its order (`exists`), the same title at
   another order (`moved`, also when the ledger says the row was edited since its import: a
   swap), or the section our ledger created for it (`changed_since_import`).

A matched row whose values differ becomes an `update` (a PUT of the section's record with
the row laid over it, see diff.py); one that does not stays `exists`. A section matched by
two rows is a `conflict` for both, and so is a move to an order that a section no row moves
holds. A `conflict` row whose order is held only by sections
other rows move away becomes a `create`. Every other decision is left as it was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace

from importer.engine.actions import (
    Action,
    ActionKind,
    PlannedRow,
    create_action,
    update_action,
)
from importer.engine.ledger import Key, LedgerRecord, payload_hash
from importer.engine.match import (
    CourseSections,
    ServerSection,
    normalize_title,
    same_title_and_order,
)

#: Plain decisions that name the row's own section (`section_id`).
MATCHED = frozenset({ActionKind.NONE, ActionKind.MOVED, ActionKind.CHANGED_SINCE_IMPORT})


def apply_update(
    actions: Sequence[Action],
    rows: Sequence[PlannedRow],
    server: Mapping[int, Sequence[ServerSection] | None],
    ledger: Mapping[Key, LedgerRecord],
) -> list[Action]:
    """The plan with `--update`: the same actions, matched rows turned into updates."""
    by_row = {row.source_row: row for row in rows}
    index = {
        course: CourseSections(sections)
        for course, sections in server.items()
        if sections is not None
    }
    exact = {  # sections some row matches by title at its own order
        s.id
        for row in rows
        if row.key[0] in index
        for s in index[row.key[0]].by_order.get(row.key[1], ())
        if same_title_and_order(s, row.payload.get("Title"), row.key[1])
    }
    targets: dict[int, ServerSection] = {}  # source_row -> the section it matches
    decided: dict[int, Action] = {}
    for action in actions:
        row = by_row[action.source_row]
        course = index.get(row.key[0])
        if course is None:
            continue
        target, refusal = _target(action, row, course, exact, ledger.get(row.key))
        if refusal is not None:
            decided[row.source_row] = refusal
        elif target is not None:
            targets[row.source_row] = target
    rows_of: dict[int, list[int]] = defaultdict(list)
    for source_row, section in targets.items():
        rows_of[section.id].append(source_row)
    moving_away = {
        section.id
        for source_row, section in targets.items()
        if section.display_order != by_row[source_row].key[1]
    }
    out: list[Action] = []
    for action in actions:
        row = by_row[action.source_row]
        course_id, order = row.key
        at_order = index[course_id].by_order.get(order, []) if course_id in index else []
        staying = [s for s in at_order if s.id not in moving_away]  # no row moves them away
        if action.source_row in decided:
            out.append(decided[action.source_row])
        elif action.source_row in targets:
            section = targets[action.source_row]
            # Only a move can clash with a section that stays at the new order.
            held = [s for s in staying if s.id != section.id and section.display_order != order]
            out.append(_matched(action, row, section, rows_of, held))
        elif action.kind is ActionKind.CONFLICT and at_order and not staying:
            out.append(create_action(row.source_row, row.key, row.payload))  # order freed
        else:
            out.append(action)
    return out


def _target(
    action: Action,
    row: PlannedRow,
    course: CourseSections,
    exact: set[int],
    record: LedgerRecord | None,
) -> tuple[ServerSection | None, Action | None]:
    """The row's section by the first key that applies, or the decision refusing it.

    A row edited since its import whose title is found once elsewhere in the course (and
    not on another row's order) is that section moved, not the one at its position: two
    swapped rows are two moves, not two rewrites."""
    by_id = course.by_id
    given: int | None = getattr(row, "section_id", None)  # the Section Id cell, if any
    if given is not None:
        found = by_id.get(given)
        if found is None:
            return None, _refused(
                action,
                ActionKind.CONFLICT,
                f"Section Id {given} is not a section of course {row.key[0]}: "
                "clear the Section Id cell to match by title, or correct it",
            )
        return found, None
    system_id = str(row.payload.get("SystemId") or "")
    if system_id:
        same = course.by_system_id.get(system_id, [])
        if len(same) >= 2:
            ids = ", ".join(str(s.id) for s in same)
            return None, _refused(
                action,
                ActionKind.DUPLICATE_EXISTS,
                f"{len(same)} sections carry System ID {system_id!r} (Ids {ids}); "
                "remove the extra ones in Nexudus",
            )
        if same:
            return same[0], None
    # This very row (same values) was an update before, maybe cut short: the same section.
    if (
        record is not None
        and record.kind == ActionKind.UPDATE.value
        and record.request_hash == payload_hash(row.payload)
        and record.section_id in by_id
    ):
        return by_id[record.section_id], None
    if action.kind is ActionKind.CHANGED_SINCE_IMPORT:
        titled = course.by_title.get(normalize_title(row.payload.get("Title")), [])
        moved = [s for s in titled if s.id not in exact]
        if len(moved) == 1:
            return moved[0], None
    if action.kind in MATCHED and action.section_id in by_id:
        return by_id[action.section_id], None
    return None, None


def _matched(
    action: Action,
    row: PlannedRow,
    section: ServerSection,
    rows_of: Mapping[int, list[int]],
    held: Sequence[ServerSection],
) -> Action:
    """The matched row's update (or `exists`); `held`: sections that stay at its order."""
    if held:
        other = held[0]
        return _refused(
            replace(action, section_id=other.id, server_title=other.title),
            ActionKind.CONFLICT,
            f"display order {row.key[1]} is taken by '{other.title}' (Id {other.id}), which "
            "no row of this sheet moves: give this row a free Display order, or move "
            f"'{other.title}' too",
        )
    others = [r for r in rows_of[section.id] if r != row.source_row]
    if others:
        return _refused(
            action,
            ActionKind.CONFLICT,
            f"rows {', '.join(str(r) for r in sorted([row.source_row, *others]))} all match "
            f"section {section.id} ('{section.title}'): keep one of them",
        )
    update = update_action(row.source_row, row.key, row.payload, section)
    if update is not None:
        return update
    return replace(
        action,
        kind=ActionKind.NONE,
        section_id=section.id,
        server_title=section.title,
        server_display_order=section.display_order,
        reason="already on the server, unchanged",
    )


def _refused(action: Action, kind: ActionKind, reason: str) -> Action:
    return replace(action, kind=kind, request=None, reason=reason, changes="")
