"""OAuth2 password / refresh grants and request authentication, as Nexudus documents them.

Tokens live in memory (a restart logs everybody out, like a real token cache would). A new token
for a client_id replaces that client's refresh token; access tokens already handed out stay
valid until they expire. `client_id` may come as a form field or as a `client_id` header (the
header wins); without one the email stands in. With `client_id_binding="strict"` a refresh must
name the same client id as the grant that issued it (leaving it out names the email); "lenient"
accepts a refresh without one. Refresh tokens live `refresh_ttl_days`. An account with a two-
factor code (twofactor@example.com) must also send `totp` on the password grant.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from importer.sandbox.config import DEMO_USERS, SandboxConfig

DAY_SECONDS = 24 * 3600


class AuthFailure(Exception):
    """A request that must be answered 401; the message says why (no secrets in it)."""


class GrantError(Exception):
    """A token request that must be answered 400 with an OAuth error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class _Access:
    user: str
    expires: float


@dataclass
class _Refresh:
    token: str
    user: str
    expires: float


def check_password(user: str, password: str) -> bool:
    """Constant-time comparison against the seeded accounts."""
    account = DEMO_USERS.get(user.strip().lower())
    if account is None:
        return False
    return hmac.compare_digest(account.password.encode(), password.encode())


def has_role(user: str, role: str) -> bool:
    account = DEMO_USERS.get(user)
    return account is not None and (account.roles is None or role in account.roles)


class Tokens:
    """Issued access and refresh tokens."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._lock = threading.Lock()
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}  # client_id -> current refresh token

    def clear(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def grant(
        self, form: dict[str, str], ttl: int, header_client_id: str | None = None
    ) -> dict[str, object]:
        """Answer a form-encoded token request or raise GrantError."""
        grant_type = form.get("grant_type", "")
        sent = header_client_id or form.get("client_id") or None
        if grant_type == "password":
            user = form.get("username", "").strip().lower()
            if not user or not check_password(user, form.get("password", "")):
                raise GrantError("invalid_grant", "The user name or password is incorrect.")
            _check_totp(user, form.get("totp"))
            client_id = sent or user
        elif grant_type == "refresh_token":
            user, client_id = self._use_refresh(form.get("refresh_token", ""), sent)
        else:
            raise GrantError(
                "unsupported_grant_type", "grant_type must be password or refresh_token"
            )
        return self._issue(user, client_id, ttl)

    def _use_refresh(self, token: str, client_id: str | None) -> tuple[str, str]:
        now = time.time()
        strict = self.config.client_id_binding == "strict"
        with self._lock:
            for cid, record in self._refresh.items():
                if token and hmac.compare_digest(record.token, token):
                    if strict and (client_id or record.user) != cid:
                        raise GrantError(
                            "invalid_grant", "The refresh token was issued to another client_id."
                        )
                    if client_id is not None and client_id != cid:
                        break
                    if record.expires <= now:
                        raise GrantError("invalid_grant", "The refresh token has expired.")
                    return record.user, cid
        raise GrantError("invalid_grant", "The refresh token is invalid or was replaced.")

    def _issue(self, user: str, client_id: str, ttl: int) -> dict[str, object]:
        now = time.time()
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        refresh_expires = now + self.config.refresh_ttl_days * DAY_SECONDS
        with self._lock:
            self._access[access] = _Access(user, now + ttl)
            self._refresh[client_id] = _Refresh(refresh, user, refresh_expires)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": ttl,
            "refresh_token": refresh,
        }

    def user_for(self, authorization: str | None) -> str:
        """The user an Authorization header proves, or AuthFailure saying what is wrong."""
        if not authorization:
            raise AuthFailure("no credentials were sent")
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer":
            with self._lock:
                record = self._access.get(value)
            if record is None:
                raise AuthFailure("the token is not valid")
            if record.expires <= time.time():
                raise AuthFailure("the token has expired")
            return record.user
        if scheme == "basic":
            user, password = _decode_basic(value)
            if not check_password(user, password):
                raise AuthFailure("the user name or password is incorrect")
            account = DEMO_USERS[user.strip().lower()]
            if account.totp is not None:
                raise AuthFailure("two-factor accounts must use a bearer token")
            return user.strip().lower()
        raise AuthFailure("unsupported authorization scheme (use Bearer or Basic)")

    def identity(self, authorization: str | None) -> str | None:
        """Who is calling, for throttling only: never raises, ignores expiry."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            with self._lock:
                record = self._access.get(value.strip())
            return record.user if record else None
        if scheme.lower() == "basic":
            user, password = _decode_basic(value.strip())
            return user.strip().lower() if check_password(user, password) else None
        return None


def _check_totp(user: str, code: str | None) -> None:
    """Two-factor accounts must send their current code as `totp` with the password."""
    account = DEMO_USERS.get(user)
    if account is None or account.totp is None:
        return
    if not code:
        raise GrantError("invalid_grant", "This account uses two-factor sign-in: send totp.")
    if not hmac.compare_digest(account.totp.encode(), code.strip().encode()):
        raise GrantError("invalid_grant", "The two-factor code (totp) is incorrect.")


def _decode_basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password
