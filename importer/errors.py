"""Exceptions: each means "cannot continue" and carries small, picklable facts.

Row problems are never exceptions (they are findings or row statuses). Messages never
contain a token or password.

    ImporterError
    ├── InputError                 the input file cannot be read at all
    ├── ConfigError                bad configuration or options (exit 3)
    ├── LockedError                another run holds the lock (exit 3)
    └── ApiError                   talking to the Nexudus API
        ├── AuthError              401 after one refresh, or no credentials (exit 3)
        ├── RejectedError          400, or 2xx with WasSuccessful false: this payload is wrong
        ├── NotFoundError          404 for a resource (e.g. unknown course)
        ├── ThrottledError         409/503 with Retry-After: certainly not applied
        ├── TransportError         connection not established: certainly not applied
        │   └── TlsError           certificate failure: fatal, never retried
        └── AmbiguousError         the request may have been applied (timeout after send,
                                   dropped connection, 500/502/504, unreadable 2xx)
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


class LockedError(ImporterError):
    """Another run holds the lock on the same state folder or inbox."""


class ApiError(ImporterError):
    """A request to the API could not be completed as hoped."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """Missing/expired credentials or a missing role (HTTP 401 surviving one refresh)."""


class NotFoundError(ApiError):
    """The resource does not exist (HTTP 404)."""


class RejectedError(ApiError):
    """The API refused this payload: HTTP 400, or a 2xx with WasSuccessful false.

    `errors` is the API's list as `(PropertyName, Message)` pairs.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, status=status)
        self.errors = errors


class ThrottledError(ApiError):
    """HTTP 409 (Nexudus's throttle) or 503: rejected before processing; wait and retry."""

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class TransportError(ApiError):
    """The connection could not be made; the request was certainly not sent."""


class TlsError(TransportError):
    """TLS certificate verification failed: fatal, never retried, no insecure fallback."""


class AmbiguousError(ApiError):
    """The request may or may not have been applied; reconcile before sending it again."""

    def __init__(self, message: str, *, status: int | None = None, cause: str = "") -> None:
        super().__init__(message, status=status)
        self.cause = cause
