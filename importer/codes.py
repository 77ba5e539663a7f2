"""Stable codes: validation rules, row statuses and exit codes.

This module is the only place these lists are written. Tests, reports, docs and the CLI
refer to the members here; the string values are a public contract (they appear in JSON
output and reports) and never change once released.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from importer.errors import InputError


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Rule(StrEnum):
    """Rule codes carried by every finding (snake_case, stable)."""

    # --- errors: the row (or the file) cannot be imported as it is ---
    UNREADABLE_FILE = "unreadable_file"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    REQUIRED = "required"
    NOT_AN_INTEGER = "not_an_integer"
    NOT_A_BOOLEAN = "not_a_boolean"
    OUT_OF_RANGE = "out_of_range"
    INVALID_UNLOCK_TYPE = "invalid_unlock_type"
    TIMED_NEEDS_DAYS = "timed_needs_days"
    DISPLAY_ORDER_DUPLICATE = "display_order_duplicate"
    INVALID_THUMBNAIL_URL = "invalid_thumbnail_url"
    THUMBNAIL_CONFLICT = "thumbnail_conflict"
    FORMULA_WITHOUT_VALUE = "formula_without_value"
    THUMBNAIL_UNREACHABLE = "thumbnail_unreachable"
    THUMBNAIL_NOT_IMAGE = "thumbnail_not_image"
    THUMBNAIL_TOO_LARGE = "thumbnail_too_large"
    SYSTEM_ID_DUPLICATE = "system_id_duplicate"
    TEMPLATE_EXAMPLE = "template_example"
    # --- warnings: importable, but probably not what the person meant ---
    UNKNOWN_COLUMN = "unknown_column"
    DAYS_IGNORED = "days_ignored"
    SEQUENTIAL_FIRST = "sequential_first"
    DUPLICATE_TITLE = "duplicate_title"
    TIMED_ZERO_DAYS = "timed_zero_days"
    COURSE_NEEDS_SERVER = "course_needs_server"
    CELLS_OUTSIDE_TABLE = "cells_outside_table"
    MIXED_ENCODING = "mixed_encoding"
    OTHER_SHEET_HAS_ROWS = "other_sheet_has_rows"
    THUMBNAIL_TYPE_UNKNOWN = "thumbnail_type_unknown"


WARNING_RULES: frozenset[Rule] = frozenset(
    {
        Rule.UNKNOWN_COLUMN,
        Rule.DAYS_IGNORED,
        Rule.SEQUENTIAL_FIRST,
        Rule.DUPLICATE_TITLE,
        Rule.TIMED_ZERO_DAYS,
        Rule.COURSE_NEEDS_SERVER,
        Rule.CELLS_OUTSIDE_TABLE,
        Rule.MIXED_ENCODING,
        Rule.OTHER_SHEET_HAS_ROWS,
        Rule.THUMBNAIL_TYPE_UNKNOWN,
    }
)


def severity_of(rule: Rule) -> Severity:
    """Every rule has exactly one severity; warnings are the listed few."""
    return Severity.WARNING if rule in WARNING_RULES else Severity.ERROR


class RowStatus(StrEnum):
    """What happened (or will happen) to one input row. Used by plan, ledger and reports."""

    CREATE = "create"  # plan only: will be posted
    CREATED = "created"  # posted by this tool, Id known
    UPDATE = "update"  # plan only (--update): will be PUT with the row's values
    UPDATED = "updated"  # PUT by this tool (--update)
    EXISTS = "exists"  # already on the server with the same title at the same order
    MOVED = "moved"  # same title already in the course at another DisplayOrder
    CONFLICT = "conflict"  # DisplayOrder taken on the server by another title
    DUPLICATE_EXISTS = "duplicate_exists"  # two or more server sections match the row
    COURSE_NOT_FOUND = "course_not_found"
    COURSE_AMBIGUOUS = "course_ambiguous"  # the Course name belongs to two or more courses
    CHANGED_SINCE_IMPORT = "changed_since_import"  # imported before, spreadsheet edited since
    INVALID = "invalid"  # failed validation, never sent
    FAILED = "failed"  # rejected by the API (400 / WasSuccessful false)
    AMBIGUOUS = "ambiguous"  # sent, outcome unknown, not yet reconciled
    PENDING = "pending"  # not sent yet (run stopped early): rerun to continue
    # `sections undo`
    DELETE = "delete"  # undo plan: the run created it; will be deleted
    DELETED = "deleted"  # undo: deleted (or already gone)
    RESTORE = "restore"  # undo plan: the run updated it; will be put back
    RESTORED = "restored"  # undo: its values before the run are back
    EDITED_SINCE = "edited_since"  # undo: changed on the server after the run; left alone


#: Statuses that mean "this valid row is on the server".
DONE_STATUSES: frozenset[RowStatus] = frozenset(
    {RowStatus.CREATED, RowStatus.UPDATED, RowStatus.EXISTS}
)

#: Statuses of valid rows that the API refused or that need a person's decision (exit 1).
ATTENTION_STATUSES: frozenset[RowStatus] = frozenset(
    {
        RowStatus.FAILED,
        RowStatus.CONFLICT,
        RowStatus.MOVED,
        RowStatus.DUPLICATE_EXISTS,
        RowStatus.COURSE_NOT_FOUND,
        RowStatus.COURSE_AMBIGUOUS,
        RowStatus.CHANGED_SINCE_IMPORT,
        RowStatus.EDITED_SINCE,
    }
)

#: Statuses that need the person to fix the row (or decide): errors.csv lists exactly these.
NEEDS_FIX_STATUSES: frozenset[RowStatus] = ATTENTION_STATUSES | {RowStatus.INVALID}

#: Statuses of rows a stopped run left for the next run of the same command (exit 4).
UNFINISHED_STATUSES: frozenset[RowStatus] = frozenset({RowStatus.PENDING, RowStatus.AMBIGUOUS})


class ExitCode(IntEnum):
    """Process exit codes of every `sections` command (documented in the README)."""

    OK = 0  # every valid row is on the server (created now or already there)
    ROWS_FAILED = 1  # some rows failed at the API (or need attention: conflict, moved...)
    INVALID_INPUT = 2  # input invalid or unreadable, nothing sent
    CONFIG = 3  # configuration, authentication, permission or lock problem
    RESUMABLE = 4  # stopped early; run the same command again to continue
    INTERNAL = 5  # a bug: an unexpected error, details only in --log-file


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "every valid row is on the server (created now or already there)",
    ExitCode.ROWS_FAILED: "some rows failed at the API or need a decision (see errors.csv)",
    ExitCode.INVALID_INPUT: "the input is invalid or unreadable; nothing was sent",
    ExitCode.CONFIG: "configuration, authentication, permission or lock problem, or the API "
    "was never reached",
    ExitCode.RESUMABLE: "stopped early but resumable: run the same command again to continue",
    ExitCode.INTERNAL: "internal error (a bug): details in the --log-file; rows already sent are "
    "recorded in the ledger",
}

#: What exit 0 means for `sections plan` / `--dry-run`: nothing is sent, so the usual
#: "every valid row is on the server" would be untrue.
PLAN_OK_MEANING = "no row needs attention (plan only: nothing was sent)"


#: What exit 0 and 1 mean for `sections undo`.
UNDO_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "everything the run wrote is undone (or would be, with --dry-run)",
    ExitCode.ROWS_FAILED: "some sections were changed on the server after the run (left alone: "
    "--force undoes them) or the API refused an undo",
}


def exit_meaning(code: ExitCode, *, dry_run: bool = False, undo: bool = False) -> str:
    """The sentence printed (and shown in report.html) after "Exit N:"."""
    if undo and code in UNDO_MEANINGS:
        return UNDO_MEANINGS[code]
    if dry_run and code == ExitCode.OK:
        return PLAN_OK_MEANING
    return EXIT_CODE_MEANINGS[code]


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code of a "cannot continue" exception: unreadable input is 2, the rest 3
    (configuration, credentials, permissions, locks)."""
    return ExitCode.INVALID_INPUT if isinstance(error, InputError) else ExitCode.CONFIG
