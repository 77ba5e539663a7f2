"""Verify after writing: the server holds each row we wrote exactly once.

The exactly-once protocol keeps *this tool* from posting twice, but not a person, another
machine or another tool posting the same section meanwhile. So after the last write each
course written to is listed once more, and a row whose section now appears more than once
becomes `duplicate_exists` naming every Id: the run exits 1, never 0 beside a duplicate.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from importer.codes import DONE_STATUSES, RowStatus
from importer.engine.match import SectionSource, list_course, same_title_and_order
from importer.engine.rows import RowState
from importer.errors import ImporterError
from importer.pacing import Cancelled

logger = logging.getLogger(__name__)


def verify_after_write(client: SectionSource, states: Iterable[RowState]) -> bool:
    """List each course a row was sent to in this run (once) and mark duplicated rows.

    Returns False when a listing failed (the run's result then stands unverified).
    """
    written: set[object] = set()
    done: dict[object, list[RowState]] = defaultdict(list)
    for state in states:
        if state.attempts > 0:
            written.add(state.course_id)
        if state.status in DONE_STATUSES:
            done[state.course_id].append(state)
    verified = True
    for course in sorted(written, key=str):
        if not isinstance(course, int):
            continue
        try:
            sections = list_course(client, course)
        except (ImporterError, Cancelled) as exc:
            logger.warning("could not verify course %s after writing (%s)", course, exc)
            verified = False
            continue
        for state in done[course]:
            if not isinstance(state.display_order, int):
                continue
            found = [
                s for s in sections if same_title_and_order(s, state.title, state.display_order)
            ]
            if len(found) < 2:
                continue
            ids = ", ".join(str(s.id) for s in sorted(found, key=lambda s: s.id))
            ours = f"; ours is {state.section_id}" if state.section_id else ""
            state.status = RowStatus.DUPLICATE_EXISTS
            state.errors = (
                f"after the import the server holds {len(found)} sections for this row (Ids "
                f"{ids}){ours}: delete the extra ones in Nexudus"
            )
    return verified
