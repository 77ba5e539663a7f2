"""What each row status means to a person and what to do about it: one table for the
report's pages and files (report.py, report_html.py) and the notebook."""

from __future__ import annotations

from importer.codes import RowStatus

#: Message for a row that needs fixing when neither the API nor validation gave one.
DEFAULT_MESSAGES: dict[RowStatus, str] = {
    RowStatus.FAILED: "The API rejected this row",
    RowStatus.INVALID: "This row did not pass validation",
    RowStatus.CONFLICT: "Another section already uses this Display order in the course; "
    "change the Display order (or the Title)",
    RowStatus.MOVED: "A section with this Title is already in the course at another Display "
    "order; fix the Display order or remove the row",
    RowStatus.DUPLICATE_EXISTS: "Two or more sections in Nexudus match this row; remove the "
    "extra ones in Nexudus or remove the row",
    RowStatus.COURSE_NOT_FOUND: "No course with this Course ID in Nexudus; check the Course "
    "ID, or use the Course column with the course's name",
    RowStatus.COURSE_AMBIGUOUS: "Two or more courses have this Course name; use the Course ID "
    "column",
    RowStatus.CHANGED_SINCE_IMPORT: "This row was imported before and has been edited since; "
    "import with --update to apply the edit, or restore the imported values",
    RowStatus.EDITED_SINCE: "Changed in Nexudus after the run; left alone (--force undoes it)",
}

#: The next step for the rows of one status, as the report's "What to do next" says it.
NEXT_STEPS: dict[RowStatus, str] = {
    RowStatus.INVALID: "Fix these rows in errors.csv (each has its reason in the Error "
    "column), then import errors.csv.",
    RowStatus.FAILED: "The API rejected these rows: fix them in errors.csv as the Error column "
    "says, then import errors.csv.",
    RowStatus.COURSE_NOT_FOUND: "Check the Course ID of these rows (or use the Course column "
    "with the course's name), then import errors.csv.",
    RowStatus.COURSE_AMBIGUOUS: "Their Course name belongs to more than one course: give "
    "them a Course ID (the Error column lists the candidates), then import errors.csv.",
    RowStatus.CONFLICT: "Their Display order is taken by another section: give each a free "
    "order, or change the other section in Nexudus.",
    RowStatus.MOVED: "These sections are already in the course at another order: change "
    "Display order to the server's, or import with --update to move them.",
    RowStatus.DUPLICATE_EXISTS: "Nexudus holds more than one section for these rows: delete "
    "the extra ones in Nexudus (the Error column lists their Ids).",
    RowStatus.CHANGED_SINCE_IMPORT: "These rows were edited after they were imported: import "
    "with --update to apply the edits (the plan shows each change), or restore the rows.",
    RowStatus.EDITED_SINCE: "These sections were changed in Nexudus after the run, so undo "
    "left them alone: check them, then run undo again with --force to put them back anyway.",
    RowStatus.PENDING: "Not sent yet: run the same command again to continue.",
    RowStatus.AMBIGUOUS: "The server's answer was unclear: run the same command again; it "
    "checks the server before sending anything twice.",
    RowStatus.CREATE: "Will be created when you import (this was a plan).",
    RowStatus.UPDATE: "Will be updated when you import with --update (the changes column "
    "shows each field).",
}
