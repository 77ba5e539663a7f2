"""Credentials and log redaction: the only places a token or password is handled as text.

`Credentials` hides its secrets from repr; `install_redaction` adds a logging filter that
masks "Bearer ...", "access_token=...", "password=..." and the like, as a second line of
defence behind never logging them at all (docs/reliability.md section 7). `SECRET_NAME`
(secret-looking key names) and `safe_url` (no user:password@ or query) keep secrets out of
sections.toml, summary.json and the batch summary.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from importer.errors import AuthError


@dataclass(frozen=True)
class Credentials:
    """A bearer token, or a username + password (+ TOTP) for the password grant.

    The repr never shows the token, password or TOTP.
    """

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    totp: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        def hidden(value: str | None) -> str:
            return "'***'" if value else "None"

        return (
            f"Credentials(token={hidden(self.token)}, username={self.username!r}, "
            f"password={hidden(self.password)}, totp={hidden(self.totp)})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Credentials:
        """Read NEXUDUS_TOKEN, or NEXUDUS_USERNAME + NEXUDUS_PASSWORD (+ NEXUDUS_TOTP).

        Raises AuthError (one clear line) when neither is set, or when the token could
        not be sent in an HTTP header (see `is_header_safe`).
        """

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        creds = cls(
            token=get("NEXUDUS_TOKEN"),
            username=get("NEXUDUS_USERNAME"),
            password=get("NEXUDUS_PASSWORD"),
            totp=get("NEXUDUS_TOTP"),
        )
        if creds.token is not None and not is_header_safe(creds.token):
            raise AuthError(
                "NEXUDUS_TOKEN is not a valid token: it has spaces, control or non-ASCII "
                "characters; copy it again"
            )
        if creds.username and not creds.password and not creds.token:
            raise AuthError("NEXUDUS_USERNAME is set but NEXUDUS_PASSWORD is not")
        if not creds.token and not creds.can_login:
            raise AuthError(
                "no credentials: set NEXUDUS_TOKEN, or NEXUDUS_USERNAME and "
                "NEXUDUS_PASSWORD (plus NEXUDUS_TOTP if the account uses 2FA)"
            )
        return creds

    @property
    def can_login(self) -> bool:
        """True when a password grant is possible (so an expired token can be replaced)."""
        return bool(self.username and self.password)

    def describe(self) -> str:
        """A safe description for messages, e.g. 'password grant for creator@example.com'."""
        if self.can_login:
            extra = " with TOTP" if self.totp else ""
            return f"password grant for {self.username}{extra}"
        if self.token:
            return "bearer token from NEXUDUS_TOKEN"
        return "no credentials"


def is_header_safe(value: str) -> bool:
    """True when `value` can travel in an HTTP header as one token: printable ASCII, no spaces.

    A token pasted with a stray non-ASCII character (or a newline) would otherwise fail deep
    inside httpx; checking it up front turns that into one clear AuthError.
    """
    return bool(value) and all(0x21 <= ord(char) <= 0x7E for char in value)


# -- secrets in names and addresses ----------------------------------------------------

#: Names (config keys, summary.json keys) that mark a value as a secret: refused in
#: sections.toml, dropped from reports.
SECRET_NAME = re.compile(
    r"token|passw|secret|credential|api[_-]?key|authori[sz]|totp|bearer|cookie", re.IGNORECASE
)


def safe_url(text: str) -> str:
    """Drop user:password@ and the query string from http(s) URLs (they can carry secrets)."""
    if not text.startswith(("http://", "https://")):
        return text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return text
    if "@" not in parts.netloc and not parts.query:
        return text
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# -- logging redaction ------------------------------------------------------------------

_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"(?i)\b(access_token|refresh_token|password|totp|token)=[^&\s\"',;]+"), r"\1=***"),
    (
        re.compile(
            r"(?i)([\"'](?:access_token|refresh_token|password|totp)[\"']\s*:\s*)"
            r"[\"'][^\"']*[\"']"
        ),
        r"\1'***'",
    ),
)


def redact(text: str) -> str:
    """Mask bearer/basic credentials and token/password parameters in `text`."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message (and exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_redaction(target: logging.Logger | logging.Handler) -> RedactingFilter:
    """Add a RedactingFilter to a logger or handler (put it on handlers to catch children)."""
    for existing in target.filters:
        if isinstance(existing, RedactingFilter):
            return existing
    redacting = RedactingFilter()
    target.addFilter(redacting)
    return redacting
