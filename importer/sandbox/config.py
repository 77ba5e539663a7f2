"""Sandbox settings and seeded data: every limit, fault and unknown of the API in one dataclass.

The sandbox shares only the API's *shape* with the importer, so nothing here comes from
`importer.*`: the demo users, courses and role names are the sandbox's own world.

`SandboxConfig()` is the **documented** profile (the published pages; where they are silent,
the sandbox's long-standing choice). `SandboxConfig.for_profile("live", **overrides)` switches
every option to what public clients of live accounts saw (see `LIVE_PROFILE` and
`importer/sandbox/profiles.py` for the JSON profile file).
"""

from __future__ import annotations

import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, Union

ValueShape = Literal["id", "record"]
ThrottleBody = Literal["empty", "wait-text"]
FaultBody = Literal["plain", "ooops"]
MissingCourseError = Literal["400", "ooops"]
ForeignKeyName = Literal["property", "navigation"]
PageSizeOverflow = Literal["clamp", "error"]
ListFields = Literal["full", "partial"]
ClientIdBinding = Literal["lenient", "strict"]
BatchReadRole = Literal["read", "list"]
PutSemantics = Literal["strict", "replace", "merge"]
ProfileName = Literal["documented", "live"]

#: The generic failure text live accounts answer with (as a 500 or a 400).
OOOPS_MESSAGE = "Ooops! There was a problem while running this action..."


@dataclass
class SandboxConfig:
    """Every knob of the sandbox; the defaults are the documented profile."""

    host: str = "127.0.0.1"
    port: int = 0
    db_path: Path | str | None = None  # None: a temporary file, removed on stop
    control: bool = False  # expose the /sandbox/* control API
    log_requests: bool = False  # one line per API request on stderr
    courses: int = 3  # seeds courses 101 .. 100+courses
    # --- limits ----------------------------------------------------------------------------
    token_ttl: int = 3600  # access-token lifetime in seconds
    refresh_ttl_days: int = 15
    writes_per_minute: int = 60
    writes_per_day: int = 5000
    requests_per_minute: int = 120
    requests_per_hour: int = 5000
    min_interval_ms: int = 100
    throttle: bool = True
    throttle_status: Literal[409, 429] = 409
    throttle_body: ThrottleBody = "empty"
    retry_after_header: bool = True
    # --- faults ----------------------------------------------------------------------------
    latency_ms: int = 0
    jitter_ms: int = 0
    fail_rate: float = 0.0  # chance that a run of `fault_burst` failures starts (nothing stored)
    fault_burst: int = 1  # failures come in runs of this length ...
    fault_gap: int = 0  # ... followed by at least this many answered requests
    fault_body: FaultBody = "plain"  # "ooops": 500 or 400 with the generic Ooops text
    ambiguous_rate: float = 0.0  # share of stored writes answered 5xx or dropped afterwards
    seed: int | None = None
    # --- shapes and defaults -----------------------------------------------------------------
    value_shape: ValueShape = "id"  # "record": POST Value is the whole created record
    failures_as_200: bool = False  # answer validation failures with HTTP 200 (real quirk)
    default_active: bool = True  # Active stored when a POST leaves it out
    default_unlock_type: int | None = None  # None: UnlockType is required on POST
    first_id: int = 5550001
    id_gaps: int = 0  # each new id skips 0..id_gaps numbers
    timestamp_decimals: int = 0  # 7 in live: 2026-08-27T08:24:35.2825432Z
    missing_course_error: MissingCourseError = "400"
    foreign_key_name: ForeignKeyName = "property"  # "navigation": errors name `Course`
    put_semantics: PutSemantics = "merge"
    delete_failure_as_200: bool = False
    delete_blocked_by_children: bool = False
    # --- reading ------------------------------------------------------------------------------
    max_page_size: int = 0  # 0: no maximum
    page_size_overflow: PageSizeOverflow = "clamp"
    list_fields: ListFields = "full"  # "partial": list records leave out SectionContents
    batch_read_role: BatchReadRole = "read"  # "list": ?id=[...] needs CourseSection-List
    client_id_binding: ClientIdBinding = "lenient"  # "strict": refresh repeats the grant's

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["db_path"] = str(self.db_path) if self.db_path is not None else None
        return data

    @classmethod
    def for_profile(cls, name: str, **overrides: Any) -> SandboxConfig:
        """The preset `name` ("documented" or "live") with `overrides` applied on top."""
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r} (use documented or live)")
        check_values({**PROFILES[name], **overrides}, allowed=FIELD_NAMES)
        return replace(cls(), **{**PROFILES[name], **overrides})


#: What public clients of live accounts saw (../shared/docs/nexudus-api.md, "What live
#: clients see"); every other field keeps its documented value.
LIVE_PROFILE: dict[str, Any] = {
    "throttle_status": 429,
    "throttle_body": "wait-text",
    "retry_after_header": False,
    "refresh_ttl_days": 30,
    "fault_burst": 5,
    "fault_gap": 8,
    "fault_body": "ooops",
    "value_shape": "record",
    "default_active": False,
    "default_unlock_type": 0,
    "first_id": 1416049001,
    "id_gaps": 37,
    "timestamp_decimals": 7,
    "foreign_key_name": "navigation",
    "put_semantics": "strict",
    "delete_failure_as_200": True,
    "delete_blocked_by_children": True,
    "max_page_size": 1000,
    "list_fields": "partial",
    "batch_read_role": "list",
    "client_id_binding": "strict",
}

PROFILES: dict[str, dict[str, Any]] = {"documented": {}, "live": LIVE_PROFILE}

FIELD_NAMES = frozenset(f.name for f in fields(SandboxConfig))
#: How one sandbox process runs, not how the API behaves: never in a profile or at run time.
RUN_FIELDS = frozenset({"host", "port", "db_path", "control", "log_requests"})
#: Fields a profile file may set (everything that describes the API's behaviour).
PROFILE_FIELDS = FIELD_NAMES - RUN_FIELDS - {"seed"}
#: Fields that POST /sandbox/config may change at run time.
RUNTIME_FIELDS = FIELD_NAMES - RUN_FIELDS - {"courses"}

_HINTS = typing.get_type_hints(SandboxConfig)


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return any(value == arg and type(value) is type(arg) for arg in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return isinstance(value, (str, Path))


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " or ".join(repr(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in typing.get_args(hint))
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def check_values(values: dict[str, Any], *, allowed: frozenset[str], what: str = "") -> None:
    """Raise ValueError naming the first key that is unknown, not allowed or of a wrong type."""
    for name, value in values.items():
        if name not in allowed:
            hint = "unknown option" if name not in FIELD_NAMES else f"not settable{what}"
            raise ValueError(f"{name}: {hint}")
        if not _fits(value, _HINTS[name]):
            raise ValueError(f"{name}: expected {_describe(_HINTS[name])}, got {value!r}")


def check_config(config: SandboxConfig) -> None:
    """Reject impossible settings early with one clear sentence (ValueError)."""
    check_values({k: v for k, v in asdict(config).items() if k != "db_path"}, allowed=FIELD_NAMES)
    for name in ("fail_rate", "ambiguous_rate"):
        value = getattr(config, name)
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    for name in (
        "token_ttl",
        "refresh_ttl_days",
        "writes_per_minute",
        "writes_per_day",
        "requests_per_minute",
        "requests_per_hour",
        "min_interval_ms",
        "latency_ms",
        "jitter_ms",
        "fault_gap",
        "id_gaps",
        "max_page_size",
    ):
        if int(getattr(config, name)) < 0:
            raise ValueError(f"{name} must not be negative")
    if config.fault_burst < 1:
        raise ValueError("fault_burst must be at least 1")
    if not 1 <= config.courses <= 100_000:
        raise ValueError(f"courses must be between 1 and 100000, got {config.courses}")
    if not 1 <= config.first_id <= 2**53:
        raise ValueError(f"first_id must be between 1 and 2**53, got {config.first_id}")
    if not 0 <= config.timestamp_decimals <= 7:
        raise ValueError("timestamp_decimals must be between 0 and 7")
    if not 0 <= config.port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {config.port}")


def apply_runtime_changes(config: SandboxConfig, changes: dict[str, Any]) -> None:
    """Validate and apply a /sandbox/config body; raises ValueError naming the bad field."""
    check_values(changes, allowed=RUNTIME_FIELDS, what=" at run time")
    trial = replace(config, **changes)
    check_config(trial)
    for name, value in changes.items():
        setattr(config, name, value)


@dataclass(frozen=True)
class DemoUser:
    """A seeded account. `roles` None means full unrestricted administrator."""

    password: str
    roles: frozenset[str] | None
    totp: str | None = None  # the two-factor code this account must also send


_READ_ROLES = frozenset({"CourseSection-List", "CourseSection-Read", "Course-Read", "Course-List"})
_WRITE_ROLES = frozenset({"CourseSection-Create", "CourseSection-Edit", "CourseSection-Delete"})

#: The fixed two-factor code of twofactor@example.com (a sandbox has no authenticator app).
DEMO_TOTP = "123456"

#: email -> account. Printing these is intended: it is a sandbox.
DEMO_USERS: dict[str, DemoUser] = {
    "admin@example.com": DemoUser("admin", None),
    "creator@example.com": DemoUser("creator", _READ_ROLES | _WRITE_ROLES),
    "viewer@example.com": DemoUser("viewer", _READ_ROLES),
    "reader@example.com": DemoUser("reader", frozenset({"CourseSection-Read", "Course-Read"})),
    "twofactor@example.com": DemoUser("twofactor", _READ_ROLES | _WRITE_ROLES, totp=DEMO_TOTP),
}

#: Seeded courses kept exactly as they always were: id -> title.
DEMO_COURSES: dict[int, str] = {
    101: "Welcome to the Space",
    102: "Community Management Basics",
    103: "Running Member Events",
}


def seeded_courses(count: int) -> dict[int, str]:
    """Courses 101 .. 100+count: the three demo courses, then `Sandbox course <id>`."""
    return {
        course_id: DEMO_COURSES.get(course_id, f"Sandbox course {course_id}")
        for course_id in range(101, 101 + count)
    }
