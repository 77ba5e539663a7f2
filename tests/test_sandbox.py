"""The Nexudus sandbox through raw httpx over loopback: auth, CRUD, validation, paging,
throttling, faults and the control API."""

from __future__ import annotations

import ast
import base64
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import importer.sandbox
from importer.sandbox import SandboxServer
from importer.sandbox.config import SandboxConfig
from importer.sandbox.throttle import Throttle

SECTIONS = "/api/content/coursesections"
THROTTLE_REASON = "You must wait before accessing this url again."
MakeSandbox = Callable[..., SandboxServer]

#: One client for the module: a new httpx.Client per call costs ~50 ms (SSL context setup).
HTTP = httpx.Client(timeout=10)


# --- helpers ---------------------------------------------------------------------------------
def token_response(url: str, user: str = "creator", **form: str) -> httpx.Response:
    data = {"grant_type": "password", "username": f"{user}@example.com", "password": user}
    data.update(form)
    return HTTP.post(f"{url}/api/token", data=data)


def bearer(url: str, user: str = "creator") -> dict[str, str]:
    response = token_response(url, user)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def section(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "CourseId": 101,
        "Title": "Getting started",
        "DisplayOrder": 1,
        "UnlockType": 1,
        "UnlockAfterDays": 0,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def post(url: str, headers: dict[str, str], **changes: Any) -> httpx.Response:
    return HTTP.post(f"{url}{SECTIONS}", json=section(**changes), headers=headers)


def stored(server: SandboxServer) -> list[dict[str, Any]]:
    return HTTP.get(f"{server.control_url}/sections").json()


def stats(server: SandboxServer) -> dict[str, Any]:
    return HTTP.get(f"{server.control_url}/stats").json()


def configure(server: SandboxServer, **changes: Any) -> None:
    HTTP.post(f"{server.control_url}/config", json=changes).raise_for_status()


def property_names(response: httpx.Response) -> list[str]:
    return [error["PropertyName"] for error in response.json()["Errors"]]


# --- tokens ----------------------------------------------------------------------------------
def test_password_grant_returns_bearer_token(sandbox_reset: SandboxServer) -> None:
    body = token_response(sandbox_reset.url).json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]


def test_json_token_request_is_unsupported_grant_type(sandbox_reset: SandboxServer) -> None:
    response = HTTP.post(
        f"{sandbox_reset.url}/api/token",
        json={"grant_type": "password", "username": "admin@example.com", "password": "admin"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_wrong_password_is_invalid_grant(sandbox_reset: SandboxServer) -> None:
    response = token_response(sandbox_reset.url, "creator", password="nope")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"]
    other = token_response(sandbox_reset.url, grant_type="client_credentials")
    assert other.json()["error"] == "unsupported_grant_type"


def refresh(url: str, refresh_token: str, client_id: str | None) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client_id is not None:
        data["client_id"] = client_id
    return HTTP.post(f"{url}/api/token", data=data)


def test_refresh_grant_replaces_the_refresh_token(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    first = token_response(url, client_id="importer").json()
    second = refresh(url, first["refresh_token"], "importer")
    assert second.status_code == 200
    assert second.json()["access_token"] != first["access_token"]
    # The used refresh token is gone; the old access token still works until it expires.
    assert refresh(url, first["refresh_token"], "importer").json()["error"] == "invalid_grant"
    old = {"Authorization": f"Bearer {first['access_token']}"}
    assert HTTP.get(f"{url}{SECTIONS}", headers=old).status_code == 200
    # Wrong client_id is refused.
    assert refresh(url, second.json()["refresh_token"], "other").status_code == 400


def test_new_password_grant_invalidates_older_refresh_token(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    old = token_response(url).json()  # client_id defaults to the user name
    other_client = token_response(url, client_id="laptop").json()
    token_response(url)
    assert refresh(url, old["refresh_token"], "creator@example.com").status_code == 400
    assert refresh(url, other_client["refresh_token"], "laptop").status_code == 200


# --- authorization ---------------------------------------------------------------------------
def test_missing_and_bad_token_are_401_with_reason(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    missing = HTTP.get(f"{url}{SECTIONS}")
    assert missing.status_code == 401
    assert "no credentials" in missing.json()["Message"]
    bad = HTTP.get(f"{url}{SECTIONS}", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert "not valid" in bad.json()["Message"]


def test_expired_token_is_401(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(token_ttl=1, throttle=False)
    headers = bearer(server.url)
    assert HTTP.get(f"{server.url}{SECTIONS}", headers=headers).status_code == 200
    time.sleep(1.1)
    expired = HTTP.get(f"{server.url}{SECTIONS}", headers=headers)
    assert expired.status_code == 401
    assert "the token has expired" in expired.json()["Message"]


def test_expired_token_via_runtime_config(sandbox_reset: SandboxServer) -> None:
    configure(sandbox_reset, token_ttl=0)
    headers = bearer(sandbox_reset.url)
    response = HTTP.get(f"{sandbox_reset.url}{SECTIONS}", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["Message"]


def test_viewer_cannot_create(sandbox_reset: SandboxServer) -> None:
    response = post(sandbox_reset.url, bearer(sandbox_reset.url, "viewer"))
    assert response.status_code == 401
    assert "role CourseSection-Create required" in response.json()["Message"]
    assert stored(sandbox_reset) == []


def test_basic_auth_is_accepted(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    assert HTTP.get(f"{url}{SECTIONS}", auth=("viewer@example.com", "viewer")).status_code == 200
    wrong = HTTP.get(f"{url}{SECTIONS}", auth=("viewer@example.com", "x"))
    assert wrong.status_code == 401
    raw = base64.b64encode(b"admin@example.com:admin").decode()
    assert post(url, {"Authorization": f"Basic {raw}"}).status_code == 200


# --- create and validation -------------------------------------------------------------------
def test_create_answers_the_documented_envelope(sandbox_reset: SandboxServer) -> None:
    response = post(
        sandbox_reset.url, bearer(sandbox_reset.url), SystemId="row-7", Title="  Padded  "
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "Status", "Message", "Value", "Errors", "WasSuccessful", "OpenInDialog",
        "OpenInWindow", "RedirectURL", "JavaScript", "UpdatedOn", "UpdatedBy",
    }  # fmt: skip
    assert body["Status"] == 200 and body["WasSuccessful"] is True and body["Errors"] is None
    assert body["Message"] == "CourseSection was successfully created."
    assert list(body["Value"]) == ["Id"]
    [record] = stored(sandbox_reset)
    assert record["Id"] == body["Value"]["Id"]
    assert record["Title"] == "Padded"
    assert record["SystemId"] == "row-7"
    assert record["CourseTitle"] and record["UniqueId"] and record["Active"] is True
    assert record["UpdatedBy"] == "creator@example.com"


def test_missing_title_is_400_with_property_name(sandbox_reset: SandboxServer) -> None:
    response = post(sandbox_reset.url, bearer(sandbox_reset.url), Title=...)
    assert response.status_code == 400
    body = response.json()
    assert body["Errors"][0]["PropertyName"] == "Title"
    assert body["Message"] == "Title: is a required field"
    assert body["Value"] is None and body["WasSuccessful"] is False
    assert stored(sandbox_reset) == []


def test_every_property_error_is_reported(sandbox_reset: SandboxServer) -> None:
    response = HTTP.post(
        f"{sandbox_reset.url}{SECTIONS}",
        json={
            "CourseId": "abc",
            "DisplayOrder": "first",
            "UnlockType": 7,
            "UnlockAfterDays": -2,
            "Active": "yes",
        },
        headers=bearer(sandbox_reset.url),
    )
    assert response.status_code == 400
    assert set(property_names(response)) == {
        "Title",
        "CourseId",
        "DisplayOrder",
        "UnlockType",
        "UnlockAfterDays",
        "Active",
    }
    attempted = {e["PropertyName"]: e["AttemptedValue"] for e in response.json()["Errors"]}
    assert attempted["CourseId"] == "abc" and attempted["UnlockType"] == 7


def test_unknown_course_is_rejected(sandbox_reset: SandboxServer) -> None:
    response = post(sandbox_reset.url, bearer(sandbox_reset.url), CourseId=999)
    assert response.status_code == 400
    assert property_names(response) == ["CourseId"]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"NewImageUrl": "ftp://example.com/a.png"}, "NewImageUrl"),
        ({"NewImageUrl": "https://example.com/a.bmp"}, "NewImageUrl"),
        ({"NewImageUrl": "not a url"}, "NewImageUrl"),
        ({"NewImageUrl": "https://example.com/a.png", "ClearImageFile": True}, "ClearImageFile"),
    ],
)
def test_thumbnail_rules(sandbox_reset: SandboxServer, extra: dict[str, Any], problem: str) -> None:
    response = post(sandbox_reset.url, bearer(sandbox_reset.url), **extra)
    assert response.status_code == 400
    assert property_names(response) == [problem]


def test_valid_thumbnail_is_accepted(sandbox_reset: SandboxServer) -> None:
    url = "https://cdn.example.com/img/Cover.JPEG?v=2"
    assert post(sandbox_reset.url, bearer(sandbox_reset.url), NewImageUrl=url).status_code == 200
    assert stored(sandbox_reset)[0]["ImageFileName"] == "Cover.JPEG"


def test_duplicate_display_order_is_allowed(sandbox_reset: SandboxServer) -> None:
    headers = bearer(sandbox_reset.url)
    assert post(sandbox_reset.url, headers, Title="A").status_code == 200
    assert post(sandbox_reset.url, headers, Title="B").status_code == 200
    assert [s["DisplayOrder"] for s in stored(sandbox_reset)] == [1, 1]


def test_value_shape_record(sandbox_reset: SandboxServer) -> None:
    configure(sandbox_reset, value_shape="record")
    value = post(sandbox_reset.url, bearer(sandbox_reset.url)).json()["Value"]
    assert value["Id"] and value["Title"] == "Getting started" and value["CourseId"] == 101


def test_failures_as_200(sandbox_reset: SandboxServer) -> None:
    configure(sandbox_reset, failures_as_200=True)
    response = post(sandbox_reset.url, bearer(sandbox_reset.url), Title=...)
    assert response.status_code == 200
    assert response.json()["WasSuccessful"] is False
    assert property_names(response) == ["Title"]


# --- read, update, delete --------------------------------------------------------------------
def test_get_put_delete(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    admin = bearer(url, "admin")
    new_id = post(url, admin).json()["Value"]["Id"]
    got = HTTP.get(f"{url}{SECTIONS}/{new_id}", headers=admin)
    assert got.status_code == 200 and got.json()["Title"] == "Getting started"
    assert HTTP.get(f"{url}{SECTIONS}/1", headers=admin).status_code == 404

    changed = got.json() | {"Title": "Renamed", "DisplayOrder": 5}
    put = HTTP.put(f"{url}{SECTIONS}", json=changed, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json()["Message"] == "CourseSection was successfully updated."
    assert HTTP.get(f"{url}{SECTIONS}/{new_id}", headers=admin).json()["Title"] == "Renamed"
    no_id = HTTP.put(f"{url}{SECTIONS}", json=section(), headers=admin)
    assert no_id.status_code == 400 and property_names(no_id) == ["Id"]
    # viewer has no Edit/Delete role
    viewer = bearer(url, "viewer")
    assert HTTP.put(f"{url}{SECTIONS}", json=changed, headers=viewer).status_code == 401
    assert HTTP.delete(f"{url}{SECTIONS}/{new_id}", headers=viewer).status_code == 401

    deleted = HTTP.delete(f"{url}{SECTIONS}/{new_id}", headers=admin)
    assert deleted.status_code == 200 and deleted.json()["WasSuccessful"] is True
    assert HTTP.get(f"{url}{SECTIONS}/{new_id}", headers=admin).status_code == 404
    assert HTTP.delete(f"{url}{SECTIONS}/{new_id}", headers=admin).status_code == 404


def test_batch_read_returns_bare_array(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    headers = bearer(url)
    ids = [post(url, headers, Title=f"S{i}").json()["Value"]["Id"] for i in range(3)]
    response = HTTP.get(f"{url}{SECTIONS}/", params={"id": f"[{ids[0]},{ids[2]}]"}, headers=headers)
    assert [r["Id"] for r in response.json()] == [ids[0], ids[2]]


def test_courses(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    course = HTTP.get(f"{url}/api/content/courses/102", headers=bearer(url, "viewer"))
    assert course.status_code == 200 and course.json()["Id"] == 102 and course.json()["Title"]
    assert HTTP.get(f"{url}/api/content/courses/999", headers=bearer(url)).status_code == 404
    reader = bearer(url, "reader")  # Course-Read only: no listing
    assert HTTP.get(f"{url}/api/content/courses", headers=reader).status_code == 401
    listing = HTTP.get(f"{url}/api/content/courses", headers=bearer(url, "admin")).json()
    assert [c["Id"] for c in listing["Records"]] == [101, 102, 103]
    assert listing["TotalItems"] == 3


# --- listing ---------------------------------------------------------------------------------
@pytest.fixture
def five_sections(sandbox_reset: SandboxServer) -> tuple[str, dict[str, str]]:
    url = sandbox_reset.url
    headers = bearer(url)
    rows = [
        (101, "Alpha", 3, 1, True), (101, "Beta", 1, 2, True), (101, "Gamma", 2, 3, False),
        (102, "Delta", 1, 1, True), (103, "Alpha two", 9, 1, True),
    ]  # fmt: skip
    for course, title, order, unlock, active in rows:
        response = post(
            url,
            headers,
            CourseId=course,
            Title=title,
            DisplayOrder=order,
            UnlockType=unlock,
            UnlockAfterDays=7 if unlock == 3 else 0,
            Active=active,
        )
        assert response.status_code == 200
    return url, headers


def listing(url: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = HTTP.get(f"{url}{SECTIONS}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_list_paging_envelope(five_sections: tuple[str, dict[str, str]]) -> None:
    page = listing(*five_sections, page=2, size=2)
    assert len(page["Records"]) == 2
    assert (page["CurrentPage"], page["CurrentPageSize"], page["TotalItems"]) == (2, 2, 5)
    assert (page["FirstItem"], page["LastItem"], page["TotalPages"]) == (3, 4, 3)
    assert page["HasNextPage"] is True and page["HasPreviousPage"] is True
    last = listing(*five_sections, page=3, size=2)
    assert last["HasNextPage"] is False and len(last["Records"]) == 1
    default = listing(*five_sections)
    assert default["CurrentPageSize"] == 25 and default["CurrentOrderField"] == "Id"


@pytest.mark.parametrize(("direction", "reverse"),
                         [("1", False), ("0", False), ("ascending", False),
                          ("-1", True), ("descending", True)])  # fmt: skip
def test_list_ordering(
    five_sections: tuple[str, dict[str, str]], direction: str, reverse: bool
) -> None:
    records = listing(*five_sections, orderBy="Title", dir=direction)["Records"]
    titles = [r["Title"] for r in records]
    assert titles == sorted(titles, reverse=reverse)


@pytest.mark.parametrize(
    ("params", "titles"),
    [
        ({"CourseSection_Course": 101}, {"Alpha", "Beta", "Gamma"}),
        ({"CourseSection_Title": "alpha"}, {"Alpha", "Alpha two"}),
        ({"CourseSection_DisplayOrder": 1}, {"Beta", "Delta"}),
        ({"CourseSection_Active": "false"}, {"Gamma"}),
        ({"CourseSection_UnlockType": 3}, {"Gamma"}),
        ({"CourseSection_Course": 101, "CourseSection_Active": "true"}, {"Alpha", "Beta"}),
    ],
)
def test_list_filters(
    five_sections: tuple[str, dict[str, str]], params: dict[str, Any], titles: set[str]
) -> None:
    assert {r["Title"] for r in listing(*five_sections, **params)["Records"]} == titles


def test_bad_list_parameters_are_400(sandbox_reset: SandboxServer) -> None:
    headers = bearer(sandbox_reset.url)
    for params in ({"page": "x"}, {"page": 0}, {"orderBy": "Nope"}, {"dir": "sideways"}):
        response = HTTP.get(f"{sandbox_reset.url}{SECTIONS}", params=params, headers=headers)
        assert response.status_code == 400, params


# --- throttling ------------------------------------------------------------------------------
def assert_throttled(response: httpx.Response) -> int:
    assert response.status_code == 409
    assert response.reason_phrase == THROTTLE_REASON
    assert response.content == b""
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_61st_write_in_a_minute_is_409(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(min_interval_ms=0)
    headers = bearer(server.url)
    statuses = [post(server.url, headers, DisplayOrder=i).status_code for i in range(60)]
    assert statuses == [200] * 60
    retry_after = assert_throttled(post(server.url, headers))
    assert 55 <= retry_after <= 60
    assert len(stored(server)) == 60
    assert stats(server)["throttled"] == 1


@pytest.mark.slow
def test_61_writes_at_default_limits(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox()
    headers = bearer(server.url)
    statuses = []
    with httpx.Client(base_url=server.url, headers=headers) as client:
        for i in range(61):
            time.sleep(0.105)
            statuses.append(client.post(SECTIONS, json=section(DisplayOrder=i)).status_code)
    assert statuses[:60] == [200] * 60
    assert statuses[60] == 409


def test_min_interval_409(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(min_interval_ms=3000)
    response = HTTP.get(f"{server.url}{SECTIONS}", auth=("viewer@example.com", "viewer"))
    assert response.status_code == 200
    again = HTTP.get(f"{server.url}{SECTIONS}", auth=("viewer@example.com", "viewer"))
    assert assert_throttled(again) == 3


def test_requests_per_minute_409_and_rejections_do_not_count(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(requests_per_minute=3, min_interval_ms=0)
    viewer = ("viewer@example.com", "viewer")
    codes = [HTTP.get(f"{server.url}{SECTIONS}", auth=viewer).status_code for _ in range(6)]
    assert codes == [200, 200, 200, 409, 409, 409]
    # another client has its own window
    assert (
        HTTP.get(f"{server.url}{SECTIONS}", auth=("admin@example.com", "admin")).status_code == 200
    )
    counted = stats(server)
    assert counted["throttled"] == 3
    assert counted["statuses"] == {"200": 4, "409": 3}


def test_writes_per_day_and_token_is_not_a_write(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(writes_per_day=2, min_interval_ms=0)
    for _ in range(3):
        headers = bearer(server.url)  # token requests never use up write slots
    assert post(server.url, headers).status_code == 200
    assert post(server.url, headers).status_code == 200
    assert assert_throttled(post(server.url, headers)) > 3600
    # reads still pass
    assert HTTP.get(f"{server.url}{SECTIONS}", headers=headers).status_code == 200


def test_throttle_windows_with_a_fake_clock() -> None:
    now = [1000.0]
    throttle = Throttle(
        SandboxConfig(writes_per_minute=2, requests_per_minute=100, min_interval_ms=100),
        clock=lambda: now[0],
    )
    assert throttle.check("a", is_write=True) is None
    assert throttle.check("a", is_write=False) == 1  # 100 ms gap not yet passed
    now[0] += 0.5
    assert throttle.check("a", is_write=True) is None
    now[0] += 10
    assert throttle.check("a", is_write=True) == 50  # first write frees at t=1060
    now[0] += 40  # rejected attempts did not extend the window
    assert throttle.check("a", is_write=True) == 10
    now[0] = 1060.01
    assert throttle.check("a", is_write=True) is None
    assert throttle.check("b", is_write=True) is None  # clients are independent


def test_throttle_off_never_409(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(throttle=False, requests_per_minute=1, min_interval_ms=10_000)
    headers = bearer(server.url)
    codes = {HTTP.get(f"{server.url}{SECTIONS}", headers=headers).status_code for _ in range(5)}
    assert codes == {200}


# --- faults ----------------------------------------------------------------------------------
def test_fail_rate_stores_nothing(sandbox_reset: SandboxServer) -> None:
    headers = bearer(sandbox_reset.url)
    configure(sandbox_reset, fail_rate=1.0, seed=11)
    responses = [post(sandbox_reset.url, headers) for _ in range(12)]
    assert {r.status_code for r in responses} <= {500, 502, 503}
    assert len({r.status_code for r in responses}) > 1
    for response in responses:
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
    assert stored(sandbox_reset) == []
    assert stats(sandbox_reset)["faults_injected"] == 12


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_ambiguous_rate_stores_the_section(sandbox_reset: SandboxServer) -> None:
    headers = bearer(sandbox_reset.url)
    configure(sandbox_reset, ambiguous_rate=1.0, seed=5)
    outcomes: list[object] = []
    collect = _Collect()  # on uvicorn's own logger: it does not propagate to caplog
    logging.getLogger("uvicorn.error").addHandler(collect)
    try:
        for i in range(16):
            try:
                outcomes.append(post(sandbox_reset.url, headers, DisplayOrder=i).status_code)
            except (httpx.RemoteProtocolError, httpx.ReadError) as error:
                outcomes.append(type(error).__name__)
    finally:
        logging.getLogger("uvicorn.error").removeHandler(collect)
    assert len(stored(sandbox_reset)) == 16  # every one was stored despite the answer
    assert {o for o in outcomes if isinstance(o, int)} <= {500, 502, 504}
    assert any(isinstance(o, int) for o in outcomes)
    assert any(isinstance(o, str) for o in outcomes), "no dropped connection in 16 tries"
    assert collect.records == []  # deliberate drops are not logged as server errors


def test_same_seed_same_faults(make_sandbox: MakeSandbox) -> None:
    def run(server: SandboxServer) -> list[int]:
        headers = bearer(server.url)
        return [post(server.url, headers).status_code for _ in range(20)]

    settings = {"throttle": False, "fail_rate": 0.5, "seed": 42}
    first = run(make_sandbox(**settings))
    second_server = make_sandbox(**settings)
    assert run(second_server) == first
    assert 200 in first and len(set(first)) > 1
    HTTP.post(f"{second_server.control_url}/reset").raise_for_status()
    assert run(second_server) == first  # reset replays the seed


def test_latency_is_added(sandbox_reset: SandboxServer) -> None:
    headers = bearer(sandbox_reset.url)
    configure(sandbox_reset, latency_ms=200, jitter_ms=20, seed=1)
    started = time.perf_counter()
    HTTP.get(f"{sandbox_reset.url}{SECTIONS}", headers=headers)
    assert time.perf_counter() - started >= 0.18


# --- control API -----------------------------------------------------------------------------
def test_control_stats_reset_and_sections(sandbox_reset: SandboxServer) -> None:
    url = sandbox_reset.url
    headers = bearer(url)
    post(url, headers, CourseId=101)
    post(url, headers, CourseId=103)
    post(url, headers, Title=...)
    counted = stats(sandbox_reset)
    assert counted["requests"]["POST /api/content/coursesections"] == 3
    assert counted["requests"]["POST /api/token"] == 1
    assert counted["statuses"] == {"200": 3, "400": 1}
    assert counted["writes_accepted"] == 3
    assert counted["sections_stored"] == 2
    assert {s["CourseId"] for s in stored(sandbox_reset)} == {101, 103}
    HTTP.post(f"{sandbox_reset.control_url}/reset").raise_for_status()
    assert stored(sandbox_reset) == []
    assert stats(sandbox_reset)["requests"] == {}
    assert HTTP.get(f"{url}{SECTIONS}", headers=headers).status_code == 401  # tokens forgotten


def test_control_config_rejects_bad_fields(sandbox_reset: SandboxServer) -> None:
    config_url = f"{sandbox_reset.control_url}/config"
    assert HTTP.post(config_url, json={"port": 1}).status_code == 400
    assert HTTP.post(config_url, json={"nonsense": 1}).status_code == 400
    assert HTTP.post(config_url, json={"fail_rate": 2}).status_code == 400
    assert HTTP.post(config_url, json={"value_shape": "full"}).status_code == 400
    assert HTTP.post(config_url, json={"throttle": "yes"}).status_code == 400
    assert HTTP.post(config_url, json={"fail_rate": 0.25}).json()["fail_rate"] == 0.25


def test_control_api_absent_unless_enabled(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(control=False)
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    assert HTTP.get(f"{server.url}/sandbox/stats").status_code == 404


def test_sections_survive_a_restart_on_the_same_db(tmp_path: Path) -> None:
    config = SandboxConfig(throttle=False, db_path=tmp_path / "keep.sqlite3")
    with SandboxServer(config) as server:
        new_id = post(server.url, bearer(server.url)).json()["Value"]["Id"]
    with SandboxServer(config) as server:
        again = HTTP.get(f"{server.url}{SECTIONS}/{new_id}", headers=bearer(server.url))
        assert again.status_code == 200
        assert post(server.url, bearer(server.url)).json()["Value"]["Id"] == new_id + 1


def test_sandbox_imports_nothing_from_the_importer() -> None:
    """The sandbox shares only the API's shape with the importer."""
    package = Path(importer.sandbox.__file__).parent
    imported: list[tuple[str, str]] = []
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.append((module.name, node.module))
            elif isinstance(node, ast.Import):
                imported += [(module.name, alias.name) for alias in node.names]
    assert ("app.py", "importer.sandbox.store") in imported  # the scan sees our imports
    outside = [
        (name, target)
        for name, target in imported
        if target.split(".")[0] == "importer" and not target.startswith("importer.sandbox")
    ]
    assert outside == []


def test_busy_port_is_a_clear_error(sandbox: SandboxServer) -> None:
    with pytest.raises(RuntimeError, match="could not listen"):
        SandboxServer(SandboxConfig(port=sandbox.port)).start()
    with pytest.raises(ValueError, match="fail_rate"):
        SandboxServer(SandboxConfig(fail_rate=2.0))
