"""Opt-in thumbnail checks (`--check-thumbnails`): is each image URL reachable and an image?

Each distinct URL that passed the schema's URL rules gets one HEAD request (a ranged GET,
`Range: bytes=0-0`, when the server answers HEAD with 405 or 501); a URL without a .jpg,
.jpeg, .png or .gif extension also gets its first bytes read (`Range: bytes=0-15`) and must
start like a JPG, PNG or GIF. Redirects are followed by hand, at most five hops. For every
hop the host name is resolved once, every address must be globally routable
(`schema.is_global_address`), and the request is sent to that vetted address (the Host header
and TLS server name stay the original name), so a name that resolves again to a private
address (DNS rebinding) cannot turn the check against the local network. The client is
separate from the API client and carries no credentials.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pandas as pd

from importer.codes import Rule, severity_of
from importer.findings import FINDING_COLUMNS, findings_frame
from importer.read import Sheet
from importer.schema import (
    IMAGE_EXTENSIONS,
    is_global_address,
    is_safe_image_url,
    path_extension,
    unsafe_address,
    url_problems,
)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_RANGE_TOTAL = re.compile(r"bytes\s+[^/]*/(\d+)")
#: How JPG, PNG and GIF files start.
IMAGE_MAGIC: tuple[bytes, ...] = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
SNIFF_BYTES = 16


@dataclass(frozen=True)
class Problem:
    """Why one thumbnail URL failed the online check."""

    rule: Rule
    detail: str  # completes "Thumbnail URL on row N ..."


def resolve(host: str) -> list[str]:
    """Every address `host` resolves to (raises OSError when it does not resolve)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


class ThumbnailChecker:
    """Checks image URLs concurrently; `allow_hosts` exempts hosts (tests: 127.0.0.1).

    Before each request (first URL and every redirect hop) the URL passes the schema's rules
    and its host name is resolved and every address re-checked, so a public-looking name that
    points into a private network is refused (`resolver` is injectable for tests).
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_workers: int = 8,
        allow_hosts: Collection[str] = (),
        transport: httpx.BaseTransport | None = None,
        resolver: Callable[[str], list[str]] = resolve,
    ) -> None:
        self.timeout = timeout
        self.max_workers = max_workers
        self.allow_hosts = frozenset(allow_hosts)
        self.transport = transport
        self.resolver = resolver

    def url_check(self, url: str) -> str | None:
        """The URL rules, then the addresses its host resolves to."""
        return self.vet(url)[0]

    def vet(self, url: str) -> tuple[str | None, str | None]:
        """(why `url` may not be requested, the vetted address to connect to).

        The host is resolved once; every address must be globally routable. The address
        returned is the one the request must go to (None: connect by name, for allowed hosts
        and IP literals, which need no resolving).
        """
        reason = is_safe_image_url(url, allow_hosts=self.allow_hosts)
        if reason is not None:
            return reason, None
        try:
            host = httpx.URL(url).host
        except (httpx.InvalidURL, ValueError):
            return "is not a valid web address", None
        if host in self.allow_hosts:
            return None, None
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not is_global_address(literal):
                return "points at a private or local network address", None
            return None, None
        try:
            addresses = self.resolver(host)
        except (OSError, UnicodeError):
            return None, None  # unresolvable: the request itself reports it as unreachable
        if not addresses:
            return None, None
        for address in addresses:
            reason = unsafe_address(address.split("%", 1)[0])
            if reason is None and not _is_global(address):
                reason = "points at a private or local network address"
            if reason is not None:
                return f"{reason} (its host name resolves to {address})", None
        return None, addresses[0]

    def check_all(self, urls: Iterable[str]) -> dict[str, Problem | None]:
        """Check each distinct URL once; the result maps URL -> problem (None when fine)."""
        distinct = list(dict.fromkeys(urls))
        if not distinct:
            return {}
        with (
            httpx.Client(
                timeout=self.timeout,
                follow_redirects=False,
                transport=self.transport,
                headers={"User-Agent": "course-sections-importer thumbnail check"},
                trust_env=False,
            ) as client,
            ThreadPoolExecutor(max_workers=min(self.max_workers, len(distinct))) as pool,
        ):
            results = pool.map(lambda url: self.check(client, url), distinct)
            return dict(zip(distinct, results, strict=True))

    def check(self, client: httpx.Client, url: str) -> Problem | None:
        """One URL: follow up to MAX_REDIRECTS hops by hand, then judge the final answer."""
        current = url
        reason, address = self.vet(current)
        if reason is not None:
            return Problem(Rule.INVALID_THUMBNAIL_URL, reason)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = _probe(client, current, address)
                if response.status_code not in _REDIRECTS:
                    problem = _judge(response)
                    if problem is None and _needs_sniffing(current):
                        problem = _sniff(client, current, address)
                    return problem
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
                return Problem(Rule.THUMBNAIL_UNREACHABLE, _network_reason(error))
            location = response.headers.get("location")
            if not location:
                return Problem(Rule.THUMBNAIL_UNREACHABLE, "redirects without saying where to")
            try:
                current = str(httpx.URL(current).join(location))
            except (httpx.InvalidURL, ValueError):
                return Problem(Rule.THUMBNAIL_UNREACHABLE, "redirects to an invalid address")
            reason, address = self.vet(current)
            if reason is not None:
                return Problem(Rule.INVALID_THUMBNAIL_URL, f"redirects to an address that {reason}")
        return Problem(Rule.THUMBNAIL_UNREACHABLE, f"redirects more than {MAX_REDIRECTS} times")


def _is_global(address: str) -> bool:
    try:
        return is_global_address(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False


def _pinned(url: str, address: str | None) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """(URL to request, extra headers, request extensions): with a vetted `address`, the
    connection goes to that address while Host and the TLS server name stay the name."""
    target = httpx.URL(url)
    if address is None:
        return target, {}, {}
    host = target.host
    netloc = host if target.port is None else f"{host}:{target.port}"
    pinned = target.copy_with(host=address)
    extensions = {"sni_hostname": host} if target.scheme == "https" else {}
    return pinned, {"Host": netloc}, extensions


def _needs_sniffing(url: str) -> bool:
    """Without an image extension, only the first bytes tell what the file is."""
    return path_extension(httpx.URL(url).path) not in IMAGE_EXTENSIONS


def _sniff(client: httpx.Client, url: str, address: str | None) -> Problem | None:
    """Read the first bytes (ranged GET) and check they start a JPG, PNG or GIF."""
    target, headers, extensions = _pinned(url, address)
    headers["Range"] = f"bytes=0-{SNIFF_BYTES - 1}"
    with client.stream("GET", target, headers=headers, extensions=extensions) as response:
        if not 200 <= response.status_code < 300:
            return Problem(
                Rule.THUMBNAIL_UNREACHABLE,
                f"answered HTTP {response.status_code} instead of the image",
            )
        head = b""
        for chunk in response.iter_bytes():
            head += chunk
            if len(head) >= SNIFF_BYTES:
                break
    if not head.startswith(IMAGE_MAGIC):
        return Problem(Rule.THUMBNAIL_NOT_IMAGE, "does not start like a JPG, PNG or GIF image")
    return None


def _network_reason(error: Exception) -> str:
    """Why a request failed, in words a person can act on (not an exception class name)."""
    if isinstance(error, httpx.TimeoutException):
        return "could not be reached (the server did not answer in time)"
    if isinstance(error, httpx.ConnectError):
        return "could not be reached (no connection to that server; check the address)"
    return "could not be reached (the connection failed)"


def _probe(client: httpx.Client, url: str, address: str | None = None) -> httpx.Response:
    """HEAD, or a one-byte ranged GET when the server does not support HEAD (body not read);
    sent to the vetted `address` when there is one."""
    target, headers, extensions = _pinned(url, address)
    response = client.head(target, headers=headers, extensions=extensions)
    if response.status_code not in (405, 501):
        return response
    headers["Range"] = "bytes=0-0"
    with client.stream("GET", target, headers=headers, extensions=extensions) as streamed:
        return streamed  # headers only: the body is never downloaded


def _size(response: httpx.Response) -> int | None:
    total = _CONTENT_RANGE_TOTAL.match(response.headers.get("content-range", ""))
    if total:
        return int(total.group(1))
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() and response.status_code != 206 else None


def _judge(response: httpx.Response) -> Problem | None:
    if not 200 <= response.status_code < 300:
        return Problem(
            Rule.THUMBNAIL_UNREACHABLE, f"answered HTTP {response.status_code} instead of the image"
        )
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        shown = content_type or "no content type"
        return Problem(Rule.THUMBNAIL_NOT_IMAGE, f"is not a JPG, PNG or GIF image ({shown})")
    size = _size(response)
    if size is not None and size > MAX_IMAGE_BYTES:
        megabytes = size / (1024 * 1024)
        return Problem(Rule.THUMBNAIL_TOO_LARGE, f"is {megabytes:.1f} MB, over the 10 MB limit")
    return None


def thumbnail_findings(
    table: pd.DataFrame, sheet: Sheet, checker: ThumbnailChecker | None = None
) -> pd.DataFrame:
    """Findings for rows whose (rule-abiding) thumbnail URL fails the online check.

    `table` is the typed table with a positional index matching `sheet.raw`.
    """
    checker = checker or ThumbnailChecker()
    urls = table["NewImageUrl"]
    problems = url_problems(urls, allow_hosts=checker.allow_hosts)
    candidates = urls[urls.notna() & problems.isna()]
    results = checker.check_all(candidates.tolist())
    positions: list[int] = candidates.index.to_numpy(dtype="int64").tolist()
    failing = [
        (pos, results[url])
        for pos, url in zip(positions, candidates.tolist(), strict=True)
        if results.get(url)
    ]
    if not failing:
        return findings_frame()
    raw_col = sheet.columns["NewImageUrl"]
    header = raw_col  # as the person typed it
    rows: list[dict[str, object]] = []
    for pos, problem in failing:
        assert problem is not None
        source_row = int(table["source_row"].iloc[pos])
        rows.append(
            {
                "source_row": source_row,
                "column": raw_col,
                "field": "NewImageUrl",
                "value": str(sheet.raw[raw_col].iloc[pos]),
                "rule": str(problem.rule),
                "severity": str(severity_of(problem.rule)),
                "message": f"{header} on row {source_row} {problem.detail}: "
                "check the address opens the image in a browser, or clear it.",
            }
        )
    return findings_frame(pd.DataFrame(rows, columns=list(FINDING_COLUMNS)))
