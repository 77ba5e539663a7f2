"""NexudusClient against the real sandbox over loopback: auth, paging, throttling, faults."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sysconfig
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from importer.client import Credentials, NexudusClient
from importer.errors import (
    AlreadyGoneError,
    AmbiguousError,
    AuthError,
    NotFoundError,
    RejectedError,
    ThrottledError,
    TlsError,
    TransportError,
)
from importer.pacing import Pacer
from importer.retry import RetryPolicy, call_create
from importer.sandbox import SandboxConfig, SandboxServer

ADMIN = Credentials(username="admin@example.com", password="admin")
CREATOR = Credentials(username="creator@example.com", password="creator")
VIEWER = Credentials(username="viewer@example.com", password="viewer")
NO_SLEEP = RetryPolicy(sleep=lambda s: None)


def section(course: int, order: int, title: str | None = None) -> dict[str, Any]:
    return {
        "CourseId": course,
        "Title": title or f"Section {order}",
        "DisplayOrder": order,
        "UnlockType": 1,
        "UnlockAfterDays": 0,
    }


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One sandbox for this module, unthrottled; each test resets it and sets what it needs."""
    with SandboxServer(SandboxConfig(control=True, throttle=False, seed=7)) as running:
        yield running


@pytest.fixture
def sandbox_url(server: SandboxServer) -> str:
    """A clean sandbox: default faults, no throttle, empty store (seeded courses only)."""
    control(server, "reset")
    configure(
        server,
        throttle=False,
        fail_rate=0.0,
        ambiguous_rate=0.0,
        token_ttl=3600,
        value_shape="id",
        failures_as_200=False,
    )
    return server.url


def control(server: SandboxServer, what: str) -> Any:
    response = httpx.post(f"{server.control_url}/{what}")
    response.raise_for_status()
    return response.json()


def configure(server: SandboxServer, **changes: object) -> None:
    httpx.post(f"{server.control_url}/config", json=changes).raise_for_status()


def stored(server: SandboxServer) -> list[dict[str, Any]]:
    return httpx.get(f"{server.control_url}/sections").json()


def client(url: str, creds: Credentials = CREATOR, **kwargs: Any) -> NexudusClient:
    kwargs.setdefault("read_policy", NO_SLEEP)
    return NexudusClient(url, creds, **kwargs)


def test_create_and_list_every_page(server: SandboxServer, sandbox_url: str) -> None:
    """Seven sections created by the admin come back in order over three small pages."""
    with client(sandbox_url, ADMIN) as api:
        ids = [api.create_section(section(102, order)) for order in range(7, 0, -1)]
        records = api.list_sections(102, page_size=3)
        assert api.list_sections(101) == []
    assert len(set(ids)) == 7
    assert [r["DisplayOrder"] for r in records] == list(range(1, 8))
    assert sorted(r["Id"] for r in records) == sorted(ids)
    stats = api.stats.as_dict()
    assert stats["requests"] == {"auth": 1, "post": 7, "list": 4}
    assert len(stored(server)) == 7


def test_value_as_whole_record(server: SandboxServer, sandbox_url: str) -> None:
    """The sandbox's 'record' Value shape still yields the new Id."""
    configure(server, value_shape="record")
    with client(sandbox_url) as api:
        new_id = api.create_section(section(101, 1))
    assert [s["Id"] for s in stored(server)] == [new_id]


def test_get_course_known_and_unknown(sandbox_url: str) -> None:
    """Course 101 exists; course 999 is None (a 404, not an error)."""
    with client(sandbox_url) as api:
        course = api.get_course(101)
        assert course is not None and course["Id"] == 101
        assert api.get_course(999) is None


def test_viewer_cannot_create(server: SandboxServer, sandbox_url: str) -> None:
    """A viewer's POST is refused: AuthError after exactly one refresh, nothing stored."""
    with client(sandbox_url, VIEWER) as api, pytest.raises(AuthError) as info:
        api.create_section(section(101, 1))
    assert "CourseSection-Create" in str(info.value)
    assert api.stats.as_dict()["requests"] == {"auth": 2, "post": 2}
    assert stored(server) == []


def test_wrong_password_is_auth_error(sandbox_url: str) -> None:
    """invalid_grant from /api/token becomes AuthError without the password in it."""
    creds = Credentials(username="creator@example.com", password="not-the-password")
    with client(sandbox_url, creds) as api, pytest.raises(AuthError) as info:
        api.create_section(section(101, 1))
    assert "not-the-password" not in str(info.value)


def test_400_is_rejected_with_property_name(server: SandboxServer, sandbox_url: str) -> None:
    """A missing Title is a RejectedError naming the Title property (as "Section title")."""
    payload = section(101, 1)
    del payload["Title"]
    with client(sandbox_url) as api, pytest.raises(RejectedError) as info:
        api.create_section(payload)
    assert info.value.status == 400
    assert "Title" in [prop for prop, _ in info.value.api_errors]
    assert str(info.value).startswith("Section title: ")  # the sheet's header, not the API's
    assert stored(server) == []


def test_failure_reported_as_200_is_rejected(server: SandboxServer, sandbox_url: str) -> None:
    """The real quirk: WasSuccessful false on HTTP 200 is still a rejection."""
    configure(server, failures_as_200=True)
    with client(sandbox_url) as api, pytest.raises(RejectedError) as info:
        api.create_section(section(999, 1))
    assert info.value.status == 200
    assert info.value.errors


def test_throttle_409_is_classified_with_retry_after(
    server: SandboxServer, sandbox_url: str
) -> None:
    """Over the sandbox's write limit the POST gets 409 + Retry-After: ThrottledError."""
    configure(
        server, throttle=True, writes_per_minute=2, requests_per_minute=1000, min_interval_ms=0
    )
    pacer = Pacer(writes_per_minute=10_000, requests_per_minute=10_000, min_interval=0)
    with client(sandbox_url, pacer=pacer) as api:
        api.create_section(section(101, 1))
        api.create_section(section(101, 2))
        with pytest.raises(ThrottledError) as info:
            api.create_section(section(101, 3))
    assert info.value.status == 409
    assert info.value.retry_after is not None and 1 <= info.value.retry_after <= 60
    assert api.stats.as_dict()["throttled"] == 1
    assert pacer.throttle_count == 1 and pacer.write_rate < 10_000
    assert len(stored(server)) == 2


def test_paced_workers_never_trip_the_throttle(server: SandboxServer, sandbox_url: str) -> None:
    """Two threads sharing one client and one pacer stay under the sandbox's request gap."""
    configure(
        server, throttle=True, writes_per_minute=1000, requests_per_minute=1000, min_interval_ms=50
    )
    pacer = Pacer(writes_per_minute=1000, requests_per_minute=1000, min_interval=0.1)
    errors: list[BaseException] = []
    with client(sandbox_url, pacer=pacer) as api:

        def worker(start: int) -> None:
            for order in range(start, start + 5):
                try:
                    api.create_section(section(103, order))
                except Exception as exc:  # collected and asserted below
                    errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    stats = api.stats.as_dict()
    assert stats["throttled"] == 0 and stats["requests"] == {"auth": 1, "post": 10}
    assert len(stored(server)) == 10


def test_ambiguous_fault_leaves_the_section_on_the_server(
    server: SandboxServer, sandbox_url: str
) -> None:
    """Stored-then-5xx or dropped answers are AmbiguousError, and each section IS stored."""
    configure(server, ambiguous_rate=1.0)
    causes = []
    with client(sandbox_url) as api:
        for order in range(1, 7):
            with pytest.raises(AmbiguousError) as info:
                call_create(lambda o=order: api.create_section(section(101, o)), NO_SLEEP)
            causes.append(info.value.cause)
        configure(server, ambiguous_rate=0.0)
        found = api.list_sections(101)
    assert api.stats.as_dict()["requests"]["post"] == 6  # never re-sent
    assert sorted(r["DisplayOrder"] for r in found) == list(range(1, 7))
    assert all(causes)


def test_expired_token_is_refreshed_transparently(server: SandboxServer, sandbox_url: str) -> None:
    """With 1 s tokens, a later request gets a 401, refreshes once and succeeds."""
    configure(server, token_ttl=1)
    with client(sandbox_url) as api:
        api.create_section(section(101, 1))
        time.sleep(1.2)
        api.create_section(section(101, 2))
    stats = api.stats.as_dict()
    assert stats["refreshes"] == 1 and stats["requests"]["auth"] == 2
    assert stats["statuses"].get("401") == 1
    assert len(stored(server)) == 2


def test_no_secret_in_logs(sandbox_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Even at DEBUG, no access token, refresh token or password reaches the log records."""
    creds = Credentials(username="creator@example.com", password="creator")
    with caplog.at_level(logging.DEBUG), client(sandbox_url, creds) as api:
        api.create_section(section(101, 1))
        api.list_sections(101)
        token, refresh = api._tokens._access, api._tokens._refresh_token
        try:
            api.create_section(section(101, 2, title=""))
        except RejectedError as exc:
            logging.getLogger("test").warning("rejected: %s", exc)
    assert token and refresh
    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert token not in text and refresh not in text
    assert "password=creator" not in text and "Bearer " not in text


#: Python's own self-signed test certificate (CN=localhost); no `cryptography` needed.
SELF_SIGNED = Path(sysconfig.get_paths()["stdlib"]) / "test" / "certdata" / "keycert.pem"


@pytest.fixture
def self_signed_server() -> Iterator[tuple[str, list[int]]]:
    """A loopback TLS listener with a self-signed certificate; counts connections."""
    if not SELF_SIGNED.exists():
        pytest.skip(
            "self-signed TLS needs a certificate: neither 'cryptography' nor Python's "
            "test/certdata/keycert.pem is available; test_client.py covers the "
            "classification with a MockTransport"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(SELF_SIGNED)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            with conn, contextlib.suppress(OSError):
                context.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://localhost:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_self_signed_tls_fails_fast(self_signed_server: tuple[str, list[int]]) -> None:
    """An untrusted certificate is TlsError at once: one connection, no retry, no fallback."""
    url, accepted = self_signed_server
    sleeps: list[float] = []
    with client(url) as api, pytest.raises(TlsError, match="not trusted"):
        call_create(lambda: api.create_section(section(101, 1)), RetryPolicy(sleep=sleeps.append))
    assert sleeps == []
    assert len(accepted) == 1


@pytest.mark.parametrize("form", ["context", "path"])
def test_a_trusted_ca_bundle_gets_past_the_certificate_check(
    self_signed_server: tuple[str, list[int]], form: str
) -> None:
    """verify=<CA context or bundle path> passes the handshake (the listener then hangs up)."""
    url, _ = self_signed_server
    trusted: object = str(SELF_SIGNED)
    if form == "context":
        trusted = ssl.create_default_context(cafile=str(SELF_SIGNED))
    with client(url, verify=trusted) as api, pytest.raises(TransportError) as info:
        api.create_section(section(101, 1))
    assert not isinstance(info.value, TlsError)


# -- the calls other stages need next, over loopback ------------------------------------------


def test_get_update_and_delete_a_section(server: SandboxServer, sandbox_url: str) -> None:
    """GET by id, PUT the whole record, DELETE it; a second DELETE says it is already gone."""
    with client(sandbox_url, ADMIN) as api:
        new_id = api.create_section(section(101, 1, "Before"))
        record = api.get_section(new_id)
        assert record is not None and record["Title"] == "Before"
        api.update_section({**section(101, 1, "After"), "Id": new_id})
        assert [s["Title"] for s in stored(server)] == ["After"]
        api.delete_section(new_id)
        assert stored(server) == []
        assert api.get_section(new_id) is None
        with pytest.raises(AlreadyGoneError):
            api.delete_section(new_id)
        with pytest.raises(NotFoundError):
            api.update_section({**section(101, 1), "Id": new_id})
    requests = api.stats.as_dict()["requests"]
    assert requests["put"] == 2 and requests["delete"] == 2 and requests["get_section"] == 2


def test_account_wide_listing_and_course_listing(server: SandboxServer, sandbox_url: str) -> None:
    """list_sections(None) reads every course's sections over several pages; list_courses
    reads the seeded courses."""
    with client(sandbox_url, ADMIN) as api:
        for order in range(1, 8):
            api.create_section(section(101 + order % 3, order))
        everything = api.list_sections(None, page_size=3)
        courses = api.list_courses(page_size=2)
    assert sorted(r["DisplayOrder"] for r in everything) == list(range(1, 8))
    assert {r["CourseId"] for r in everything} == {101, 102, 103}
    assert {c["Id"] for c in courses} >= {101, 102, 103}
    assert api.stats.as_dict()["requests"]["list"] == 3


def test_server_failures_to_a_post_are_ambiguous_and_not_resent(
    server: SandboxServer, sandbox_url: str
) -> None:
    """The sandbox's injected 500/502/503 (503 with Retry-After): each is an unknown
    outcome for a write, never a throttle, and call_create does not send it again."""
    configure(server, fail_rate=1.0)
    statuses = set()
    with client(sandbox_url) as api:
        for order in range(1, 13):
            with pytest.raises(AmbiguousError) as info:
                call_create(lambda o=order: api.create_section(section(101, o)), NO_SLEEP)
            statuses.add(info.value.status)
    assert api.stats.as_dict()["requests"]["post"] == 12
    assert statuses <= {500, 502, 503, 504} and len(statuses) >= 2
