"""The one spelling of an API scope: what the ledger keys records by and the account lock.

`https://Spaces.Nexudus.com/`, `https://spaces.nexudus.com:443` and the IDNA form of a
host are one API; written differently they must not look like two, or two runs (or one run
and its rerun) would each believe they are the only writer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_scope(scope: str) -> str:
    """`scheme://host:port/path` with a lower-case IDNA host, an explicit port and no
    trailing slash. Other scopes (a sandbox's data file, `sandbox:/path`) are kept as written,
    since file names can differ only in case."""
    text = scope.strip()
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").encode("idna").decode("ascii")
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except (UnicodeError, ValueError):  # not a host name or port: compare it as text
        return text.rstrip("/").lower()
    host = host.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    where = f"{host}:{port}" if port else host
    return f"{scheme}://{where}{parts.path.rstrip('/')}"
