"""The Nexudus API client: token handling, pacing and the classification of every outcome.

`create_section` makes ONE attempt (plus at most one token refresh on a 401) and turns
whatever happened into a return value or one typed exception from importer.errors, so
the send stage can decide, with importer.retry, whether re-sending is safe. Reads
(`list_sections`, `get_course`) are idempotent and retried here with `call_read`.

Secrets never leave the client: the token and password live only in `Credentials`
(importer.credentials, re-exported here; its repr hides them) and in the Authorization
header; messages and logs name the account, never the secret.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from importer import __version__
from importer.credentials import (
    Credentials,
    RedactingFilter,
    install_redaction,
    redact,
    safe_url,
)
from importer.engine.settings import TargetSettings
from importer.errors import (
    AmbiguousError,
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    ThrottledError,
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

TOKEN_PATH = "/api/token"
SECTIONS_PATH = "/api/content/coursesections"
COURSE_PATH = "/api/content/courses/{id}"
#: Generous read timeout: a timed-out POST is ambiguous, so make timeouts rare.
DEFAULT_TIMEOUT = TargetSettings().timeout()  # the numbers live in importer.engine.settings
#: Below any sane server idle timeout, so stale keep-alive races stay rare.
KEEPALIVE_EXPIRY = 5.0
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
#: The role each kind of request needs (named in AuthError messages).
ROLE_FOR_KIND = {"post": "CourseSection-Create", "list": "CourseSection-List", "get": "Course-Read"}
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


# -- helpers ----------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110: delta-seconds or HTTP-date); negatives become 0."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


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
        self.requests: Counter[str] = Counter()  # "auth", "get", "list", "post"
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()  # transport failures by exception class
        self.throttled = 0  # 409 answers
        self.refreshes = 0  # token refreshes after a 401

    def count(self, kind: str, status: int | None = None, error: str | None = None) -> None:
        with self._lock:
            self.requests[kind] += 1
            if status is not None:
                self.statuses[status] += 1
                if status == 409:
                    self.throttled += 1
            if error is not None:
                self.errors[error] += 1

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


# -- the client -------------------------------------------------------------------------


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
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.pacer = pacer
        self.read_policy = read_policy or RetryPolicy()
        self.client_id = client_id or f"course-sections-importer:{credentials.username or ''}"
        self.stats = RequestStats()
        self._host = parts.netloc.rsplit("@", 1)[-1]
        self._auth_lock = threading.Lock()
        self._access_token: str | None = credentials.token
        self._refresh_token: str | None = None
        self._generation = 0
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
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

    # -- public API

    def create_section(self, payload: Mapping[str, Any]) -> int:
        """POST one section ONCE (plus one token refresh on a 401); return its new Id.

        Success needs HTTP 2xx AND WasSuccessful true; `Value` may be {"Id": n} or the
        whole record. Raises RejectedError, ThrottledError, TransportError, TlsError,
        AmbiguousError, AuthError (see importer.retry for which are safe to re-send).
        """
        response = self._send("POST", SECTIONS_PATH, "post", json=dict(payload))
        body = self._body(response)
        value = body.get("Value")
        new_id = value.get("Id") if isinstance(value, dict) else None
        if isinstance(new_id, bool) or not isinstance(new_id, int):
            raise AmbiguousError(
                f"HTTP {response.status_code} reported success without Value.Id",
                status=response.status_code,
                cause="2xx without Value.Id",
            )
        return new_id

    def list_sections(self, course_id: int, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every section of a course, all pages (each page retried with call_read)."""
        records: list[dict[str, Any]] = []
        seen: set[object] = set()
        page = 1
        while True:
            params = {
                "page": page,
                "size": page_size,
                "orderBy": "DisplayOrder",
                "dir": 1,
                "CourseSection_Course": course_id,
            }
            body = call_read(
                lambda p=params: self._get_json(SECTIONS_PATH, "list", p), self.read_policy
            )
            batch = body.get("Records")
            if not isinstance(batch, list):
                raise AmbiguousError("list answer without Records", cause="unreadable 2xx body")
            for record in batch:
                if not isinstance(record, dict):
                    continue
                # Guard against a server that ignores the filter: never adopt another course's.
                if record.get("CourseId", course_id) != course_id:
                    continue
                key = record.get("Id")
                if key is not None and key in seen:
                    continue  # records shifted between pages
                seen.add(key)
                records.append(record)
            if not body.get("HasNextPage") or not batch:
                return records
            page += 1

    def get_course(self, course_id: int) -> dict[str, Any] | None:
        """The course record, or None when the API answers 404 (retried with call_read)."""
        try:
            return call_read(
                lambda: self._get_json(COURSE_PATH.format(id=int(course_id)), "get", None),
                self.read_policy,
            )
        except NotFoundError:
            return None

    # -- requests

    def _get_json(self, path: str, kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
        return self._json(self._send("GET", path, kind, params=params))

    def _send(self, method: str, path: str, kind: str, **kwargs: Any) -> httpx.Response:
        """One request with auth, pacing and classification; on a 401 refresh once and repeat."""
        write = method in WRITE_METHODS and path.startswith("/api/content")
        token, generation = self._current_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}"}
            response = self._request(method, path, kind, write, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1 and self.credentials.can_login:
                token, generation = self._refresh(generation)
                continue
            if response.status_code in (401, 403):
                raise self._auth_error(response.status_code, kind, refreshed=attempt == 2)
            self._raise_for_status(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(
        self, method: str, path: str, kind: str, write: bool, **kwargs: Any
    ) -> httpx.Response:
        """Pace, send, count; map httpx exceptions to importer.errors."""
        if self.pacer is not None:
            self.pacer.acquire(write=write)
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.stats.count(kind, error=type(exc).__name__)
            raise self._transport_error(exc, method) from exc
        self.stats.count(kind, status=response.status_code)
        if response.status_code == 409 and self.pacer is not None:
            self.pacer.throttled(parse_retry_after(response.headers.get("Retry-After")))
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

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (409, 429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            wait = "no Retry-After" if retry_after is None else f"Retry-After {retry_after:g}s"
            raise ThrottledError(
                f"HTTP {status}: the API throttled the request ({wait})",
                status=status,
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
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
        raise self._rejected(response)

    def _rejected(self, response: httpx.Response) -> RejectedError:
        """400/4xx or WasSuccessful false: the payload is wrong; collect the API's errors."""
        try:
            body = response.json()
        except ValueError:
            body = None
        errors: list[tuple[str, str]] = []
        message = ""
        if isinstance(body, dict):
            for item in body.get("Errors") or ():
                if isinstance(item, dict):
                    errors.append(
                        (str(item.get("PropertyName") or ""), str(item.get("Message") or ""))
                    )
            message = str(body.get("Message") or "")
        if errors:
            message = "; ".join(f"{prop}: {text}" if prop else text for prop, text in errors)
        if not message:
            message = f"HTTP {response.status_code} without details"
        return RejectedError(message, status=response.status_code, errors=tuple(errors))

    def _json(self, response: httpx.Response) -> dict[str, Any]:
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

    def _body(self, response: httpx.Response) -> dict[str, Any]:
        """A mutation's envelope; WasSuccessful false (even on HTTP 200) is a rejection."""
        body = self._json(response)
        if body.get("WasSuccessful") is not True:
            raise self._rejected(response)
        return body

    # -- tokens

    def _current_token(self) -> tuple[str, int]:
        with self._auth_lock:
            if self._access_token is None:
                self._password_grant()
            assert self._access_token is not None
            return self._access_token, self._generation

    def _refresh(self, seen_generation: int) -> tuple[str, int]:
        """Replace a rejected token once; threads that saw the same token share one refresh."""
        with self._auth_lock:
            if self._generation == seen_generation:
                self.stats.count_refresh()
                refreshed = False
                if self._refresh_token:
                    try:
                        self._token_request(
                            {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
                        )
                        refreshed = True
                    except AuthError:
                        logger.info("refresh token refused; using the password grant")
                if not refreshed:
                    self._password_grant()
            assert self._access_token is not None
            return self._access_token, self._generation

    def _password_grant(self) -> None:
        creds = self.credentials
        if not creds.can_login:
            raise AuthError(
                "no credentials: set NEXUDUS_TOKEN, or NEXUDUS_USERNAME and NEXUDUS_PASSWORD"
            )
        form = {
            "grant_type": "password",
            "username": creds.username or "",
            "password": creds.password or "",
        }
        if creds.totp:
            form["totp"] = creds.totp
        self._token_request(form)

    def _token_request(self, form: dict[str, str]) -> None:
        """POST /api/token (form-encoded); store the tokens. Caller holds the auth lock.

        A failure here means the content request was certainly not sent, so server errors
        and timeouts become TransportError (safe to retry), never AmbiguousError.
        """
        form = {**form, "client_id": self.client_id}
        try:
            # "auth", not "token": summary.json drops every key named like a secret
            response = self._request("POST", TOKEN_PATH, "auth", False, data=form)
        except AmbiguousError as exc:
            raise TransportError(f"could not get a token from {self._host} ({exc.cause})") from None
        status = response.status_code
        if status in (400, 401, 403):
            grant = form["grant_type"].replace("_", " ")
            raise AuthError(
                f"the API refused the {grant} (HTTP {status}) for "
                f"{self.credentials.describe()}: check NEXUDUS_USERNAME, "
                "NEXUDUS_PASSWORD and NEXUDUS_TOTP"
            )
        if status in (409, 429, 503):
            self._raise_for_status(response)
        if status == 404 or 300 <= status < 400:  # no token endpoint here: a wrong URL
            raise ConfigError(
                f"{self._host} has no token endpoint ({TOKEN_PATH} answered HTTP {status}): "
                "check --api-url (the API root, e.g. https://spaces.nexudus.com)"
            )
        if not 200 <= status < 300:
            raise TransportError(f"could not get a token from {self._host} (HTTP {status})")
        try:
            body = response.json()
        except ValueError:
            body = None
        access = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise TransportError(f"the token answer from {self._host} had no access_token")
        self._access_token = access
        refresh = body.get("refresh_token") if isinstance(body, dict) else None
        self._refresh_token = refresh if isinstance(refresh, str) and refresh else None
        self._generation += 1

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
