"""The Nexudus API client: pacing, tokens and the classification of every outcome.

Writes (`create_section`, `update_section`, `delete_section`) make ONE attempt (plus at most
one token refresh on a 401) and turn whatever happened into a return value or one typed
exception from importer.errors, so the caller can decide, with importer.retry, whether
sending again is safe. Reads (`get_section`, `get_course`, `list_sections`, `list_courses`)
are idempotent and retried here with `call_read`; listings read every page.

What each answer means lives in importer.client_answers (throttles by 409 or 429, the
generic "Ooops", rejections with friendly field names); tokens live in importer.auth_tokens.
Secrets never leave the client: the token and password live only in `Credentials`
(importer.credentials, re-exported here; its repr hides them) and in the Authorization
header; messages and logs name the account, never the secret.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from importer import __version__
from importer.auth_tokens import TOKEN_PATH, TokenKeeper, default_client_id
from importer.client_answers import (
    THROTTLE_STATUSES,
    as_id,
    json_object,
    mutation_body,
    parse_retry_after,
    raise_for_status,
    smaller_page_size,
    throttle_wait,
)
from importer.credentials import (
    Credentials,
    RedactingFilter,
    install_redaction,
    is_header_safe,
    redact,
    safe_url,
)
from importer.engine.settings import TargetSettings
from importer.errors import (
    AlreadyGoneError,
    AmbiguousError,
    AuthError,
    ConfigError,
    ListingError,
    NotFoundError,
    RejectedError,
    TlsError,
    TransportError,
)
from importer.pacing import Pacer
from importer.retry import RetryPolicy, call_read

logger = logging.getLogger(__name__)

__all__ = [
    "Credentials",
    "NexudusClient",
    "RedactingFilter",
    "RequestStats",
    "install_redaction",
    "parse_retry_after",
    "redact",
]

SECTIONS_PATH = "/api/content/coursesections"
SECTION_PATH = "/api/content/coursesections/{id}"
COURSES_PATH = "/api/content/courses"
COURSE_PATH = "/api/content/courses/{id}"
#: Generous read timeout: a timed-out POST is ambiguous, so make timeouts rare.
DEFAULT_TIMEOUT = TargetSettings().timeout()  # the numbers live in importer.engine.settings
#: Below any sane server idle timeout, so stale keep-alive races stay rare.
KEEPALIVE_EXPIRY = 5.0
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
#: A listing that goes on longer than this is a server that never ends one.
MAX_PAGES = 1000
#: Ids per batch read (`?id=[...]`): keeps the URL short.
BATCH_READ_SIZE = 100
#: When the API refuses a page size, ask again with these (the last is its default).
SMALLER_PAGE_SIZES = (1000, 500, 100, 25)
#: The role each kind of request needs (named in AuthError messages).
ROLE_FOR_KIND = {
    "post": "CourseSection-Create",
    "put": "CourseSection-Edit",
    "delete": "CourseSection-Delete",
    "list": "CourseSection-List",
    "get_section": "CourseSection-Read",
    "get": "Course-Read",
    "list_courses": "Course-List",
}
_AMBIGUOUS_TRANSPORT = (
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.WriteTimeout,
    httpx.WriteError,
)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_CONFIG_ERRORS = (
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)


def _is_cert_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


class RequestStats:
    """Thread-safe counters of what the client sent and what came back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # by kind: "auth", "get", "list", "post", ...
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()  # transport failures by exception class
        self.throttled = 0  # throttle answers (409 or 429)
        self.refreshes = 0  # token refreshes after a 401

    def count(self, kind: str, status: int | None = None, error: str | None = None) -> None:
        with self._lock:
            self.requests[kind] += 1
            if status is not None:
                self.statuses[status] += 1
                if status in THROTTLE_STATUSES:
                    self.throttled += 1
            if error is not None:
                self.errors[error] += 1

    @property
    def answered(self) -> int:
        """How many requests got an HTTP answer (0: the server was never reached)."""
        with self._lock:
            return sum(self.statuses.values())

    def count_refresh(self) -> None:
        with self._lock:
            self.refreshes += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "total": sum(self.requests.values()),
                "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
                "errors": dict(self.errors),
                "throttled": self.throttled,
                "refreshes": self.refreshes,
            }


class NexudusClient:
    """Sync httpx client for course sections; safe to share between worker threads."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        pacer: Pacer | None = None,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
        read_policy: RetryPolicy | None = None,
        client_id: str | None = None,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        try:
            parts = urlsplit(base_url)
            valid = parts.scheme in ("http", "https") and bool(parts.netloc)
            _ = parts.port  # raises ValueError for a bad port or an unclosed "[" (IPv6)
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(
                f"API base URL must look like https://host, got {safe_url(base_url)!r}"
            )
        if verify is False:
            raise ConfigError("TLS verification cannot be turned off; pass a CA bundle instead")
        if credentials.token is not None and not is_header_safe(credentials.token):
            raise AuthError(
                "the bearer token has spaces, control or non-ASCII characters and cannot be "
                "sent; copy NEXUDUS_TOKEN again"
            )
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.pacer = pacer
        self.read_policy = read_policy or RetryPolicy()
        self.stats = RequestStats()
        self._host = parts.netloc.rsplit("@", 1)[-1]
        self._tokens = TokenKeeper(
            credentials,
            self._post_token_form,
            client_id=client_id or default_client_id(credentials),
            host=self._host,
            on_refresh=self.stats.count_refresh,
        )
        self.client_id = self._tokens.client_id
        if isinstance(verify, str):  # a CA bundle path (httpx 0.28 wants a context)
            verify = ssl.create_default_context(cafile=verify)
        if transport is None:
            transport = httpx.HTTPTransport(
                verify=verify, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)
            )
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout or DEFAULT_TIMEOUT,
            transport=transport,
            follow_redirects=False,
            headers={
                "Accept": "application/json",
                "User-Agent": f"course-sections-importer/{__version__}",
            },
        )

    # -- lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NexudusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NexudusClient({self.base_url!r}, {self.credentials.describe()!r})"

    # -- writes: one attempt each

    def create_section_value(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST one section ONCE and return the answer's `Value` as it came ({"Id": n} or
        the whole record: `sections doctor` reports which); raises like create_section."""
        response = self._send("POST", SECTIONS_PATH, "post", json=dict(payload))
        value = mutation_body(response).get("Value")
        if not isinstance(value, dict) or as_id(value.get("Id")) is None:
            raise AmbiguousError(
                f"HTTP {response.status_code} reported success without Value.Id",
                status=response.status_code,
                cause="2xx without Value.Id",
            )
        return dict(value)

    def create_section(self, payload: Mapping[str, Any]) -> int:
        """POST one section ONCE (plus one token refresh on a 401); return its new Id.

        Success needs HTTP 2xx AND WasSuccessful true; `Value` may be {"Id": n} or the
        whole record. Raises RejectedError, ThrottledError, TransportError, TlsError,
        AmbiguousError (also for any 5xx and the generic "Ooops" 400/500), AuthError
        (see importer.retry for which are safe to re-send).
        """
        new_id = as_id(self.create_section_value(payload)["Id"])
        assert new_id is not None  # create_section_value checked it
        return new_id

    def update_section(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """PUT one whole section (its `Id` in the body) ONCE; return the API's `Value`.

        The API replaces the record: send every field (GET, merge, then PUT). Success needs
        HTTP 2xx AND WasSuccessful true. Returns `Value` when it is a record, else
        {"Id": id}. Raises like create_section, and NotFoundError when the Id is unknown.
        """
        section_id = as_id(record.get("Id"))
        if section_id is None:
            raise ValueError("update_section needs the record's integer Id")
        response = self._send("PUT", SECTIONS_PATH, "put", json={**record, "Id": section_id})
        value = mutation_body(response).get("Value")
        return dict(value) if isinstance(value, dict) else {"Id": section_id}

    def delete_section(self, section_id: int) -> None:
        """DELETE one section ONCE.

        Raises AlreadyGoneError (a NotFoundError) on 404: the caller may count it deleted.
        HTTP 200 with WasSuccessful false is a RejectedError (e.g. refused while the section
        has lessons), or an AmbiguousError when it is the generic "Ooops"; otherwise raises
        like create_section.
        """
        path = SECTION_PATH.format(id=self._id(section_id))
        try:
            response = self._send("DELETE", path, "delete")
        except NotFoundError as exc:
            raise AlreadyGoneError(
                f"section {section_id} is not on the server (HTTP 404): already deleted",
                status=exc.status,
            ) from None
        if response.status_code == 204:
            return  # No Content: nothing to check (an empty 200 is an unknown outcome)
        mutation_body(response)

    # -- reads: retried

    def get_section(self, section_id: int) -> dict[str, Any] | None:
        """The section record, or None when the API answers 404 (retried with call_read)."""
        path = SECTION_PATH.format(id=self._id(section_id))
        try:
            return call_read(lambda: self._get_json(path, "get_section", None), self.read_policy)
        except NotFoundError:
            return None

    def get_sections(self, section_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Whole records of many sections: the batch read `?id=[1,2,3]` (DEV-BATCH),
        BATCH_READ_SIZE Ids per request, each retried with call_read; unknown Ids are left
        out. One request for a hundred sections, where a GET each would be a hundred."""
        wanted = [self._id(i) for i in section_ids]
        records: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BATCH_READ_SIZE):
            ids = "[" + ",".join(str(i) for i in wanted[start : start + BATCH_READ_SIZE]) + "]"

            def read(ids: str = ids) -> list[dict[str, Any]]:
                response = self._send("GET", SECTIONS_PATH, "batch", params={"id": ids})
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):  # a server that wraps it like a list page
                    body = body.get("Records")
                if not isinstance(body, list):
                    raise AmbiguousError(
                        f"HTTP {response.status_code}: the batch read is not a JSON array",
                        status=response.status_code,
                        cause="unreadable 2xx body",
                    )
                return [r for r in body if isinstance(r, dict)]

            records.extend(call_read(read, self.read_policy))
        return records

    def get_course(self, course_id: int) -> dict[str, Any] | None:
        """The course record, or None when the API answers 404 (retried with call_read)."""
        path = COURSE_PATH.format(id=self._id(course_id))
        try:
            return call_read(lambda: self._get_json(path, "get", None), self.read_policy)
        except NotFoundError:
            return None

    def list_sections(self, course_id: int | None, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every section of a course, or of the whole account when `course_id` is None.

        All pages, each retried with call_read (see `_list_all` for when paging stops).
        """
        if course_id is None:
            return self._list_all(SECTIONS_PATH, "list", {"orderBy": "Id", "dir": 1}, page_size)
        wanted = self._id(course_id)

        def ours(record: dict[str, Any]) -> bool:
            # Guard against a server that ignores the filter: never adopt another course's.
            found = record.get("CourseId")
            return found is None or as_id(found) == wanted

        params = {"orderBy": "DisplayOrder", "dir": 1, "CourseSection_Course": wanted}
        return self._list_all(SECTIONS_PATH, "list", params, page_size, keep=ours)

    def first_page(self, course_id: int | None, *, size: int) -> dict[str, Any]:
        """One page of sections as the API answers it (the envelope: PageSize, TotalItems,
        HasNextPage, Records...), retried like any read; for `sections doctor`."""
        params: dict[str, Any] = {"page": 1, "size": size, "orderBy": "Id", "dir": 1}
        if course_id is not None:
            params["CourseSection_Course"] = self._id(course_id)
        return call_read(lambda: self._get_json(SECTIONS_PATH, "list", params), self.read_policy)

    @property
    def token_lifetime(self) -> int | None:
        """Seconds the current access token was granted for (None: not told, or a token
        from NEXUDUS_TOKEN)."""
        return self._tokens.expires_in

    def list_courses(self, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every course of the account, all pages (see `_list_all`)."""
        return self._list_all(COURSES_PATH, "list_courses", {"orderBy": "Id", "dir": 1}, page_size)

    # -- paging

    def _list_all(
        self,
        path: str,
        kind: str,
        params: Mapping[str, Any],
        page_size: int,
        *,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Read pages until HasNextPage is false.

        A server may clamp the page size: pages keep coming until it says the list is done.
        When it refuses the size (a 400) the listing starts over with the maximum the
        answer names ("at most 100"), else the next smaller size in SMALLER_PAGE_SIZES.
        A page that adds no new record while HasNextPage stays true, or more than MAX_PAGES
        pages, raises ListingError: such a server would otherwise keep us reading forever.
        """
        size = max(1, int(page_size))
        while True:
            try:
                return self._read_pages(path, kind, params, size, keep)
            except RejectedError as exc:
                smaller = smaller_page_size(str(exc), size, SMALLER_PAGE_SIZES)
                if exc.status != 400 or smaller is None:
                    raise
                logger.info("the API refused page size %d (%s); trying %d", size, exc, smaller)
                size = smaller

    def _read_pages(
        self,
        path: str,
        kind: str,
        params: Mapping[str, Any],
        size: int,
        keep: Callable[[dict[str, Any]], bool] | None,
    ) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        seen: set[object] = set()
        for page in range(1, MAX_PAGES + 1):
            query = {"page": page, "size": size, **params}

            def read(query: dict[str, Any] = query) -> dict[str, Any]:
                return self._get_json(path, kind, query)

            body = call_read(read, self.read_policy)
            batch = body.get("Records")
            if not isinstance(batch, list):
                raise AmbiguousError("list answer without Records", cause="unreadable 2xx body")
            added = 0
            for record in batch:
                if not isinstance(record, dict):
                    continue
                key = record.get("Id")
                if key is not None and key in seen:
                    continue  # records shifted between pages
                seen.add(key)
                added += 1
                if keep is None or keep(record):
                    records.append(record)
            if body.get("HasNextPage") is not True:
                return records
            if added == 0:
                raise ListingError(
                    f"{path} page {page} added no new record but the API says more pages "
                    "follow; stopped reading (run again later)"
                )
        raise ListingError(
            f"{path} still had more pages after {MAX_PAGES} pages of {size}; stopped reading"
        )

    # -- requests

    @staticmethod
    def _id(value: int) -> int:
        number = as_id(value)
        if number is None:
            raise ValueError(f"an Id must be an integer, got {value!r}")
        return number

    def _get_json(self, path: str, kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
        return json_object(self._send("GET", path, kind, params=params))

    def _send(self, method: str, path: str, kind: str, **kwargs: Any) -> httpx.Response:
        """One request with auth, pacing and classification; on a 401 refresh once and repeat."""
        token, generation = self._tokens.current()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}"}
            response = self._request(method, path, kind, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1 and self.credentials.can_login:
                token, generation = self._tokens.refresh(generation)
                continue
            if response.status_code in (401, 403):
                raise self._auth_error(response.status_code, kind, refreshed=attempt == 2)
            raise_for_status(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_token_form(self, form: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        # "auth", not "token": summary.json drops every key named like a secret
        return self._request("POST", TOKEN_PATH, "auth", data=form, headers=headers)

    def _request(self, method: str, path: str, kind: str, **kwargs: Any) -> httpx.Response:
        """Pace, send, count, tell the pacer how it went; map httpx exceptions to ours."""
        write = method in WRITE_METHODS and path.startswith("/api/content")
        if self.pacer is not None:
            self.pacer.acquire(write=write)
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.stats.count(kind, error=type(exc).__name__)
            raise self._transport_error(exc, method) from exc
        self.stats.count(kind, status=response.status_code)
        if self.pacer is not None:
            if response.status_code in THROTTLE_STATUSES:
                self.pacer.throttled(throttle_wait(response), write=write)
            else:
                self.pacer.answered(write=write)
        return response

    def _transport_error(self, exc: httpx.HTTPError, method: str) -> Exception:
        name = type(exc).__name__
        where = f"{method} to {self._host}"
        if isinstance(exc, _NOT_SENT):
            if _is_cert_failure(exc):
                return TlsError(
                    f"TLS certificate of {self._host} is not trusted; check the "
                    "URL, or point SSL_CERT_FILE at your CA bundle (verification "
                    "is never turned off)"
                )
            return TransportError(f"{where} could not connect ({name}: {exc}); nothing sent")
        if isinstance(exc, _CONFIG_ERRORS):
            return ConfigError(
                f"{where} failed before sending ({name}): check the API URL and proxy settings"
            )
        if isinstance(exc, _AMBIGUOUS_TRANSPORT):
            return AmbiguousError(
                f"{where} failed after sending ({name}); it may have been applied", cause=name
            )
        return AmbiguousError(f"{where} failed ({name}); it may have been applied", cause=name)

    def _auth_error(self, status: int, kind: str, *, refreshed: bool) -> AuthError:
        who = self.credentials.describe()
        if status == 403 or refreshed:
            role = ROLE_FOR_KIND.get(kind, "required")
            return AuthError(
                f"HTTP {status} for {who} even with a fresh token: check that the "
                f"account has the {role} role (or is a full administrator)",
                status=status,
            )
        return AuthError(
            f"HTTP {status} for {who}: the token is expired or wrong; set a new "
            "NEXUDUS_TOKEN or use NEXUDUS_USERNAME/NEXUDUS_PASSWORD",
            status=status,
        )
