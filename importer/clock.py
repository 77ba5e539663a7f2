"""UTC timestamps, written one way everywhere and read one way from the server."""

from __future__ import annotations

import re
from datetime import UTC, datetime

#: ISO 8601 as the API writes it: any number of decimals (live: seven), `Z`, an offset or
#: nothing (then UTC). Groups: date-time, fraction digits, zone.
_API_TIME = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$"
)


def utc_iso(moment: datetime | None = None) -> str:
    """`2026-11-27T10:31:28Z`: for summaries and reports (now when `moment` is None)."""
    moment = moment or datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def utc_words(seconds: float) -> str:
    """`2026-12-04 09:14 UTC`: a moment (UNIX time) in a sentence for people."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def utc_stamp(moment: datetime | None = None) -> str:
    """`20261127T103128Z`: for file and folder names (sorts by time, no colons)."""
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def parse_api_time(value: object) -> datetime | None:
    """A server timestamp (`CreatedOn`, `UpdatedOn`, ...) as an aware UTC datetime.

    Accepts what live accounts send (`2026-08-27T08:24:35.2825432Z`: seven decimals,
    truncated to microseconds), with or without `Z`, with an offset, or with no zone at all
    (read as UTC, which is what the API uses). None for a blank, missing or unreadable value:
    a timestamp the importer cannot read is treated as unknown, never as an error.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        match = _API_TIME.match(value)
        if match is None:
            return None
        stamp, fraction, zone = match.groups()
        text = stamp.replace(" ", "T")
        if fraction:
            text += "." + fraction[:6].ljust(6, "0")
        if zone and zone not in ("Z", "z"):
            text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:  # e.g. month 13
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
