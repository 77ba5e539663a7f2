"""NexudusClient unit tests with an injected httpx.MockTransport: every classification."""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest

from importer.client import (
    Credentials,
    NexudusClient,
    install_redaction,
    parse_retry_after,
    redact,
)
from importer.errors import (
    AmbiguousError,
    AuthError,
    ConfigError,
    RejectedError,
    ThrottledError,
    TlsError,
    TransportError,
)
from importer.pacing import Cancelled, Pacer
from importer.retry import RetryPolicy, call_create

BASE = "https://api.test"
PAYLOAD = {
    "CourseId": 101,
    "Title": "Intro",
    "DisplayOrder": 1,
    "UnlockType": 1,
    "UnlockAfterDays": 0,
}
SECRET = "s3cret-pass"
CREDS = Credentials(username="creator@example.com", password=SECRET)
Handler = Callable[[httpx.Request], httpx.Response]


def ok(value: object = None) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "Status": 200,
            "Message": "CourseSection was created.",
            "Value": value if value is not None else {"Id": 501},
            "Errors": None,
            "WasSuccessful": True,
        },
    )


class FakeApi:
    """Token endpoint plus a scripted answer (or exception) per content request."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.token_forms: list[dict[str, list[str]]] = []
        self.tokens_issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/token":
            form = parse_qs(request.content.decode())
            self.token_forms.append(form)
            self.tokens_issued += 1
            n = self.tokens_issued
            return httpx.Response(
                200,
                json={
                    "access_token": f"tok-{n}",
                    "token_type": "bearer",
                    "expires_in": 3600,
                    "refresh_token": f"ref-{n}",
                },
            )
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    @property
    def content_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/api/token"]


def client_for(api: FakeApi, **kwargs: object) -> NexudusClient:
    kwargs.setdefault("read_policy", RetryPolicy(sleep=lambda s: None))
    return NexudusClient(
        BASE,
        kwargs.pop("credentials", CREDS),  # type: ignore[arg-type]
        transport=httpx.MockTransport(api),
        **kwargs,
    )  # type: ignore[arg-type]


# -- success shapes ---------------------------------------------------------------------


def test_create_logs_in_then_posts_json_with_bearer() -> None:
    """Password grant is form-encoded with a fixed client_id; the POST carries the token."""
    api = FakeApi(ok({"Id": 777}))
    with client_for(api) as client:
        assert client.create_section(PAYLOAD) == 777
    form = api.token_forms[0]
    assert form["grant_type"] == ["password"]
    assert form["username"] == ["creator@example.com"]
    assert form["client_id"] == ["course-sections-importer:creator@example.com"]
    post = api.content_requests[0]
    assert post.method == "POST" and post.url.path == "/api/content/coursesections"
    assert post.headers["Authorization"] == "Bearer tok-1"
    assert json.loads(post.content) == PAYLOAD
    assert client.stats.as_dict()["requests"] == {"auth": 1, "post": 1}


def test_value_may_be_the_whole_record() -> None:
    """Value as a full CourseSection still yields its Id."""
    api = FakeApi(ok({"Id": 9, "CourseId": 101, "Title": "Intro", "UniqueId": "x"}))
    with client_for(api) as client:
        assert client.create_section(PAYLOAD) == 9


def test_token_credentials_skip_the_token_endpoint() -> None:
    """A NEXUDUS_TOKEN is used as is."""
    api = FakeApi(ok())
    with client_for(api, credentials=Credentials(token="given-token")) as client:
        client.create_section(PAYLOAD)
    assert api.tokens_issued == 0
    assert api.requests[0].headers["Authorization"] == "Bearer given-token"


# -- rejections -------------------------------------------------------------------------


def test_400_is_rejected_with_property_errors() -> None:
    """A 400 lists (PropertyName, Message) pairs and joins them into the message."""
    body = {
        "Message": "Title: is required",
        "Value": None,
        "WasSuccessful": False,
        "Errors": [
            {"AttemptedValue": None, "Message": "is required", "PropertyName": "Title"},
            {"AttemptedValue": 0, "Message": "too small", "PropertyName": "DisplayOrder"},
        ],
    }
    api = FakeApi(httpx.Response(400, json=body))
    with client_for(api) as client, pytest.raises(RejectedError) as info:
        client.create_section(PAYLOAD)
    assert info.value.api_errors == (("Title", "is required"), ("DisplayOrder", "too small"))
    assert info.value.errors == (("Section title", "is required"), ("Display order", "too small"))
    assert str(info.value) == "Section title: is required; Display order: too small"
    assert info.value.status == 400


def test_was_successful_false_on_200_is_rejected() -> None:
    """HTTP 200 with WasSuccessful false is a rejection, not a success."""
    body = {
        "Status": 200,
        "Message": "CourseId: no such course",
        "Value": None,
        "WasSuccessful": False,
        "Errors": [{"Message": "no such course", "PropertyName": "CourseId"}],
    }
    api = FakeApi(httpx.Response(200, json=body))
    with client_for(api) as client, pytest.raises(RejectedError, match="Course ID: no such"):
        client.create_section(PAYLOAD)


def test_unreadable_2xx_is_ambiguous() -> None:
    """A 2xx whose body is not JSON may have created the section: ambiguous."""
    api = FakeApi(httpx.Response(200, content=b"<html>oops"))
    with client_for(api) as client, pytest.raises(AmbiguousError) as info:
        client.create_section(PAYLOAD)
    assert info.value.cause == "unreadable 2xx body"


def test_2xx_without_an_id_is_ambiguous() -> None:
    """WasSuccessful true but no Value.Id: created, id unknown, so reconcile."""
    api = FakeApi(httpx.Response(200, json={"WasSuccessful": True, "Value": None}))
    with client_for(api) as client, pytest.raises(AmbiguousError):
        client.create_section(PAYLOAD)


# -- throttling and server errors -------------------------------------------------------


def test_409_is_throttled_with_seconds_and_tells_the_pacer() -> None:
    """409 + Retry-After: 3 -> ThrottledError(409, 3.0); the pacer pauses and slows."""
    api = FakeApi(httpx.Response(409, headers={"Retry-After": "3"}))
    pacer = Pacer(clock=lambda: 0.0, sleep=lambda s: None)
    with client_for(api, pacer=pacer) as client, pytest.raises(ThrottledError) as info:
        client.create_section(PAYLOAD)
    assert (info.value.status, info.value.retry_after) == (409, 3.0)
    assert pacer.throttle_count == 1 and pacer.write_rate < 60
    assert client.stats.as_dict()["throttled"] == 1


def test_409_with_an_http_date_retry_after() -> None:
    """The HTTP-date form of Retry-After is turned into seconds from now."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    api = FakeApi(httpx.Response(409, headers={"Retry-After": when}))
    with client_for(api) as client, pytest.raises(ThrottledError) as info:
        client.create_section(PAYLOAD)
    assert info.value.retry_after is not None and 25 <= info.value.retry_after <= 30


def test_retry_after_parsing_edge_cases() -> None:
    """Negative clamps to 0, a past date gives 0, garbage and missing give None."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Wed, 31 Dec 2025 23:59:00 GMT", now=now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    api = FakeApi(httpx.Response(409))
    with client_for(api) as client, pytest.raises(ThrottledError) as info:
        client.create_section(PAYLOAD)
    assert info.value.retry_after is None


def test_503_to_a_write_is_ambiguous_not_a_throttle() -> None:
    """A proxy may answer 503 after the backend stored the POST: reconcile, never re-send."""
    api = FakeApi(httpx.Response(503, headers={"Retry-After": "2"}))
    pacer = Pacer(clock=lambda: 0.0, sleep=lambda s: None)
    with client_for(api, pacer=pacer) as client, pytest.raises(AmbiguousError) as info:
        call_create(lambda: client.create_section(PAYLOAD), RetryPolicy(sleep=lambda s: None))
    assert info.value.status == 503
    assert len(api.content_requests) == 1 and pacer.throttle_count == 0


@pytest.mark.parametrize("status", [500, 502, 504, 599])
def test_other_5xx_are_ambiguous(status: int) -> None:
    """500/502/504 may come after a commit: AmbiguousError carrying the status."""
    api = FakeApi(httpx.Response(status, text="boom"))
    with client_for(api) as client, pytest.raises(AmbiguousError) as info:
        client.create_section(PAYLOAD)
    assert info.value.status == status


def test_404_on_get_course_is_none_and_course_found_otherwise() -> None:
    """get_course answers None for an unknown course and the record for a known one."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/101"):
            return httpx.Response(200, json={"Id": 101, "Title": "Welcome"})
        return httpx.Response(404, json={"Message": "not found"})

    api = FakeApi(handler)
    with client_for(api) as client:
        assert client.get_course(101) == {"Id": 101, "Title": "Welcome"}
        assert client.get_course(999) is None
    assert client.stats.as_dict()["requests"]["get"] == 2


def test_redirect_is_a_configuration_error() -> None:
    """Redirects are not followed: a 301 points at a wrong base URL."""
    api = FakeApi(httpx.Response(301, headers={"Location": "https://elsewhere/"}))
    with client_for(api) as client, pytest.raises(ConfigError, match="base URL"):
        client.create_section(PAYLOAD)
    assert len(api.content_requests) == 1


# -- transport failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("pool")],
)
def test_connection_failures_are_transport_errors(error: Exception) -> None:
    """Not connected means certainly not sent: TransportError."""
    api = FakeApi(error)
    with client_for(api) as client, pytest.raises(TransportError) as info:
        client.create_section(PAYLOAD)
    assert not isinstance(info.value, TlsError)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("t"),
        httpx.ReadError("r"),
        httpx.RemoteProtocolError("gone"),
        httpx.WriteTimeout("w"),
        httpx.WriteError("w"),
    ],
)
def test_failures_after_sending_are_ambiguous(error: Exception) -> None:
    """Timeouts and drops after sending: AmbiguousError(cause=<httpx class name>)."""
    api = FakeApi(error)
    with client_for(api) as client, pytest.raises(AmbiguousError) as info:
        client.create_section(PAYLOAD)
    assert info.value.cause == type(error).__name__


def cert_failure() -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.__cause__ = cause
    return error


def test_tls_certificate_failure_is_fatal_and_not_retried() -> None:
    """A bad certificate is TlsError; call_create does not try again."""
    api = FakeApi(cert_failure())
    sleeps: list[float] = []
    with client_for(api) as client, pytest.raises(TlsError, match="not trusted"):
        call_create(lambda: client.create_section(PAYLOAD), RetryPolicy(sleep=sleeps.append))
    assert len(api.content_requests) == 1 and sleeps == []


def test_tls_failure_detected_from_the_cause_chain_alone() -> None:
    """An SSLCertVerificationError in the chain is enough, whatever the message says."""
    error = httpx.ConnectError("handshake failed")
    error.__cause__ = ssl.SSLCertVerificationError(1, "hostname mismatch")
    with client_for(FakeApi(error)) as client, pytest.raises(TlsError):
        client.create_section(PAYLOAD)


def test_connect_errors_are_retried_by_call_create() -> None:
    """Two refused connections then success: one section, three POST attempts."""
    api = FakeApi(httpx.ConnectError("refused"), httpx.ConnectError("refused"), ok({"Id": 5}))
    with client_for(api) as client:
        assert (
            call_create(lambda: client.create_section(PAYLOAD), RetryPolicy(sleep=lambda s: None))
            == 5
        )
    assert len(api.content_requests) == 3


# -- authentication ---------------------------------------------------------------------


def test_401_refreshes_once_then_succeeds() -> None:
    """A 401 triggers one refresh_token grant, then the request is repeated with the new token."""
    api = FakeApi(httpx.Response(401), ok({"Id": 8}))
    with client_for(api) as client:
        assert client.create_section(PAYLOAD) == 8
    assert [f["grant_type"] for f in api.token_forms] == [["password"], ["refresh_token"]]
    assert api.token_forms[1]["refresh_token"] == ["ref-1"]
    assert api.token_forms[1]["client_id"] == api.token_forms[0]["client_id"]
    assert [r.headers["Authorization"] for r in api.content_requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    assert client.stats.as_dict()["refreshes"] == 1


def test_refresh_falls_back_to_the_password_grant() -> None:
    """If the refresh token is refused, the password grant is used instead."""
    api = FakeApi(httpx.Response(401), ok({"Id": 8}))
    original = api.__call__

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/token" and b"refresh_token" in request.content:
            api.requests.append(request)
            return httpx.Response(400, json={"error": "invalid_grant"})
        return original(request)

    client = NexudusClient(BASE, CREDS, transport=httpx.MockTransport(handler))
    with client:
        assert client.create_section(PAYLOAD) == 8
    grants = [r.content for r in api.requests if r.url.path == "/api/token"]
    assert len(grants) == 3 and b"grant_type=password" in grants[-1]


def test_two_401s_give_auth_error_after_exactly_one_refresh() -> None:
    """401, refresh, 401 again -> AuthError saying what to check, never the secret."""
    api = FakeApi(httpx.Response(401))
    with client_for(api) as client, pytest.raises(AuthError) as info:
        client.create_section(PAYLOAD)
    assert api.tokens_issued == 2
    assert len(api.content_requests) == 2
    message = str(info.value)
    assert "creator@example.com" in message and "role" in message
    assert SECRET not in message and "tok-" not in message


def test_403_is_auth_error_without_refresh() -> None:
    """403 (missing role) cannot be fixed by a new token."""
    api = FakeApi(httpx.Response(403))
    with client_for(api) as client, pytest.raises(AuthError):
        client.create_section(PAYLOAD)
    assert api.tokens_issued == 1


def test_401_with_only_a_token_is_auth_error() -> None:
    """With no password there is nothing to refresh with: AuthError at once."""
    api = FakeApi(httpx.Response(401))
    with (
        client_for(api, credentials=Credentials(token="old")) as client,
        pytest.raises(AuthError, match="NEXUDUS_TOKEN"),
    ):
        client.create_section(PAYLOAD)
    assert len(api.content_requests) == 1


def test_wrong_password_is_auth_error() -> None:
    """invalid_grant at /api/token -> AuthError naming the account, not the password."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_grant"})

    client = NexudusClient(BASE, CREDS, transport=httpx.MockTransport(handler))
    with client, pytest.raises(AuthError) as info:
        client.create_section(PAYLOAD)
    assert "creator@example.com" in str(info.value) and SECRET not in str(info.value)


@pytest.mark.parametrize("status", [404, 301])
def test_a_wrong_api_url_is_a_config_error_not_retried(status: int) -> None:
    """/api/token answering 404 or a redirect means the URL is wrong: ConfigError (exit 3)
    at once. It used to be a TransportError, retried and reported as resumable (exit 4)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(status, headers={"Location": "https://elsewhere.test/"})

    client = NexudusClient(
        BASE,
        CREDS,
        transport=httpx.MockTransport(handler),
        read_policy=RetryPolicy(sleep=lambda s: None),
    )
    with client, pytest.raises(ConfigError, match="check --api-url"):
        client.list_sections(101)
    assert seen == ["/api/token"]


def test_token_endpoint_failure_is_not_ambiguous() -> None:
    """A 500 from /api/token means the create was never sent: TransportError (retryable)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    client = NexudusClient(BASE, CREDS, transport=httpx.MockTransport(handler))
    with client, pytest.raises(TransportError) as info:
        client.create_section(PAYLOAD)
    assert not isinstance(info.value, TlsError)


def test_concurrent_401s_share_one_refresh() -> None:
    """Two threads whose token expired at once trigger a single refresh."""
    lock = threading.Lock()
    rejected: set[int] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer tok-1":
            with lock:
                rejected.add(threading.get_ident())
            barrier.wait(timeout=5)  # both threads got their 401 before anyone refreshes
            return httpx.Response(401)
        return ok({"Id": 1})

    barrier = threading.Barrier(2)
    api = FakeApi(handler)
    with client_for(api) as client:
        client._tokens.current()  # log in once up front
        threads = [
            threading.Thread(target=client.create_section, args=(PAYLOAD,)) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert len(rejected) == 2
    assert api.tokens_issued == 2  # the login plus ONE refresh


# -- listing ----------------------------------------------------------------------------


def test_list_sections_pages_until_has_next_page_is_false() -> None:
    """All pages are fetched with the documented parameters; retried on a 502."""
    pages = {
        1: [{"Id": 1, "CourseId": 101}, {"Id": 2, "CourseId": 101}],
        2: [{"Id": 3, "CourseId": 101}, {"Id": 99, "CourseId": 555}],
    }
    seen: list[dict[str, str]] = []
    failed = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        if params["page"] == "2" and not failed:
            failed.append(1)
            return httpx.Response(502)
        seen.append(params)
        page = int(params["page"])
        return httpx.Response(
            200, json={"Records": pages[page], "CurrentPage": page, "HasNextPage": page < 2}
        )

    with client_for(FakeApi(handler)) as client:
        records = client.list_sections(101, page_size=2)
    assert [r["Id"] for r in records] == [1, 2, 3]  # another course's record is ignored
    assert seen[0] == {
        "page": "1",
        "size": "2",
        "orderBy": "DisplayOrder",
        "dir": "1",
        "CourseSection_Course": "101",
    }
    assert [p["page"] for p in seen] == ["1", "2"]
    assert client.stats.as_dict()["requests"]["list"] == 3


def test_list_unreadable_page_is_retried() -> None:
    """An unreadable list page is retried (reads are idempotent)."""
    answers = [
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json={"Records": [], "HasNextPage": False}),
    ]
    with client_for(FakeApi(*answers)) as client:
        assert client.list_sections(101) == []


# -- pacing, secrets, configuration -----------------------------------------------------


def test_pacer_is_asked_before_every_request_with_write_flag() -> None:
    """Token and GETs are reads, the content POST is a write."""
    calls: list[bool] = []

    class SpyPacer(Pacer):
        def acquire(self, *, write: bool) -> float:
            calls.append(write)
            return 0.0

    api = FakeApi(ok())
    with client_for(api, pacer=SpyPacer()) as client:
        client.create_section(PAYLOAD)
    assert calls == [False, True]


def test_credentials_repr_and_describe_hide_secrets() -> None:
    """Neither repr nor describe() shows the password, token or TOTP."""
    creds = Credentials(
        token="tok-secret", username="u@example.com", password=SECRET, totp="123456"
    )
    for text in (repr(creds), str(creds), creds.describe()):
        assert SECRET not in text and "tok-secret" not in text and "123456" not in text
    assert creds.describe() == "password grant for u@example.com with TOTP"
    assert CREDS.describe() == "password grant for creator@example.com"


def test_credentials_from_env() -> None:
    """Token or username/password from the environment; nothing -> AuthError."""
    assert Credentials.from_env({"NEXUDUS_TOKEN": "t"}).token == "t"
    creds = Credentials.from_env(
        {"NEXUDUS_USERNAME": "u", "NEXUDUS_PASSWORD": "p", "NEXUDUS_TOTP": "1"}
    )
    assert (creds.username, creds.password, creds.totp) == ("u", "p", "1")
    with pytest.raises(AuthError, match="NEXUDUS_TOKEN"):
        Credentials.from_env({})
    with pytest.raises(AuthError, match="NEXUDUS_PASSWORD"):
        Credentials.from_env({"NEXUDUS_USERNAME": "u"})


def test_totp_is_sent_with_the_password_grant() -> None:
    """2FA accounts add the TOTP code to the password grant."""
    api = FakeApi(ok())
    creds = Credentials(username="u@example.com", password="p", totp="654321")
    with client_for(api, credentials=creds) as client:
        client.create_section(PAYLOAD)
    assert api.token_forms[0]["totp"] == ["654321"]


def test_redaction_filter_masks_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """Bearer tokens, access_token= and password= never reach the log output."""
    log = logging.getLogger("test.redaction")
    install_redaction(log)
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        log.info("sent Authorization: Bearer %s", "abc.def-123")
        log.info("form grant_type=password&password=%s&access_token=xyz", SECRET)
    assert "abc.def-123" not in caplog.text and SECRET not in caplog.text
    assert "xyz" not in caplog.text and "Bearer ***" in caplog.text
    assert redact('{"access_token": "abc"}') == "{\"access_token\": '***'}"


def test_bad_base_url_and_disabled_verification_are_config_errors() -> None:
    """A URL without scheme, or verify=False, is refused at construction."""
    with pytest.raises(ConfigError):
        NexudusClient("api.example.com", CREDS)
    with pytest.raises(ConfigError):
        NexudusClient(BASE, CREDS, verify=False)


def test_default_client_settings() -> None:
    """Timeouts 10/30/30/10 s, no redirects; logger levels are the CLI's job, not the client's."""
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    with NexudusClient(BASE, CREDS) as client:
        timeout = client._http.timeout
        assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (10, 30, 30, 10)
        assert client._http.follow_redirects is False
    assert logging.getLogger("httpx").level == logging.NOTSET


def test_cancelled_pacer_stops_the_client_before_sending() -> None:
    """A cancelled run raises Cancelled from create_section and sends nothing."""
    api = FakeApi(ok())
    pacer = Pacer()
    pacer.cancel()
    with client_for(api, pacer=pacer) as client, pytest.raises(Cancelled):
        client.create_section(PAYLOAD)
    assert api.requests == []
