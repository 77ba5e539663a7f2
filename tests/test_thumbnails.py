"""--check-thumbnails against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from test_schema import found, make_sheet

from importer.codes import Rule
from importer.thumbnails import MAX_REDIRECTS, ThumbnailChecker, thumbnail_findings
from importer.validate import validate_sheet

HUGE = 20 * 1024 * 1024
SEEN: list[tuple[str, str, str | None]] = []  # (method, path, Range header)


class Handler(BaseHTTPRequestHandler):
    """Routes: each path is one behaviour a thumbnail host may have."""

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def _route(self) -> None:
        SEEN.append((self.command, self.path, self.headers.get("Range")))
        path = self.path
        if path == "/img.png":
            self._answer(200, {"Content-Type": "image/png"}, b"\x89PNG" + b"0" * 96)
        elif path == "/page.png":
            self._answer(200, {"Content-Type": "text/html; charset=utf-8"}, b"<html></html>")
        elif path == "/huge.jpg":
            self._answer(200, {"Content-Type": "image/jpeg", "Content-Length": str(HUGE)})
        elif path == "/missing.png":
            self._answer(404, {"Content-Type": "text/plain"}, b"no")
        elif path.startswith("/nohead"):
            if self.command == "HEAD":
                self._answer(405 if "405" in path else 501, {})
            else:
                total = HUGE if "huge" in path else 500
                self._answer(
                    206,
                    {"Content-Type": "image/gif", "Content-Range": f"bytes 0-0/{total}"},
                    b"G",
                )
        elif path == "/to-private.png":
            self._answer(302, {"Location": "http://10.0.0.1/a.png"})
        elif path == "/to-name.png":
            self._answer(302, {"Location": "http://images.internal.test/a.png"})
        elif path == "/to-img.png":
            self._answer(301, {"Location": "/img.png"})
        elif path == "/loop.png":
            self._answer(302, {"Location": "/loop.png"})
        else:
            self._answer(500, {})

    do_HEAD = _route
    do_GET = _route


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def checker() -> ThumbnailChecker:
    return ThumbnailChecker(allow_hosts={"127.0.0.1"}, timeout=5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rule_of(checker: ThumbnailChecker, url: str) -> Rule | None:
    problem = checker.check_all([url])[url]
    return None if problem is None else problem.rule


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/img.png", None),
        ("/to-img.png", None),
        ("/nohead-405.gif", None),
        ("/page.png", Rule.THUMBNAIL_NOT_IMAGE),
        ("/huge.jpg", Rule.THUMBNAIL_TOO_LARGE),
        ("/nohead-501-huge.gif", Rule.THUMBNAIL_TOO_LARGE),
        ("/missing.png", Rule.THUMBNAIL_UNREACHABLE),
        ("/loop.png", Rule.THUMBNAIL_UNREACHABLE),
        ("/to-private.png", Rule.INVALID_THUMBNAIL_URL),
    ],
)
def test_each_server_behaviour(server: str, checker: ThumbnailChecker, path: str, rule) -> None:
    assert rule_of(checker, server + path) == rule


def test_head_then_ranged_get_only_when_head_is_not_supported(server: str, checker) -> None:
    SEEN.clear()
    checker.check_all([f"{server}/img.png", f"{server}/nohead-405.gif"])
    assert ("HEAD", "/img.png", None) in SEEN
    assert not any(method == "GET" and path == "/img.png" for method, path, _ in SEEN)
    assert ("GET", "/nohead-405.gif", "bytes=0-0") in SEEN


def test_redirect_loop_stops_after_max_hops(server: str, checker) -> None:
    SEEN.clear()
    checker.check_all([f"{server}/loop.png"])
    assert len([s for s in SEEN if s[1] == "/loop.png"]) == MAX_REDIRECTS + 1


def test_redirect_to_private_address_is_not_followed(server: str, checker) -> None:
    """The hop is re-checked with the URL rules before any request is made to it."""
    SEEN.clear()
    checker.check_all([f"{server}/to-private.png"])
    assert SEEN == [("HEAD", "/to-private.png", None)]


def test_connection_refused_is_unreachable(checker) -> None:
    assert rule_of(checker, f"http://127.0.0.1:{closed_port()}/a.png") == (
        Rule.THUMBNAIL_UNREACHABLE
    )


def test_unreachable_reason_is_words_not_an_exception_name(checker) -> None:
    """People read "no connection to that server", never "ConnectError"."""
    result = checker.check_all([f"http://127.0.0.1:{closed_port()}/a.png"])
    (problem,) = result.values()
    assert problem is not None and "no connection to that server" in problem.detail
    assert "Error" not in problem.detail


def test_each_distinct_url_is_checked_once(server: str, checker) -> None:
    SEEN.clear()
    checker.check_all([f"{server}/img.png"] * 5)
    assert len(SEEN) == 1


def test_production_checker_refuses_loopback() -> None:
    """Without allow_hosts, a loopback redirect target is refused (strict by default)."""
    problem = ThumbnailChecker().url_check("http://127.0.0.1/a.png")
    assert problem is not None


def test_findings_point_at_the_rows_with_the_url(server: str, checker) -> None:
    sheet = make_sheet(
        [
            {"NewImageUrl": f"{server}/page.png"},
            {},
            {"NewImageUrl": f"{server}/img.png"},
            {"NewImageUrl": f"{server}/page.png"},
        ]
    )
    result = validate_sheet(sheet)
    frame = thumbnail_findings(result.table, sheet, checker)
    assert set(zip(frame["rule"], frame["source_row"], strict=True)) == {
        (Rule.THUMBNAIL_NOT_IMAGE, 2),
        (Rule.THUMBNAIL_NOT_IMAGE, 5),
    }
    assert set(frame["value"]) == {f"{server}/page.png"}


def test_validate_sheet_runs_the_check_when_asked(server: str, checker) -> None:
    sheet = make_sheet([{"NewImageUrl": f"{server}/huge.jpg"}])
    plain = validate_sheet(sheet)
    checked = validate_sheet(sheet, check_thumbnails=True, thumbnail_checker=checker)
    assert Rule.THUMBNAIL_TOO_LARGE not in set(plain.findings["rule"])
    assert (Rule.THUMBNAIL_TOO_LARGE, 2) in found(checked)


def test_redirect_to_a_name_resolving_privately_is_refused(server: str) -> None:
    """The hop's host name is resolved and every address re-checked before following it."""
    checker = ThumbnailChecker(
        allow_hosts={"127.0.0.1"}, resolver=lambda host: ["192.168.1.20"], timeout=5
    )
    SEEN.clear()
    assert rule_of(checker, f"{server}/to-name.png") == Rule.INVALID_THUMBNAIL_URL
    assert SEEN == [("HEAD", "/to-name.png", None)]


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.url}")


def test_public_name_resolving_to_a_private_address_is_never_requested() -> None:
    checker = ThumbnailChecker(
        resolver=lambda host: ["93.184.216.34", "10.0.0.7"], transport=httpx.MockTransport(_refuse)
    )
    assert rule_of(checker, "https://img.example.com/a.png") == Rule.INVALID_THUMBNAIL_URL


def test_public_name_resolving_publicly_is_checked() -> None:
    def image(request: httpx.Request) -> httpx.Response:
        assert request.method == "HEAD"
        return httpx.Response(200, headers={"Content-Type": "image/png", "Content-Length": "10"})

    checker = ThumbnailChecker(
        resolver=lambda host: ["93.184.216.34"], transport=httpx.MockTransport(image)
    )
    assert rule_of(checker, "https://img.example.com/a.png") is None


# --- DNS pinning and content sniffing (a patched resolver; the transport records requests) ---


def test_dns_rebinding_cannot_reach_a_second_address() -> None:
    """The name resolves publicly once, then to loopback: the request still goes to the
    vetted public address, with the original Host header and TLS server name."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: str) -> list[str]:
        lookups.append(host)
        return next(answers)

    sent: list[tuple[str, str | None, object]] = []

    def image(request: httpx.Request) -> httpx.Response:
        sent.append(
            (request.url.host, request.headers.get("host"), request.extensions.get("sni_hostname"))
        )
        return httpx.Response(200, headers={"Content-Type": "image/png", "Content-Length": "10"})

    checker = ThumbnailChecker(resolver=rebinding, transport=httpx.MockTransport(image))
    assert rule_of(checker, "https://rebind.example.com/a.png") is None
    assert lookups == ["rebind.example.com"]  # resolved once
    assert sent == [("93.184.216.34", "rebind.example.com", "rebind.example.com")]


def test_redirect_hop_is_resolved_and_pinned_again() -> None:
    """Each hop gets its own single lookup; a hop resolving privately is never requested."""
    resolved = {"a.example.com": ["93.184.216.34"], "b.example.com": ["100.64.0.9"]}
    sent: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://b.example.com/x.png"})

    checker = ThumbnailChecker(
        resolver=resolved.__getitem__, transport=httpx.MockTransport(redirect)
    )
    assert rule_of(checker, "https://a.example.com/a.png") == Rule.INVALID_THUMBNAIL_URL
    assert sent == ["https://93.184.216.34/a.png"]


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, None),
        (b"<html>not an image</html>", Rule.THUMBNAIL_NOT_IMAGE),
    ],
)
def test_url_without_extension_is_judged_by_its_first_bytes(body: bytes, rule: Rule | None) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "image/png", "Content-Length": str(len(body))}
        if request.method == "GET":
            assert request.headers["range"] == "bytes=0-15"
            return httpx.Response(206, headers=headers, content=body[:16])
        return httpx.Response(200, headers=headers)

    checker = ThumbnailChecker(
        resolver=lambda host: ["93.184.216.34"], transport=httpx.MockTransport(serve)
    )
    assert rule_of(checker, "https://cdn.example.com/img/12345") == rule


def test_extensionless_url_is_a_warning_offline_and_checked_online() -> None:
    sheet = make_sheet([{"NewImageUrl": "https://cdn.example.com/img/12345"}])
    offline = validate_sheet(sheet)
    assert offline.ok and found(offline) == {(str(Rule.THUMBNAIL_TYPE_UNKNOWN), 2)}
    assert "--check-thumbnails" in offline.findings["message"].iloc[0]

    def png(request: httpx.Request) -> httpx.Response:
        body = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=body)

    online_checker = ThumbnailChecker(
        resolver=lambda host: ["93.184.216.34"], transport=httpx.MockTransport(png)
    )
    online = validate_sheet(sheet, check_thumbnails=True, thumbnail_checker=online_checker)
    assert online.findings.empty  # the online check decided: an image
