"""Sandbox settings and seeded data: every limit and fault in one dataclass.

The sandbox shares only the API's *shape* with the importer, so nothing here comes from
`importer.*`: the demo users, courses and role names are the sandbox's own world.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

ValueShape = Literal["id", "record"]


@dataclass
class SandboxConfig:
    """Every knob of the sandbox; the defaults match the published Nexudus limits."""

    host: str = "127.0.0.1"
    port: int = 0
    db_path: Path | str | None = None  # None: a temporary file, removed on stop
    token_ttl: int = 3600  # access-token lifetime in seconds
    writes_per_minute: int = 60
    writes_per_day: int = 5000
    requests_per_minute: int = 120
    min_interval_ms: int = 100
    throttle: bool = True
    latency_ms: int = 0
    jitter_ms: int = 0
    fail_rate: float = 0.0  # share of /api/content requests answered 500/502/503, nothing stored
    ambiguous_rate: float = 0.0  # share of stored POSTs answered 5xx or dropped afterwards
    seed: int | None = None
    control: bool = False  # expose the /sandbox/* control API
    value_shape: ValueShape = "id"  # "record": POST Value is the whole created record
    failures_as_200: bool = False  # answer validation failures with HTTP 200 (real quirk)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["db_path"] = str(self.db_path) if self.db_path is not None else None
        return data


#: Fields that POST /sandbox/config may change at run time, with the type each must have.
RUNTIME_FIELDS: dict[str, tuple[type, ...]] = {
    "fail_rate": (int, float),
    "ambiguous_rate": (int, float),
    "latency_ms": (int,),
    "jitter_ms": (int,),
    "writes_per_minute": (int,),
    "writes_per_day": (int,),
    "requests_per_minute": (int,),
    "min_interval_ms": (int,),
    "throttle": (bool,),
    "value_shape": (str,),
    "failures_as_200": (bool,),
    "token_ttl": (int,),
    "seed": (int, type(None)),
}


def check_config(config: SandboxConfig) -> None:
    """Reject impossible settings early with one clear sentence (ValueError)."""
    for name in ("fail_rate", "ambiguous_rate"):
        value = getattr(config, name)
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    for name in (
        "token_ttl",
        "writes_per_minute",
        "writes_per_day",
        "requests_per_minute",
        "min_interval_ms",
        "latency_ms",
        "jitter_ms",
    ):
        if int(getattr(config, name)) < 0:
            raise ValueError(f"{name} must not be negative")
    if config.value_shape not in ("id", "record"):
        raise ValueError(f"value_shape must be 'id' or 'record', got {config.value_shape!r}")
    if not 0 <= config.port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {config.port}")


def apply_runtime_changes(config: SandboxConfig, changes: dict[str, Any]) -> None:
    """Validate and apply a /sandbox/config body; raises ValueError naming the bad field."""
    known = {f.name for f in fields(SandboxConfig)}
    for name, value in changes.items():
        if name not in RUNTIME_FIELDS:
            hint = "not changeable at run time" if name in known else "unknown field"
            raise ValueError(f"{name}: {hint}")
        kinds = RUNTIME_FIELDS[name]
        if isinstance(value, bool) and bool not in kinds:
            raise ValueError(f"{name}: expected a number, got {value!r}")
        if not isinstance(value, kinds):
            raise ValueError(f"{name}: wrong type {type(value).__name__}")
    trial = SandboxConfig(**{**asdict(config), **changes})
    check_config(trial)
    for name, value in changes.items():
        setattr(config, name, value)


@dataclass(frozen=True)
class DemoUser:
    """A seeded account. `roles` None means full unrestricted administrator."""

    password: str
    roles: frozenset[str] | None


#: email -> (password, roles). Printing these is intended: it is a sandbox.
DEMO_USERS: dict[str, DemoUser] = {
    "admin@example.com": DemoUser("admin", None),
    "creator@example.com": DemoUser(
        "creator",
        frozenset(
            {"CourseSection-Create", "CourseSection-List", "CourseSection-Read", "Course-Read"}
        ),
    ),
    "viewer@example.com": DemoUser(
        "viewer", frozenset({"CourseSection-List", "CourseSection-Read", "Course-Read"})
    ),
}

#: Seeded courses: id -> title.
DEMO_COURSES: dict[int, str] = {
    101: "Welcome to the Space",
    102: "Community Management Basics",
    103: "Running Member Events",
}
