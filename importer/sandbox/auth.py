"""OAuth2 password / refresh grants and request authentication, as Nexudus documents them.

Tokens live in memory (a restart logs everybody out, like a real token cache would).
A new token for a client_id replaces that client's refresh token; access tokens already
handed out stay valid until they expire.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from importer.sandbox.config import DEMO_USERS

#: Refresh tokens last 15 days (OAUTH).
REFRESH_TTL_SECONDS = 15 * 24 * 3600


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

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}  # client_id -> current refresh token

    def clear(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def grant(self, form: dict[str, str], ttl: int) -> dict[str, object]:
        """Answer a form-encoded token request or raise GrantError."""
        grant_type = form.get("grant_type", "")
        if grant_type == "password":
            user = form.get("username", "").strip().lower()
            if not user or not check_password(user, form.get("password", "")):
                raise GrantError("invalid_grant", "The user name or password is incorrect.")
            client_id = form.get("client_id") or user
        elif grant_type == "refresh_token":
            user, client_id = self._use_refresh(
                form.get("refresh_token", ""), form.get("client_id")
            )
        else:
            raise GrantError(
                "unsupported_grant_type", "grant_type must be password or refresh_token"
            )
        return self._issue(user, client_id, ttl)

    def _use_refresh(self, token: str, client_id: str | None) -> tuple[str, str]:
        now = time.time()
        with self._lock:
            for cid, record in self._refresh.items():
                if token and hmac.compare_digest(record.token, token):
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
        with self._lock:
            self._access[access] = _Access(user, now + ttl)
            self._refresh[client_id] = _Refresh(refresh, user, now + REFRESH_TTL_SECONDS)
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


def _decode_basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password
