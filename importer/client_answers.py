"""What an API answer means: the classification behind every NexudusClient outcome.

One function per question, so the client reads as a list of decisions:

- `throttle_wait`: the wait a 409/429 asks for (Retry-After in seconds or as an HTTP date,
  or a body saying `Wait N seconds`; None when neither);
- `is_ooops`: the generic "Ooops! There was a problem while running this action..." with
  no property errors, which live accounts send as a 500 or a 400 in transient bursts;
- `raise_for_status`: the typed exception (importer.errors) for a non-2xx answer;
- `mutation_body`: a write's envelope, where WasSuccessful false is a rejection, or an
  unknown outcome when it is the generic Ooops;
- `rejected`: the API's reasons with each field named as the person knows it.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from importer.columns import BY_FIELD
from importer.errors import (
    AmbiguousError,
    ConfigError,
    NotFoundError,
    RejectedError,
    ThrottledError,
)

#: The statuses the API throttles with: 409 (documented) and 429 (what live clients see).
THROTTLE_STATUSES = frozenset({409, 429})
#: The live throttle body, e.g. "Wait 2.5 seconds".
WAIT_TEXT = re.compile(r"Wait ([\d.]+) seconds", re.IGNORECASE)
#: The generic live failure text ("Ooops! There was a problem while running this action...").
OOOPS_TEXT = re.compile(r"\bO{3,}PS\b|there was a problem while running this action", re.I)
#: Only the start of a body is searched (a throttle or error body is short).
_BODY_SCAN = 4096
_FIELD_BY_LOWER = {field.lower(): field for field in BY_FIELD}
_PREFIXED = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*:\s*(.*)$", re.DOTALL)


# -- waits ------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110: delta-seconds or HTTP-date); negatives become 0."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_wait_text(text: str) -> float | None:
    """The seconds of a `Wait N seconds` body (live 429s), or None."""
    match = WAIT_TEXT.search(text[:_BODY_SCAN])
    if match is None:
        return None
    try:
        seconds = float(match.group(1))
    except ValueError:  # e.g. "1.2.3"
        return None
    return max(0.0, seconds) if seconds != float("inf") else None


def throttle_wait(response: httpx.Response, *, now: datetime | None = None) -> float | None:
    """The wait a throttle answer asks for: the larger of Retry-After and `Wait N seconds`."""
    waits = [
        parse_retry_after(response.headers.get("Retry-After"), now=now),
        parse_wait_text(_text(response)),
    ]
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


# -- bodies -----------------------------------------------------------------------------


def _text(response: httpx.Response) -> str:
    try:
        return response.text[:_BODY_SCAN]
    except (UnicodeDecodeError, LookupError, httpx.HTTPError):
        return ""


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, httpx.HTTPError):
        return None


def property_errors(body: object) -> tuple[tuple[str, str], ...]:
    """The API's `Errors` list as (PropertyName, Message) pairs; empty when there is none."""
    if not isinstance(body, dict):
        return ()
    pairs: list[tuple[str, str]] = []
    for item in body.get("Errors") or ():
        if isinstance(item, dict):
            pairs.append((str(item.get("PropertyName") or ""), str(item.get("Message") or "")))
    return tuple(pairs)


def is_ooops(response: httpx.Response) -> bool:
    """True for the generic live failure: the Ooops text and no property errors."""
    body = _json_or_none(response)
    if isinstance(body, dict):
        if any(name for name, _ in property_errors(body)):
            return False
        return bool(OOOPS_TEXT.search(str(body.get("Message") or "")))
    return bool(OOOPS_TEXT.search(_text(response)))


# -- field names ------------------------------------------------------------------------


def friendly_field(name: str) -> str:
    """The sheet header for an API property name, or the name itself when it is not ours.

    The API names a field by its property (`CourseId`) or, for a foreign key, by its
    navigation name (`Course`): both become "Course ID". Qualified names
    (`CourseSection.Title`, `Course.Id`) are read by their last part(s).
    """
    cleaned = name.strip()
    parts = [part for part in cleaned.split(".") if part]
    candidates = []
    if parts:
        candidates.append(parts[-1])
        if len(parts) >= 2 and parts[-1].lower() == "id":
            candidates.append(parts[-2] + "Id")
    for candidate in candidates:
        for option in (candidate, candidate + "Id"):
            field = _FIELD_BY_LOWER.get(option.lower())
            if field is not None:
                return BY_FIELD[field].header
    return cleaned


def _friendly_message(message: str) -> str:
    """`Course: is a required field` -> `Course ID: is a required field`."""
    match = _PREFIXED.match(message)
    if match is None:
        return message
    name, rest = match.groups()
    friendly = friendly_field(name)
    return f"{friendly}: {rest}" if friendly != name else message


def rejected(response: httpx.Response) -> RejectedError:
    """The API refused the payload: its reasons, fields named as the person knows them."""
    body = _json_or_none(response)
    api_errors = property_errors(body)
    errors = tuple((friendly_field(name) if name else "", text) for name, text in api_errors)
    if errors:
        message = "; ".join(f"{name}: {text}" if name else text for name, text in errors)
    else:
        message = str(body.get("Message") or "") if isinstance(body, dict) else ""
        message = _friendly_message(message) if message else ""
    if not message:
        message = f"HTTP {response.status_code} without details"
    return RejectedError(message, status=response.status_code, errors=errors, api_errors=api_errors)


def _ooops_error(response: httpx.Response) -> AmbiguousError:
    status = response.status_code
    return AmbiguousError(
        f"HTTP {status} with the API's generic 'Ooops' failure; it may have been applied",
        status=status,
        cause=f"Ooops {status}",
    )


# -- classification ---------------------------------------------------------------------


def raise_for_status(response: httpx.Response) -> None:
    """Return for a 2xx; otherwise raise what the answer means (401/403 are the caller's).

    409/429 -> ThrottledError (certainly not applied); any 5xx and 408 -> AmbiguousError
    (a 503 too: a proxy may answer it after the backend committed); a 400 that is the generic
    Ooops -> AmbiguousError; 404 -> NotFoundError; 3xx -> ConfigError; other 4xx ->
    RejectedError. Reads treat AmbiguousError as "try again" (importer.retry.call_read).
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in THROTTLE_STATUSES:
        wait = throttle_wait(response)
        said = "no wait given" if wait is None else f"wait {wait:g}s"
        raise ThrottledError(
            f"HTTP {status}: the API throttled the request ({said})",
            status=status,
            retry_after=wait,
        )
    if status >= 500 or status == 408:
        if is_ooops(response):
            raise _ooops_error(response)
        raise AmbiguousError(
            f"HTTP {status} from the API; the request may have been applied",
            status=status,
            cause=f"HTTP {status}",
        )
    if status == 404:
        raise NotFoundError(f"HTTP 404 for {response.request.url.path}", status=404)
    if 300 <= status < 400:
        raise ConfigError(
            f"the API answered a redirect (HTTP {status}) for "
            f"{response.request.url.path}: check the API base URL"
        )
    if is_ooops(response):
        raise _ooops_error(response)
    raise rejected(response)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; anything else is an unknown outcome (2xx unreadable)."""
    try:
        body = response.json()
    except (ValueError, httpx.HTTPError) as exc:
        raise AmbiguousError(
            f"HTTP {response.status_code} with an unreadable body",
            status=response.status_code,
            cause="unreadable 2xx body",
        ) from exc
    if not isinstance(body, dict):
        raise AmbiguousError(
            f"HTTP {response.status_code} body is not a JSON object",
            status=response.status_code,
            cause="unreadable 2xx body",
        )
    return body


def mutation_body(response: httpx.Response) -> dict[str, Any]:
    """A write's 2xx envelope; WasSuccessful false (even on HTTP 200) is a rejection,
    or an unknown outcome when its message is the generic Ooops."""
    body = json_object(response)
    if body.get("WasSuccessful") is not True:
        if is_ooops(response):
            raise _ooops_error(response)
        raise rejected(response)
    return body


def as_id(value: object) -> int | None:
    """An Id as a Python int (10+ digits stay exact); None for anything that is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return None


_MAX_SIZE = re.compile(r"(?:at most|maximum(?: page size)?(?: is)?|max\.?)\s*:?\s*(\d+)", re.I)


def smaller_page_size(message: str, size: int, fallbacks: tuple[int, ...]) -> int | None:
    """The page size to ask for after `size` was refused with `message`: the maximum the
    answer names ("at most 100"), else the first of `fallbacks` below `size`; None when
    there is nothing smaller to try."""
    named = _MAX_SIZE.search(message)
    if named is not None and 0 < int(named.group(1)) < size:
        return int(named.group(1))
    smaller = [candidate for candidate in fallbacks if candidate < size]
    return smaller[0] if smaller else None
