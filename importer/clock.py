"""UTC timestamps, written one way everywhere: in summaries and in file and folder names."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(moment: datetime | None = None) -> str:
    """`2026-11-27T10:31:28Z`: for summaries and reports (now when `moment` is None)."""
    moment = moment or datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def utc_stamp(moment: datetime | None = None) -> str:
    """`20261127T103128Z`: for file and folder names (sorts by time, no colons)."""
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
