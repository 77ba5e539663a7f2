"""The doctor's write probe: four writes on one probe section, never two probes.

POST an inactive-looking probe section (`sections doctor probe <random>`, no `Active`, to
learn the default), GET it, PUT only a changed title (strict: refused; replace: the omitted
fields cleared; merge: kept), PUT the whole record back, DELETE it. Before the POST an intent
file `<state folder>/doctor-probe.json` records the course and title (the same "intent
before the request" rule as the ledger); every doctor run first deletes what an interrupted
probe left (found by its title) and only then removes the file. The account lock is held
throughout, as for an import.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.clock import utc_iso
from importer.engine.locks import account_lock
from importer.engine.settings import JobSettings
from importer.errors import AlreadyGoneError, ImporterError, RejectedError
from importer.safe_io import atomic_write_text

if TYPE_CHECKING:
    from importer.doctor import _Doctor

PROBE_FILE = "doctor-probe.json"
PROBE_TITLE = "sections doctor probe"
PROBE_CONTENTS = "<p>sections doctor probe: safe to delete</p>"
RENAMED = " (renamed)"


def probe_file(settings: JobSettings) -> Path:
    return settings.resolved_state_dir() / PROBE_FILE


def clean_up(doctor: _Doctor, settings: JobSettings) -> None:
    """Delete the sections an interrupted probe left (by the title its intent recorded)."""
    from importer.doctor import OK, PROBLEM

    path = probe_file(settings)
    if not path.is_file():
        return
    try:
        intent = json.loads(path.read_text(encoding="utf-8"))
        course, title = int(intent["course"]), str(intent["title"])
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)  # unreadable: written by no probe of ours
        return
    try:
        left = [
            r
            for r in doctor.client.list_sections(course)
            if str(r.get("Title") or "") in (title, title + RENAMED)
        ]
        for record in left:
            with contextlib.suppress(AlreadyGoneError):  # gone already: what we wanted
                doctor.client.delete_section(int(record["Id"]))
    except ImporterError as exc:
        doctor.add("probe cleanup", PROBLEM, f"a probe left in course {course} ({exc})")
        return
    path.unlink(missing_ok=True)
    doctor.add("probe cleanup", OK, f"removed {len(left)} section(s) an interrupted probe left")


def run_probe(doctor: _Doctor, settings: JobSettings, course: int | None) -> None:
    from importer.doctor import OK, PROBLEM, WARNING

    if course is None:
        doctor.add("write probe", PROBLEM, "--write-probe needs --course ID (a course to probe)")
        return
    if doctor.client.get_course(course) is None:
        doctor.add("write probe", PROBLEM, f"course {course} was not found: check --course")
        return
    target = settings.target
    with account_lock(settings.scope, lock_dir=target.lock_dir, wait=target.wait_lock):
        clean_up(doctor, settings)
        title = f"{PROBE_TITLE} {secrets.token_hex(4)}"
        path = probe_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        intent = {"course": course, "title": title, "started": utc_iso()}
        atomic_write_text(path, json.dumps(intent) + "\n")
        try:
            _probe(doctor, course, title)
        except (RejectedError, ImporterError) as exc:
            doctor.add(
                "write probe", WARNING if isinstance(exc, RejectedError) else PROBLEM, str(exc)
            )
            clean_up(doctor, settings)
            return
        path.unlink(missing_ok=True)
        doctor.add("write probe", OK, "created, read, updated twice and deleted one probe section")


def _probe(doctor: _Doctor, course: int, title: str) -> None:
    from importer.doctor import record_shapes

    client = doctor.client
    body = {
        "CourseId": course,
        "Title": title,
        "DisplayOrder": 9999,
        "UnlockType": 1,
        "UnlockAfterDays": 0,
        "SectionContents": PROBE_CONTENTS,
        "SystemId": "sections-doctor-probe",
    }
    value = client.create_section_value(body)  # unclear answer: the caller's clean_up finds it
    section_id = int(value["Id"])
    doctor.answers["value_shape"] = "record" if len(value) > 1 else "id"
    doctor.observed["probe_id"] = section_id
    full = client.get_section(section_id) or {}
    doctor.answers["default_active"] = bool(full.get("Active"))
    listed = [r for r in client.list_sections(course) if r.get("Id") == section_id]
    if listed and full:
        record_shapes(doctor, listed[0], full)
    doctor.answers["put_semantics"] = _put_semantics(doctor, section_id, title)
    restore: dict[str, Any] = {**{k: full[k] for k in body if k in full}, "Id": section_id}
    client.update_section({**restore, "Active": False})
    try:
        client.delete_section(section_id)
        doctor.observed["delete_answer"] = "deleted"
    except AlreadyGoneError:
        doctor.observed["delete_answer"] = "already gone (404)"


def _put_semantics(doctor: _Doctor, section_id: int, title: str) -> str:
    """Send only a changed title: refused (strict), or see what became of the rest."""
    try:
        doctor.client.update_section({"Id": section_id, "Title": title + RENAMED})
    except RejectedError:
        return "strict"
    after = doctor.client.get_section(section_id) or {}
    return "merge" if after.get("SectionContents") == PROBE_CONTENTS else "replace"
