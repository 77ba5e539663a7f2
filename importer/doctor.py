"""`sections doctor`: check an account before a migration, and measure how its API behaves.

Read-only by default: reachability and TLS, the token grant, the roles an import needs (the
create role is asked for safely with an empty POST, which the API refuses as invalid and
never stores), paging, list and record shapes, and the courses an input file would touch.
`write_probe` adds four writes on one probe section (importer.doctor_probe) to learn PUT
semantics, `Value`'s shape and POST defaults.

The answers are written as a profile (`doctor.json`: the sandbox's profile-file format, never
credentials) that `sections sandbox --profile-file` replays, so a migration can be rehearsed
against a local copy that behaves like its target.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.client import NexudusClient
from importer.clock import utc_iso
from importer.codes import ExitCode
from importer.credentials import safe_url
from importer.engine.connect import connect
from importer.engine.settings import JobSettings
from importer.errors import AmbiguousError, AuthError, ImporterError, RejectedError, TlsError
from importer.safe_io import atomic_write_text

OK, WARNING, PROBLEM = "ok", "warning", "problem"
#: The page size doctor asks for, to learn the largest one the server honours.
ASKED_PAGE_SIZE = 5000
#: Pages smaller than this make planning a large account slow: a warning (exit 1).
SMALL_PAGE = 100
DOCTOR_FILE = "doctor.json"

#: What the published documentation says, for the summary table (nexudus-api.md).
DOCUMENTED: dict[str, object] = {
    "token_ttl": 3600,
    "max_page_size": 0,
    "list_fields": "full",
    "timestamp_decimals": 0,
    "value_shape": "id",
    "default_active": True,
    "put_semantics": "merge",
}
#: What public clients of live accounts saw ("What live clients see").
LIVE_CLIENTS: dict[str, object] = {
    "token_ttl": 3600,
    "max_page_size": 1000,
    "list_fields": "partial",
    "timestamp_decimals": 7,
    "value_shape": "record",
    "default_active": False,
    "put_semantics": "strict",
}


@dataclass
class Check:
    """One line of the doctor's answer: what was checked, how it went, what to do."""

    name: str
    level: str  # ok | warning | problem
    text: str


@dataclass
class DoctorResult:
    checks: list[Check]
    answers: dict[str, object]  # sandbox option name -> the value this account showed
    observed: dict[str, object]  # free-form facts (statuses, Ids, the base URL)
    path: Path | None  # doctor.json, when written

    @property
    def exit_code(self) -> ExitCode:
        levels = {check.level for check in self.checks}
        if PROBLEM in levels:
            return ExitCode.CONFIG
        return ExitCode.ROWS_FAILED if WARNING in levels else ExitCode.OK


@dataclass
class _Doctor:
    client: NexudusClient
    checks: list[Check] = field(default_factory=list)
    answers: dict[str, object] = field(default_factory=dict)
    observed: dict[str, object] = field(default_factory=dict)

    def add(self, name: str, level: str, text: str) -> None:
        self.checks.append(Check(name, level, text))

    @property
    def blocked(self) -> bool:
        return any(check.level == PROBLEM for check in self.checks)


def run_doctor(
    settings: JobSettings,
    *,
    input_file: Path | None = None,
    write_probe: bool = False,
    course: int | None = None,
    output: Path | None = None,
) -> DoctorResult:
    """Check the account `settings` points at; write doctor.json to `output` (if given)."""
    url = settings.target.api_url
    with connect(settings).client as client:
        doctor = _Doctor(client)
        doctor.observed.update(api_url=safe_url(url), checked_at=utc_iso())
        _reach_and_read(doctor, url)
        if not doctor.blocked:
            _create_role(doctor)
            _paging(doctor)
        if not doctor.blocked:
            from importer.doctor_probe import clean_up

            clean_up(doctor, settings)  # what an interrupted probe left, every run
        if not doctor.blocked and input_file is not None:
            _input_courses(doctor, input_file)
        if not doctor.blocked and write_probe:
            from importer.doctor_probe import run_probe

            run_probe(doctor, settings, course)
    path = None
    if output is not None and not doctor.blocked:  # a partial profile would replay wrongly
        atomic_write_text(output, json.dumps(_profile(doctor), indent=2, sort_keys=True) + "\n")
        path = output
    return DoctorResult(doctor.checks, doctor.answers, doctor.observed, path)


def _profile(doctor: _Doctor) -> dict[str, object]:
    """The profile-file object: measured behaviour under "sandbox", the rest "observed"."""
    return {"sandbox": dict(sorted(doctor.answers.items())), "observed": doctor.observed}


def _reach_and_read(doctor: _Doctor, url: str) -> None:
    """The first request gets a token and reads one page: reachability, TLS, credentials
    and the list role in one go, each failure named."""
    try:
        page = doctor.client.first_page(None, size=1)
    except TlsError as exc:
        doctor.add("reach", PROBLEM, str(exc))
        return
    except AuthError as exc:
        doctor.add("credentials", PROBLEM, str(exc))
        return
    except ImporterError as exc:
        if doctor.client.stats.answered == 0:
            doctor.add("reach", PROBLEM, f"could not reach {url} ({exc}): check --api-url")
        else:
            doctor.add("read", PROBLEM, f"reading sections failed: {exc}")
        return
    doctor.add("reach", OK, f"{safe_url(url)} answered")
    lifetime = doctor.client.token_lifetime
    who = doctor.client.credentials.describe()
    if lifetime is not None:
        doctor.answers["token_ttl"] = lifetime
        doctor.add("token", OK, f"{who}: token granted for {lifetime} s (refreshed on expiry)")
    else:
        doctor.add("token", OK, f"{who}: accepted")
    doctor.add("list role", OK, "sections can be listed")
    records = page.get("Records") or []
    doctor.observed["list_envelope"] = sorted(k for k in page if k != "Records")
    doctor.observed["sections_total"] = page.get("TotalItems")
    try:
        courses = doctor.client.list_courses(page_size=500)
    except AuthError as exc:
        doctor.add("course role", PROBLEM, str(exc))
        return
    doctor.add("course role", OK, f"{len(courses)} course(s) readable")
    if records:
        _shapes(doctor, records[0])


def _shapes(doctor: _Doctor, listed: dict[str, Any]) -> None:
    """Timestamps, Ids and whether list records are full, from one existing section."""
    try:
        full = doctor.client.get_section(int(listed["Id"]))
    except AuthError as exc:
        doctor.add("read role", PROBLEM, str(exc))
        return
    doctor.add("read role", OK, "a section can be read by Id")
    if full is None:
        return
    record_shapes(doctor, listed, full)


def record_shapes(doctor: _Doctor, listed: dict[str, Any], full: dict[str, Any]) -> None:
    """list_fields, timestamp_decimals and the Id seen, from a listed and a full record."""
    missing = sorted(set(full) - set(listed))
    doctor.answers["list_fields"] = "partial" if "SectionContents" in missing else "full"
    doctor.observed["list_record_leaves_out"] = missing
    created = str(full.get("CreatedOn") or "")
    found = re.search(r"\.(\d+)", created)
    doctor.answers["timestamp_decimals"] = len(found.group(1)) if found else 0
    doctor.observed["timestamp_example"] = created
    doctor.observed["largest_id_seen"] = max(
        int(full.get("Id") or 0), int(str(doctor.observed.get("largest_id_seen") or 0))
    )


def _create_role(doctor: _Doctor) -> None:
    """Ask for the create role without creating anything: an empty POST is refused as
    invalid (400) by an account that may create, and 401/403 by one that may not."""
    try:
        doctor.client.create_section_value({})
    except AuthError as exc:
        doctor.add("create role", PROBLEM, str(exc))
        return
    except (RejectedError, AmbiguousError):
        doctor.add(
            "create role",
            OK,
            "the account may create sections (an empty POST was refused as invalid)",
        )
        return
    except ImporterError as exc:
        doctor.add("create role", WARNING, f"could not tell ({exc})")
        return
    doctor.add("create role", WARNING, "the API accepted an empty POST: check for a blank section")


def _paging(doctor: _Doctor) -> None:
    """Ask for ASKED_PAGE_SIZE records: the server's answer says how many pages hold."""
    try:
        page = doctor.client.first_page(None, size=ASKED_PAGE_SIZE)
    except RejectedError as exc:
        doctor.answers["page_size_overflow"] = "reject"
        doctor.add(
            "paging",
            WARNING,
            f"page size {ASKED_PAGE_SIZE} refused ({exc}); the importer asks for less",
        )
        return
    except ImporterError as exc:
        doctor.add("paging", WARNING, f"could not measure ({exc})")
        return
    size = page.get("PageSize")
    if isinstance(size, int) and 0 < size < ASKED_PAGE_SIZE:
        doctor.answers.update(max_page_size=size, page_size_overflow="clamp")
        doctor.add(
            "paging",
            WARNING if size < SMALL_PAGE else OK,  # small pages make planning slow
            f"pages hold at most {size} records (asked {ASKED_PAGE_SIZE}); the importer "
            "reads every page",
        )
    else:
        doctor.answers["max_page_size"] = 0
        doctor.add("paging", OK, f"a page of {ASKED_PAGE_SIZE} records is honoured")


def _input_courses(doctor: _Doctor, input_file: Path) -> None:
    """Each course the input names: there, with its name and how many sections it holds."""
    from importer.validate import validate_file

    rows = validate_file(input_file).valid_rows()
    for course_id in sorted({row.key[0] for row in rows}):
        course = doctor.client.get_course(course_id)
        if course is None:
            doctor.add(
                f"course {course_id}", PROBLEM, "not found: check the Course ID in the sheet"
            )
            continue
        held = len(doctor.client.list_sections(course_id))
        name = course.get("Title") or course.get("Name") or ""
        doctor.add(f"course {course_id}", OK, f"{name} ({held} section(s) now)")


def comparison_rows(answers: dict[str, object]) -> list[tuple[str, str, str, str]]:
    """(what, documented, live clients, your account) for the summary table."""
    rows = []
    for name in sorted(set(DOCUMENTED) | set(answers)):
        rows.append(
            (
                name,
                _text(DOCUMENTED.get(name)),
                _text(LIVE_CLIENTS.get(name)),
                _text(answers.get(name, "not measured")),
            )
        )
    return rows


def _text(value: object) -> str:
    if value is None:
        return "-"
    if value is True or value is False:
        return str(value).lower()
    return str(value)
