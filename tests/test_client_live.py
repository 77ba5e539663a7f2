"""NexudusClient against what live accounts answer (MockTransport unit tests).

Throttles by 409 or 429 with Retry-After, a `Wait N seconds` body or neither; the generic
"Ooops" as 400 or 500; navigation names in errors; 10-digit ids; seven-decimal times;
PUT, DELETE, GET by id and account-wide listings; paging that clamps, refuses or never ends;
client_id on every token request; tokens that cannot be sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import importer.client as client_module
from importer.client import Credentials, NexudusClient
from importer.client_answers import friendly_field, parse_wait_text
from importer.clock import parse_api_time
from importer.errors import (
    AlreadyGoneError,
    AmbiguousError,
    AuthError,
    ListingError,
    NotFoundError,
    RejectedError,
    ThrottledError,
)
from importer.pacing import Pacer
from importer.retry import RetryPolicy, call_create

BASE = "https://api.test"
CREDS = Credentials(username="creator@example.com", password="pw")
PAYLOAD = {"CourseId": 101, "Title": "Intro", "DisplayOrder": 1, "UnlockType": 1}
OOOPS = "Ooops! There was a problem while running this action..."
BIG_ID = 1_416_049_817  # > 2**31, like live ids
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(
    value: object = None, *, ok: bool = True, message: str = "", errors: Any = None
) -> dict[str, Any]:
    return {"Message": message, "Value": value, "Errors": errors, "WasSuccessful": ok}


def ooops(status: int) -> httpx.Response:
    return httpx.Response(status, json=envelope(ok=False, message=OOOPS))


class Api:
    """Token endpoint plus a scripted answer per content request (the last one repeats)."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/token":
            self.token_requests.append(request)
            n = len(self.token_requests)
            return httpx.Response(200, json={"access_token": f"t{n}", "refresh_token": f"r{n}"})
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer


def make(api: Api, *, pacer: Pacer | None = None, creds: Credentials = CREDS) -> NexudusClient:
    return NexudusClient(
        BASE,
        creds,
        transport=httpx.MockTransport(api),
        pacer=pacer,
        read_policy=RetryPolicy(sleep=lambda s: None),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- throttling -----------------------------------------------------------------------------


def test_429_with_a_wait_text_body_and_no_header() -> None:
    """Live throttle: 429, body `Wait 2.5 seconds`: retry_after 2.5, everyone paused 2.5 s."""
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    api = Api(httpx.Response(429, text="Wait 2.5 seconds"))
    with make(api, pacer=pacer) as client, pytest.raises(ThrottledError) as info:
        client.create_section(PAYLOAD)
    assert (info.value.status, info.value.retry_after) == (429, 2.5)
    assert pacer.throttle_count == 1 and pacer.write_rate < 60
    assert client.stats.as_dict()["throttled"] == 1
    before = clock.now
    assert pacer.acquire(write=False) >= before + 2.5 - 1e-9


def test_429_with_an_http_date_retry_after() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    api = Api(httpx.Response(429, headers={"Retry-After": when}))
    with make(api) as client, pytest.raises(ThrottledError) as info:
        client.create_section(PAYLOAD)
    assert info.value.retry_after is not None and 35 <= info.value.retry_after <= 40


def test_409_with_the_wait_in_a_json_body_and_the_larger_of_two_waits() -> None:
    """A JSON Message `Wait 3 seconds` counts; with a header too, the longer wait wins."""
    api = Api(
        httpx.Response(409, json={"Message": "Wait 3 seconds"}),
        httpx.Response(429, text="Wait 7 seconds", headers={"Retry-After": "2"}),
    )
    with make(api) as client:
        with pytest.raises(ThrottledError) as first:
            client.create_section(PAYLOAD)
        with pytest.raises(ThrottledError) as second:
            client.create_section(PAYLOAD)
    assert first.value.retry_after == 3.0 and second.value.retry_after == 7.0
    assert client.stats.as_dict()["throttled"] == 2


def test_wait_text_parsing() -> None:
    assert parse_wait_text("Wait 2.5 seconds") == 2.5
    assert parse_wait_text('{"Message":"Please wait. Wait 10 seconds"}') == 10.0
    assert parse_wait_text("wait a moment") is None
    assert parse_wait_text("Wait 1.2.3 seconds") is None


def test_a_throttle_naming_no_wait_falls_back_to_capped_jittered_back_off() -> None:
    """No Retry-After, no body: retry_after None, call_create waits its own jittered
    exponential back-off (never above wait_max) and the pacer's pause doubles."""
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, min_interval=0, requests_per_minute=6000)
    api = Api(
        httpx.Response(429),
        httpx.Response(429),
        httpx.Response(429),
        httpx.Response(200, json=envelope({"Id": 5})),
    )
    waits: list[float] = []
    policy = RetryPolicy(sleep=waits.append, wait_initial=0.5, wait_max=4.0)
    with make(api, pacer=pacer) as client:
        assert call_create(lambda: client.create_section(PAYLOAD), policy) == 5
    assert len(api.requests) == 4 and len(waits) == 3
    assert all(0 <= w <= 4.0 for w in waits)
    pauses = [s for s in clock.sleeps if s >= 0.99]
    assert pauses[:3] == pytest.approx([1.0, 2.0, 4.0], abs=0.1)


def test_a_throttled_token_request_is_a_throttle_not_an_auth_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, text="Wait 1 seconds")

    client = NexudusClient(BASE, CREDS, transport=httpx.MockTransport(handler))
    with client, pytest.raises(ThrottledError) as info:
        client.create_section(PAYLOAD)
    assert info.value.retry_after == 1.0


def test_a_throttled_read_is_retried_after_the_wait() -> None:
    page = {"Records": [{"Id": 1, "CourseId": 101}], "HasNextPage": False}
    api = Api(httpx.Response(429, text="Wait 4 seconds"), httpx.Response(200, json=page))
    waits: list[float] = []
    with make(api) as client:
        client.read_policy = RetryPolicy(sleep=waits.append)
        assert [r["Id"] for r in client.list_sections(101)] == [1]
    assert waits == [4.0]


# -- the generic "Ooops" and 5xx --------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 500])
def test_ooops_to_a_post_is_ambiguous_and_never_resent_blindly(status: int) -> None:
    api = Api(ooops(status))
    with make(api) as client, pytest.raises(AmbiguousError) as info:
        call_create(lambda: client.create_section(PAYLOAD), RetryPolicy(sleep=lambda s: None))
    assert info.value.status == status and info.value.cause == f"Ooops {status}"
    assert len(api.requests) == 1


def test_ooops_as_plain_text_and_on_a_200_envelope_are_ambiguous() -> None:
    api = Api(
        httpx.Response(500, text=OOOPS),
        httpx.Response(200, json=envelope(ok=False, message=OOOPS)),
    )
    with make(api) as client:
        with pytest.raises(AmbiguousError):
            client.create_section(PAYLOAD)
        with pytest.raises(AmbiguousError):
            client.create_section(PAYLOAD)


def test_ooops_with_property_errors_is_a_rejection() -> None:
    """The same text with property errors is a real refusal: RejectedError."""
    errors = [{"PropertyName": "Title", "Message": "is too long"}]
    api = Api(httpx.Response(400, json=envelope(ok=False, message=OOOPS, errors=errors)))
    with make(api) as client, pytest.raises(RejectedError, match="Section title: is too long"):
        client.create_section(PAYLOAD)


def test_a_burst_of_ooops_on_reads_is_retried() -> None:
    page = {"Records": [{"Id": 2, "CourseId": 101}], "HasNextPage": False}
    api = Api(ooops(500), ooops(400), ooops(500), httpx.Response(200, json=page))
    with make(api) as client:
        assert [r["Id"] for r in client.list_sections(101, page_size=25)] == [2]
    assert len(api.requests) == 4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("verb", ["put", "delete"])
def test_any_5xx_to_a_put_or_delete_is_ambiguous(status: int, verb: str) -> None:
    api = Api(httpx.Response(status, text="down", headers={"Retry-After": "1"}))
    with make(api) as client, pytest.raises(AmbiguousError) as info:
        if verb == "put":
            client.update_section({"Id": 7, **PAYLOAD})
        else:
            client.delete_section(7)
    assert info.value.status == status and len(api.requests) == 1


# -- field names ------------------------------------------------------------------------------


def test_navigation_and_property_names_both_become_the_sheet_header() -> None:
    errors = [
        {"PropertyName": "Course", "Message": "is a required field"},
        {"PropertyName": "CourseId", "Message": "does not exist"},
        {"PropertyName": "Colour", "Message": "unknown"},
    ]
    api = Api(httpx.Response(400, json=envelope(ok=False, message="x", errors=errors)))
    with make(api) as client, pytest.raises(RejectedError) as info:
        client.create_section(PAYLOAD)
    assert info.value.errors == (
        ("Course ID", "is a required field"),
        ("Course ID", "does not exist"),
        ("Colour", "unknown"),
    )
    assert info.value.api_errors[0] == ("Course", "is a required field")
    assert str(info.value).startswith("Course ID: is a required field; Course ID: does not")


def test_a_message_without_errors_is_named_the_same_way() -> None:
    api = Api(httpx.Response(400, json={"Message": "Course: is a required field"}))
    with make(api) as client, pytest.raises(RejectedError) as info:
        client.create_section(PAYLOAD)
    assert str(info.value) == "Course ID: is a required field"


def test_friendly_field_names() -> None:
    assert friendly_field("CourseId") == "Course ID"
    assert friendly_field("Course") == "Course ID"
    assert friendly_field("courseid") == "Course ID"
    assert friendly_field("CourseSection.Title") == "Section title"
    assert friendly_field("Course.Id") == "Course ID"
    assert friendly_field("UnlockAfterDays") == "Unlock after days"
    assert friendly_field("Id") == "Id"
    assert friendly_field("Booking") == "Booking"


# -- shapes: ids and times --------------------------------------------------------------------


def test_ten_digit_ids_stay_exact_integers() -> None:
    record = {"Id": BIG_ID, "CourseId": 101, "Title": "Intro", "ToStringText": "Intro"}
    api = Api(
        httpx.Response(200, json=envelope(record)),
        httpx.Response(200, json=envelope({"Id": str(BIG_ID + 2)})),
        httpx.Response(
            200,
            content=json.dumps(
                {"Records": [{"Id": BIG_ID + 9, "CourseId": 3_000_000_001}], "HasNextPage": False}
            ).encode(),
        ),
    )
    with make(api) as client:
        first = client.create_section(PAYLOAD)
        second = client.create_section(PAYLOAD)
        listed = client.list_sections(3_000_000_001)
    assert first == BIG_ID and type(first) is int
    assert second == BIG_ID + 2 and type(second) is int
    assert listed[0]["Id"] == BIG_ID + 9 and type(listed[0]["Id"]) is int
    assert api.requests[-1].url.params["CourseSection_Course"] == "3000000001"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-08-27T08:24:35.2825432Z", datetime(2026, 8, 27, 8, 24, 35, 282543, tzinfo=UTC)),
        ("2026-08-27T08:24:35.2825432", datetime(2026, 8, 27, 8, 24, 35, 282543, tzinfo=UTC)),
        ("2026-08-27T08:24:35Z", datetime(2026, 8, 27, 8, 24, 35, tzinfo=UTC)),
        ("2026-08-27T08:24:35", datetime(2026, 8, 27, 8, 24, 35, tzinfo=UTC)),
        ("2026-08-27T10:24:35.5+02:00", datetime(2026, 8, 27, 8, 24, 35, 500000, tzinfo=UTC)),
        ("2026-08-27 08:24:35.1z", datetime(2026, 8, 27, 8, 24, 35, 100000, tzinfo=UTC)),
    ],
)
def test_parse_api_time(text: str, expected: datetime) -> None:
    assert parse_api_time(text) == expected


@pytest.mark.parametrize("value", ["", "soon", "2026-13-01T00:00:00Z", None, 17])
def test_parse_api_time_unreadable_is_none(value: object) -> None:
    assert parse_api_time(value) is None


# -- PUT, DELETE, GET by id -------------------------------------------------------------------


def test_update_section_puts_the_whole_record_once() -> None:
    record = {"Id": BIG_ID, **PAYLOAD, "Active": True}
    api = Api(httpx.Response(200, json=envelope({"Id": BIG_ID})))
    with make(api) as client:
        assert client.update_section(record) == {"Id": BIG_ID}
    put = api.requests[0]
    assert put.method == "PUT" and put.url.path == "/api/content/coursesections"
    assert json.loads(put.content) == record


def test_update_section_failures() -> None:
    refused = envelope(
        ok=False,
        message="Title: is a required field",
        errors=[{"PropertyName": "Title", "Message": "is a required field"}],
    )
    api = Api(
        httpx.Response(200, json=refused),
        httpx.Response(404, json=envelope(ok=False, message="Id: record not found")),
    )
    with make(api) as client:
        with pytest.raises(RejectedError, match="Section title: is a required field"):
            client.update_section({"Id": 1, **PAYLOAD})
        with pytest.raises(NotFoundError):
            client.update_section({"Id": 2, **PAYLOAD})
        with pytest.raises(ValueError):
            client.update_section(PAYLOAD)
    assert len(api.requests) == 2


def test_delete_section_outcomes() -> None:
    blocked = envelope(
        ok=False, message="CourseSection cannot be deleted while it has 2 lesson(s)."
    )
    api = Api(
        httpx.Response(200, json=envelope({"Id": BIG_ID})),
        httpx.Response(404, json=envelope(ok=False, message="Id: record not found")),
        httpx.Response(200, json=blocked),
        httpx.Response(200, json=envelope(ok=False, message=OOOPS)),
        httpx.Response(204),
        httpx.Response(200),
    )
    with make(api) as client:
        assert client.delete_section(BIG_ID) is None
        with pytest.raises(AlreadyGoneError):
            client.delete_section(BIG_ID)
        with pytest.raises(RejectedError, match="while it has 2 lesson"):
            client.delete_section(3)
        with pytest.raises(AmbiguousError):
            client.delete_section(4)
        assert client.delete_section(5) is None
        with pytest.raises(AmbiguousError):  # an empty 200 says nothing about the outcome
            client.delete_section(6)
    assert api.requests[0].method == "DELETE"
    assert api.requests[0].url.path == f"/api/content/coursesections/{BIG_ID}"
    assert client.stats.as_dict()["requests"]["delete"] == 6


def test_get_section_found_missing_and_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/404"):
            return httpx.Response(404, json={"Message": "not found"})
        return httpx.Response(200, json={"Id": BIG_ID, "Title": "Intro"})

    api = Api(httpx.Response(502), handler)
    with make(api) as client:
        assert client.get_section(BIG_ID) == {"Id": BIG_ID, "Title": "Intro"}
        assert client.get_section(404) is None
    assert api.requests[1].url.path == f"/api/content/coursesections/{BIG_ID}"


def test_missing_roles_are_named_for_put_and_delete() -> None:
    api = Api(httpx.Response(403))
    with make(api) as client:
        with pytest.raises(AuthError, match="CourseSection-Edit"):
            client.update_section({"Id": 1, **PAYLOAD})
        with pytest.raises(AuthError, match="CourseSection-Delete"):
            client.delete_section(1)


# -- listings ---------------------------------------------------------------------------------


def paged_server(
    total: int, *, clamp: int | None = None, refuse_above: int | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """Records 1..total (three courses), paged as asked or clamped / refused above a size."""
    records = [{"Id": BIG_ID + n, "CourseId": 101 + n % 3} for n in range(total)]

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        size = int(params["size"])
        if refuse_above is not None and size > refuse_above:
            return httpx.Response(400, json={"Message": f"size: must be at most {refuse_above}"})
        if clamp is not None:
            size = min(size, clamp)
        page = int(params["page"])
        rows = records
        if "CourseSection_Course" in params:
            rows = [r for r in rows if r["CourseId"] == int(params["CourseSection_Course"])]
        chunk = rows[(page - 1) * size : page * size]
        return httpx.Response(
            200,
            json={
                "Records": chunk,
                "HasNextPage": page * size < len(rows),
                "CurrentPageSize": size,
            },
        )

    return handler


def test_account_wide_listing_has_no_course_filter_and_reads_every_page() -> None:
    api = Api(paged_server(250))
    with make(api) as client:
        records = client.list_sections(None, page_size=100)
    assert len(records) == 250 and len({r["Id"] for r in records}) == 250
    assert {r["CourseId"] for r in records} == {101, 102, 103}
    assert all("CourseSection_Course" not in r.url.params for r in api.requests)
    assert [r.url.params["page"] for r in api.requests] == ["1", "2", "3"]


def test_a_clamped_page_size_is_still_read_completely() -> None:
    """Asked for 1,000, the server gives 100 per page: all 250 are read in three pages."""
    api = Api(paged_server(250, clamp=100))
    with make(api) as client:
        records = client.list_sections(None, page_size=1000)
    assert len(records) == 250 and len(api.requests) == 3


def test_a_refused_page_size_is_asked_again_at_the_named_maximum() -> None:
    """`size: must be at most 100`: the listing starts over with 100 and reads it all."""
    api = Api(paged_server(250, refuse_above=100))
    with make(api) as client:
        records = client.list_sections(101, page_size=5000)
    assert len(records) == 84 and all(r["CourseId"] == 101 for r in records)
    sizes = [r.url.params["size"] for r in api.requests]
    assert sizes == ["5000", "100"]


def test_a_refused_page_size_without_a_named_maximum_steps_down() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if int(request.url.params["size"]) > 100:
            return httpx.Response(400, json={"Message": "size is too large"})
        return httpx.Response(200, json={"Records": [{"Id": 1}], "HasNextPage": False})

    api = Api(handler)
    with make(api) as client:
        assert len(client.list_courses(page_size=5000)) == 1
    assert [r.url.params["size"] for r in api.requests] == ["5000", "1000", "500", "100"]


def test_list_courses_reads_every_page() -> None:
    courses = [{"Id": 100 + n, "Title": f"Course {n}"} for n in range(7)]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/content/courses"
        page, size = int(request.url.params["page"]), int(request.url.params["size"])
        chunk = courses[(page - 1) * size : page * size]
        return httpx.Response(200, json={"Records": chunk, "HasNextPage": page * size < 7})

    api = Api(handler)
    with make(api) as client:
        assert [c["Id"] for c in client.list_courses(page_size=3)] == list(range(100, 107))
    assert client.stats.as_dict()["requests"] == {"auth": 1, "list_courses": 3}


def test_a_server_that_always_says_more_pages_is_stopped() -> None:
    """Issue 12 item 8: the same page with HasNextPage true forever must not hang us."""
    same = {"Records": [{"Id": 1, "CourseId": 101}], "HasNextPage": True}
    api = Api(httpx.Response(200, json=same))
    with make(api) as client, pytest.raises(ListingError, match="added no new record"):
        client.list_sections(101)
    assert len(api.requests) == 2


def test_an_endless_listing_stops_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "MAX_PAGES", 5)

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"Records": [{"Id": page}], "HasNextPage": True})

    api = Api(handler)
    with make(api) as client, pytest.raises(ListingError, match="after 5 pages"):
        client.list_courses()
    assert len(api.requests) == 5


# -- tokens -----------------------------------------------------------------------------------


def test_client_id_goes_as_form_field_and_header_on_grant_and_refresh() -> None:
    api = Api(httpx.Response(401), httpx.Response(200, json=envelope({"Id": 1})))
    with make(api) as client:
        client.create_section(PAYLOAD)
    grant, refresh = api.token_requests
    for request in (grant, refresh):
        form = parse_qs(request.content.decode())
        assert form["client_id"] == ["course-sections-importer:creator@example.com"]
        assert request.headers["client_id"] == form["client_id"][0]
    assert parse_qs(refresh.content.decode())["grant_type"] == ["refresh_token"]


def test_a_non_ascii_username_still_gets_a_sendable_client_id() -> None:
    creds = Credentials(username="jös@example.com", password="pässword")
    api = Api(httpx.Response(200, json=envelope({"Id": 1})))
    with make(api, creds=creds) as client:
        assert client.create_section(PAYLOAD) == 1
    form = parse_qs(api.token_requests[0].content.decode())
    assert form["username"] == ["jös@example.com"] and form["password"] == ["pässword"]
    assert form["client_id"] == ["course-sections-importer:j%C3%B6s@example.com"]


@pytest.mark.parametrize("token", ["tök", "two words", "line\nbreak", "tab\there", ""])
def test_tokens_that_cannot_be_sent_are_refused_in_one_line(token: str) -> None:
    environ = {"NEXUDUS_TOKEN": token}
    if token:
        with pytest.raises(AuthError, match="NEXUDUS_TOKEN") as info:
            Credentials.from_env(environ)
        assert token not in str(info.value)
        with pytest.raises(AuthError, match="NEXUDUS_TOKEN"):
            NexudusClient(BASE, Credentials(token=token))
    else:
        with pytest.raises(AuthError, match="no credentials"):
            Credentials.from_env(environ)


def test_a_non_ascii_token_from_the_server_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "tök"})

    client = NexudusClient(BASE, CREDS, transport=httpx.MockTransport(handler))
    with client, pytest.raises(AuthError, match="not a valid header value"):
        client.create_section(PAYLOAD)


def test_a_503_to_a_read_is_retried() -> None:
    """Reads are idempotent: two 503s, then the course."""
    api = Api(httpx.Response(503), httpx.Response(503), httpx.Response(200, json={"Id": 101}))
    with make(api) as client:
        assert client.get_course(101) == {"Id": 101}
    assert len(api.requests) == 3
