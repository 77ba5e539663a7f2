"""Exceptions: each means "cannot continue" and carries small, picklable facts.

Row problems are never exceptions (they are findings or row statuses). Messages never
contain a token or password.

    ImporterError
    ├── InputError                 the input file cannot be read at all
    ├── ConfigError                bad configuration or options (exit 3)
    ├── LockedError                another run holds the lock (exit 3)
    └── ApiError                   talking to the Nexudus API
        ├── AuthError              401 after one refresh, or no/unusable credentials (exit 3)
        ├── RejectedError          400 with the API's reasons, or 2xx with WasSuccessful false
        ├── NotFoundError          404 for a resource (e.g. unknown course)
        │   └── AlreadyGoneError   404 to a DELETE: the record is not there (any more)
        ├── ThrottledError         409 or 429 (the API's throttle): certainly not applied
        ├── TransportError         connection not established: certainly not applied
        │   └── TlsError           certificate failure: fatal, never retried
        ├── AmbiguousError         the request may have been applied (timeout after send,
        │                          dropped connection, any 5xx, the generic "Ooops" 400/500
        │                          to a write, unreadable 2xx)
        └── ListingError           a paged listing that does not end (a page with nothing
                                   new while HasNextPage stays true, or over the page cap)
"""

from __future__ import annotations


class ImporterError(Exception):
    """Base of every exception this package raises on purpose."""


class InputError(ImporterError):
    """The input file cannot be read (missing, empty, corrupt, wrong format, too large)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ConfigError(ImporterError):
    """Configuration or options are wrong; the message says which and how to fix it."""


class LedgerError(ConfigError):
    """The ledger could not be written (full or read-only disk): the run stops at once."""


class LockedError(ImporterError):
    """Another run holds the lock on the same state folder or inbox."""


class ApiError(ImporterError):
    """A request to the API could not be completed as hoped."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """Missing, unusable or expired credentials, or a missing role.

    Raised for a 401 that survives one token refresh, a 403, a refused grant, and
    credentials that cannot be sent at all (e.g. a NEXUDUS_TOKEN with non-ASCII characters).
    """


class NotFoundError(ApiError):
    """The resource does not exist (HTTP 404)."""


class AlreadyGoneError(NotFoundError):
    """A DELETE answered 404: the record is not there, so the caller may count it deleted."""


class RejectedError(ApiError):
    """The API refused this payload: HTTP 4xx with its reasons, or a 2xx with WasSuccessful false.

    `errors` holds `(field, message)` pairs with each field named as the person knows it
    (the sheet's header, e.g. "Course ID" for the API's `CourseId` or `Course`);
    `api_errors` holds the API's own `(PropertyName, Message)` pairs.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: tuple[tuple[str, str], ...] = (),
        api_errors: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.errors = errors
        self.api_errors = errors if api_errors is None else api_errors


class ThrottledError(ApiError):
    """HTTP 409 or 429, the API's throttle: refused before processing, so certainly not applied.

    The client raises it for exactly those two statuses (from /api/token too). `retry_after`
    is the server's wait in seconds: the `Retry-After` header (seconds or an HTTP date), else
    a body saying `Wait N seconds`, the larger when both are given; None when the answer
    names no wait. importer.retry treats None as within `max_retry_after` and then waits
    its own capped exponential back-off with jitter (`wait_initial` .. `wait_max`).
    A 503 is not a throttle: to a write it is an AmbiguousError.
    """

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class TransportError(ApiError):
    """The request was certainly not applied: no connection could be made (`connected`
    False), or a token request went unanswered (True: the server was reached)."""

    def __init__(self, message: str, *, connected: bool = False) -> None:
        super().__init__(message)
        self.connected = connected


class TlsError(TransportError):
    """TLS certificate verification failed: fatal, never retried, no insecure fallback."""


class AmbiguousError(ApiError):
    """The request may or may not have been applied; reconcile before sending it again."""

    def __init__(self, message: str, *, status: int | None = None, cause: str = "") -> None:
        super().__init__(message, status=status)
        self.cause = cause


class ListingError(ApiError):
    """A paged listing did not come to an end: reading it again later may help."""
