"""The one rule that says whether a server section is a row's section.

Used by planning (is this row already there?) and by reconciling after an unknown outcome
(did our create land?), so both always agree. Keys are tried in order, most specific first:
the section's Id when we know it, then our provenance stamp (SystemId), then the title key
(trimmed, Unicode NFC, casefolded: schema.title_key, shared with validation) at the same
display order.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from importer.clock import parse_api_time
from importer.schema import title_key

#: Page size asked for when listing a course's sections (the API documents no maximum).
LIST_PAGE_SIZE = 500


class SectionSource(Protocol):
    """The reads planning and reconciling make (NexudusClient has them, both retried)."""

    def get_course(self, course_id: int) -> dict[str, Any] | None: ...
    def get_sections(self, section_ids: Sequence[int]) -> list[dict[str, Any]]: ...
    def first_page(self, course_id: int | None, *, size: int) -> dict[str, Any]: ...
    def list_courses(self, *, page_size: int = ...) -> list[dict[str, Any]]: ...
    def list_sections(
        self, course_id: int | None, *, page_size: int = ...
    ) -> list[dict[str, Any]]: ...


def normalize_title(title: object) -> str:
    """How two titles are compared: trimmed, then schema.title_key."""
    return title_key(str(title or "").strip())


@dataclass(frozen=True)
class ServerSection:
    """The fields of a listed section that matching needs."""

    id: int
    course_id: int
    title: str
    display_order: int
    created_at: float | None = None  # CreatedOn as a UNIX time (None: not given or unreadable)
    system_id: str = ""
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ServerSection:
        created = parse_api_time(record.get("CreatedOn"))
        return cls(
            id=int(record["Id"]),
            course_id=int(record["CourseId"]),
            title=str(record.get("Title") or ""),
            display_order=int(record["DisplayOrder"]),
            created_at=created.timestamp() if created is not None else None,
            system_id=str(record.get("SystemId") or ""),
            record=dict(record),
        )


#: The prefix of the SystemId this tool gives a section whose row has none of its own.
STAMP_PREFIX = "sections:v1:"


def provenance_stamp(course_id: int, display_order: int, title: object) -> str:
    """`sections:v1:<course>:<order>:<hash of the title key>`: who made the section and for
    which row, so a server that rewrites titles (or a lost ledger) cannot make us post again."""
    digest = hashlib.sha256(normalize_title(title).encode("utf-8")).hexdigest()[:10]
    return f"{STAMP_PREFIX}{course_id}:{display_order}:{digest}"


class CourseSections:
    """One course's sections, indexed once by Id, display order, title key and System ID,
    so that matching a sheet of n rows costs n lookups, not n scans of the course."""

    def __init__(self, sections: Iterable[ServerSection]) -> None:
        self.sections: list[ServerSection] = list(sections)
        self.by_id = {s.id: s for s in self.sections}
        self.by_order: dict[int, list[ServerSection]] = defaultdict(list)
        self.by_title: dict[str, list[ServerSection]] = defaultdict(list)
        self.by_system_id: dict[str, list[ServerSection]] = defaultdict(list)
        for section in self.sections:
            self.by_order[section.display_order].append(section)
            self.by_title[normalize_title(section.title)].append(section)
            if section.system_id:
                self.by_system_id[section.system_id].append(section)


def list_course(client: SectionSource, course_id: int) -> list[ServerSection]:
    """Every section of one course (all pages), as ServerSections."""
    records = client.list_sections(course_id, page_size=LIST_PAGE_SIZE)
    return [ServerSection.from_record(r) for r in records]


def same_title_and_order(section: ServerSection, title: object, display_order: int) -> bool:
    return section.display_order == display_order and normalize_title(
        section.title
    ) == normalize_title(title)


def matches(
    sections: Iterable[ServerSection],
    *,
    title: object,
    display_order: int,
    section_id: int | None = None,
    stamp: str = "",
) -> list[ServerSection]:
    """The server sections that are this row's section, by the first key that applies.

    `section_id` known and present: that section alone. Then the sections carrying the
    row's provenance `stamp` (whatever the server did to their title). Otherwise every
    section with the same title key at the same display order (two or more: duplicates).
    """
    listed: Sequence[ServerSection] = list(sections)
    if section_id is not None:
        by_id = [s for s in listed if s.id == section_id]
        if by_id:
            return by_id
    if stamp:
        by_stamp = [s for s in listed if s.system_id == stamp]
        if by_stamp:
            return by_stamp
    return [s for s in listed if same_title_and_order(s, title, display_order)]
