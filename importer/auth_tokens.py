"""Access tokens for NexudusClient: the password grant, one shared refresh, `client_id`.

The client asks `TokenKeeper.current()` before each request and `refresh(generation)` after
a 401. Threads that saw the same rejected token share ONE refresh (the generation number
tells a stale token from a fresh one). The refresh token is tried first, the password grant
second. Every token request carries the same `client_id`, as a form field AND as a
`client_id` header (live portal clients send the header and must repeat it on refresh), so
a server that binds refresh tokens to a client id accepts our refresh.

A failure here means the content request was certainly not sent, so server errors and
timeouts become TransportError (safe to retry), never AmbiguousError.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import quote

import httpx

from importer.client_answers import THROTTLE_STATUSES, is_ooops, raise_for_status
from importer.credentials import Credentials, is_header_safe
from importer.errors import AmbiguousError, AuthError, ConfigError, TransportError

logger = logging.getLogger(__name__)

TOKEN_PATH = "/api/token"
CLIENT_ID_PREFIX = "course-sections-importer"

#: post_form(form, headers) sends POST /api/token (paced and counted by the client).
PostForm = Callable[[dict[str, str], dict[str, str]], httpx.Response]


def default_client_id(credentials: Credentials) -> str:
    """`course-sections-importer:<username>`, percent-encoded so it is a valid header value."""
    return quote(f"{CLIENT_ID_PREFIX}:{credentials.username or ''}", safe=":@.+-_~!$'*")


class TokenKeeper:
    """The current access token and how to get a new one (thread-safe)."""

    def __init__(
        self,
        credentials: Credentials,
        post_form: PostForm,
        *,
        client_id: str,
        host: str,
        on_refresh: Callable[[], object] | None = None,
    ) -> None:
        if not is_header_safe(client_id):
            raise ConfigError(
                "client_id must be printable ASCII without spaces (it is sent as a header)"
            )
        self.credentials = credentials
        self.client_id = client_id
        self._post_form = post_form
        self._host = host
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._access: str | None = credentials.token
        self._refresh_token: str | None = None
        self._generation = 0
        self.expires_in: int | None = None  # seconds the last granted token lives

    def current(self) -> tuple[str, int]:
        """The token to send and its generation (logs in first when there is none)."""
        with self._lock:
            if self._access is None:
                self._password_grant()
            assert self._access is not None
            return self._access, self._generation

    def refresh(self, seen_generation: int) -> tuple[str, int]:
        """Replace a rejected token once; threads that saw the same token share one refresh."""
        with self._lock:
            if self._generation == seen_generation:
                if self._on_refresh is not None:
                    self._on_refresh()
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
            assert self._access is not None
            return self._access, self._generation

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
        """POST /api/token (form-encoded); store the tokens. Caller holds the lock."""
        form = {**form, "client_id": self.client_id}
        try:
            response = self._post_form(form, {"client_id": self.client_id})
        except AmbiguousError as exc:
            raise TransportError(
                f"could not get a token from {self._host} ({exc.cause})", connected=True
            ) from None
        status = response.status_code
        if status in THROTTLE_STATUSES:
            raise_for_status(response)  # ThrottledError: certainly not applied
        if status >= 400 and is_ooops(response):
            raise TransportError(
                f"could not get a token from {self._host} (HTTP {status} Ooops)", connected=True
            )
        if status in (400, 401, 403):
            grant = form["grant_type"].replace("_", " ")
            raise AuthError(
                f"the API refused the {grant} (HTTP {status}) for "
                f"{self.credentials.describe()}: check NEXUDUS_USERNAME, "
                "NEXUDUS_PASSWORD and NEXUDUS_TOTP"
            )
        if status == 404 or 300 <= status < 400:  # no token endpoint here: a wrong URL
            raise ConfigError(
                f"{self._host} has no token endpoint ({TOKEN_PATH} answered HTTP {status}): "
                "check --api-url (the API root, e.g. https://spaces.nexudus.com)"
            )
        if not 200 <= status < 300:
            raise TransportError(
                f"could not get a token from {self._host} (HTTP {status})", connected=True
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        access = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise TransportError(
                f"the token answer from {self._host} had no access_token", connected=True
            )
        if not is_header_safe(access):
            raise AuthError(
                f"the token answer from {self._host} is not a valid header value; check --api-url"
            )
        self._access = access
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        self.expires_in = lifetime if isinstance(lifetime, int) and lifetime > 0 else None
        refresh = body.get("refresh_token") if isinstance(body, dict) else None
        self._refresh_token = refresh if isinstance(refresh, str) and refresh else None
        self._generation += 1
