"""The sandbox's live-versus-documented options, each through raw httpx over loopback."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from importer.sandbox import DEMO_COURSES, DEMO_TOTP, SandboxConfig, SandboxServer
from importer.sandbox.config import LIVE_PROFILE, OOOPS_MESSAGE

SECTIONS = "/api/content/coursesections"
COURSES = "/api/content/courses"
MakeSandbox = Callable[..., SandboxServer]
HTTP = httpx.Client(timeout=10)
SEVEN_DECIMALS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
WHOLE_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def token_response(
    url: str, user: str = "creator", headers: Any = None, **form: str
) -> httpx.Response:
    data = {"grant_type": "password", "username": f"{user}@example.com", "password": user}
    data.update(form)
    return HTTP.post(f"{url}/api/token", data=data, headers=headers)


def bearer(url: str, user: str = "creator") -> dict[str, str]:
    response = token_response(url, user)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def body(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"CourseId": 101, "Title": "Week 1", "DisplayOrder": 1,
                              "UnlockType": 1, "UnlockAfterDays": 0}  # fmt: skip
    values.update(changes)
    return {k: v for k, v in values.items() if v is not ...}


def post(url: str, headers: dict[str, str], **changes: Any) -> httpx.Response:
    return HTTP.post(f"{url}{SECTIONS}", json=body(**changes), headers=headers)


def stored(server: SandboxServer) -> list[dict[str, Any]]:
    return HTTP.get(f"{server.control_url}/sections").json()


def quiet(make_sandbox: MakeSandbox, **settings: Any) -> SandboxServer:
    """A private sandbox without throttling (unless the test asks for it)."""
    settings.setdefault("throttle", False)
    return make_sandbox(**settings)


# --- profiles --------------------------------------------------------------------------------
def test_documented_profile_is_the_dataclass_default() -> None:
    assert SandboxConfig.for_profile("documented") == SandboxConfig()
    live = SandboxConfig.for_profile("live", fail_rate=0.1, throttle_status=409)
    assert live.fail_rate == 0.1 and live.throttle_status == 409  # overrides win
    assert live.put_semantics == LIVE_PROFILE["put_semantics"] == "strict"
    assert live.default_active is False and live.value_shape == "record"
    with pytest.raises(ValueError, match="unknown profile"):
        SandboxConfig.for_profile("staging")
    with pytest.raises(ValueError, match="nonsense: unknown option"):
        SandboxConfig.for_profile("live", nonsense=1)
    with pytest.raises(ValueError, match="put_semantics"):
        SandboxConfig.for_profile("live", put_semantics="sometimes")


def test_runtime_config_covers_the_new_options(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox)
    config_url = f"{server.control_url}/config"
    changed = HTTP.post(config_url, json={"throttle_status": 429, "put_semantics": "replace",
                                          "default_unlock_type": None, "first_id": 10})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["throttle_status"] == 429
    for bad in ({"throttle_status": 500}, {"courses": 5}, {"log_requests": True},
                {"list_fields": "some"}, {"fault_burst": 0}):  # fmt: skip
        response = HTTP.post(config_url, json=bad)
        assert response.status_code == 400, bad
        assert next(iter(bad)) in response.json()["Message"]
    HTTP.post(f"{server.control_url}/reset").raise_for_status()
    assert HTTP.post(config_url, json={}).json()["throttle_status"] == 429  # reset keeps options
    HTTP.post(f"{server.control_url}/reset", params={"config": 1}).raise_for_status()
    restored = HTTP.post(config_url, json={}).json()
    assert (restored["throttle_status"], restored["put_semantics"]) == (409, "merge")
    assert restored["first_id"] == SandboxConfig().first_id and restored["control"] is True


# --- throttling ------------------------------------------------------------------------------
def test_429_with_wait_text_and_no_retry_after_header(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(throttle_status=429, throttle_body="wait-text",
                          retry_after_header=False, min_interval_ms=2500)  # fmt: skip
    viewer = ("viewer@example.com", "viewer")
    assert HTTP.get(f"{server.url}{SECTIONS}", auth=viewer).status_code == 200
    throttled = HTTP.get(f"{server.url}{SECTIONS}", auth=viewer)
    assert throttled.status_code == 429
    assert "retry-after" not in throttled.headers
    wait = re.fullmatch(r"Wait ([\d.]+) seconds", throttled.text)
    assert wait, throttled.text
    assert 2.0 < float(wait.group(1)) <= 2.5
    HTTP.post(f"{server.control_url}/config", json={"retry_after_header": True})
    again = HTTP.get(f"{server.url}{SECTIONS}", auth=viewer)
    assert again.status_code == 429 and again.headers["Retry-After"] in ("2", "3")


def test_requests_per_hour_is_its_own_window(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(requests_per_hour=2, min_interval_ms=0)
    viewer = ("viewer@example.com", "viewer")
    codes = [HTTP.get(f"{server.url}{SECTIONS}", auth=viewer).status_code for _ in range(3)]
    assert codes == [200, 200, 409]
    throttled = HTTP.get(f"{server.url}{SECTIONS}", auth=viewer)
    assert int(throttled.headers["Retry-After"]) > 3000  # the hour, not the minute


def test_throttling_applies_to_put_and_delete(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(writes_per_minute=1, min_interval_ms=0)
    admin = bearer(server.url, "admin")
    new_id = post(server.url, admin).json()["Value"]["Id"]
    put = HTTP.put(f"{server.url}{SECTIONS}", json=body(Id=new_id, Title="X"), headers=admin)
    assert put.status_code == 409
    assert HTTP.delete(f"{server.url}{SECTIONS}/{new_id}", headers=admin).status_code == 409
    assert stored(server)[0]["Title"] == "Week 1"


# --- faults ----------------------------------------------------------------------------------
def test_ooops_failures_come_in_bursts(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, fail_rate=1.0, fault_burst=5, fault_gap=8,
                   fault_body="ooops", seed=4)  # fmt: skip
    headers = bearer(server.url)
    answers = [post(server.url, headers, DisplayOrder=i) for i in range(26)]
    failed = [r.status_code != 200 for r in answers]
    assert failed == ([True] * 5 + [False] * 8) * 2
    for run in (answers[0:5], answers[13:18]):
        assert len({r.status_code for r in run}) == 1  # one answer for the whole run
        assert run[0].status_code in (400, 500)
        assert run[0].json() == {"Message": OOOPS_MESSAGE, "Value": None, "Errors": None,
                                 "WasSuccessful": False}  # fmt: skip
    assert len(stored(server)) == 16


def test_ooops_comes_as_500_and_as_400(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, fail_rate=1.0, fault_body="ooops", seed=2)
    headers = bearer(server.url)
    answers = [post(server.url, headers) for _ in range(20)]
    assert {r.status_code for r in answers} == {400, 500}
    assert all(r.json()["Message"] == OOOPS_MESSAGE for r in answers)
    assert stored(server) == []


def test_faults_hit_put_and_ambiguous_delete_is_applied(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, seed=9)
    admin = bearer(server.url, "admin")
    new_id = post(server.url, admin).json()["Value"]["Id"]
    HTTP.post(f"{server.control_url}/config", json={"fail_rate": 1.0})
    put = HTTP.put(f"{server.url}{SECTIONS}", json=body(Id=new_id, Title="X"), headers=admin)
    assert put.status_code in (500, 502, 503)
    assert stored(server)[0]["Title"] == "Week 1"
    HTTP.post(f"{server.control_url}/config", json={"fail_rate": 0.0, "ambiguous_rate": 1.0})
    try:
        status: object = HTTP.delete(f"{server.url}{SECTIONS}/{new_id}", headers=admin).status_code
    except (httpx.RemoteProtocolError, httpx.ReadError) as error:
        status = type(error).__name__
    assert status != 200
    assert stored(server) == []  # applied although the answer was lost


# --- shapes and defaults ---------------------------------------------------------------------
def test_value_shape_record_carries_the_live_extras(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, value_shape="record")
    value = post(server.url, bearer(server.url), Title="Intro").json()["Value"]
    assert value["Id"] == stored(server)[0]["Id"] and value["Title"] == "Intro"
    assert value["ToStringText"] == "Intro"
    assert {"LocalizationDetails", "CustomFields", "CourseId", "UpdatedOn"} <= set(value)


def test_defaults_for_omitted_active_and_unlock_type(make_sandbox: MakeSandbox) -> None:
    documented = quiet(make_sandbox)
    headers = bearer(documented.url)
    refused = post(documented.url, headers, UnlockType=...)
    assert (
        refused.status_code == 400 and refused.json()["Errors"][0]["PropertyName"] == "UnlockType"
    )
    assert post(documented.url, headers).status_code == 200
    assert stored(documented)[0]["Active"] is True

    live = quiet(make_sandbox, default_active=False, default_unlock_type=0)
    assert post(live.url, bearer(live.url), UnlockType=...).status_code == 200
    [record] = stored(live)
    assert record["Active"] is False and record["UnlockType"] == 0


def test_big_ids_with_gaps(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, first_id=2_200_000_000, id_gaps=37, seed=5)
    headers = bearer(server.url)
    ids = [post(server.url, headers, DisplayOrder=i).json()["Value"]["Id"] for i in range(12)]
    assert ids[0] == 2_200_000_000 > 2**31
    steps = [b - a for a, b in zip(ids, ids[1:], strict=False)]
    assert all(1 <= step <= 38 for step in steps) and max(steps) > 1
    got = HTTP.get(f"{server.url}{SECTIONS}/{ids[-1]}", headers=headers).json()
    assert got["Id"] == ids[-1]


def test_seven_decimal_timestamps(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, timestamp_decimals=7)
    created = post(server.url, bearer(server.url)).json()
    [record] = stored(server)
    for stamp in (created["UpdatedOn"], record["CreatedOn"], record["UpdatedOn"]):
        assert SEVEN_DECIMALS.match(stamp), stamp
    documented = quiet(make_sandbox)
    post(documented.url, bearer(documented.url))
    assert WHOLE_SECONDS.match(stored(documented)[0]["CreatedOn"])


def test_missing_course_named_by_navigation_name(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, foreign_key_name="navigation")
    headers = bearer(server.url)
    for changes in ({"CourseId": 999}, {"CourseId": ...}):
        response = post(server.url, headers, **changes)
        assert response.status_code == 400
        assert response.json()["Message"] == "Course: is a required field"
        assert [e["PropertyName"] for e in response.json()["Errors"]] == ["Course"]


def test_missing_course_as_ooops(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, missing_course_error="ooops")
    response = post(server.url, bearer(server.url), CourseId=999)
    assert response.status_code == 500
    assert response.json()["Message"] == OOOPS_MESSAGE and response.json()["Errors"] is None
    assert stored(server) == []


# --- PUT -------------------------------------------------------------------------------------
def _stored_section(server: SandboxServer, headers: dict[str, str]) -> int:
    created = post(server.url, headers, SectionContents="<p>Intro</p>", SystemId="legacy-1",
                   Active=False, Title="Week 1")  # fmt: skip
    assert created.status_code == 200, created.text
    return int(created.json()["Value"]["Id"])


def _put(server: SandboxServer, headers: dict[str, str], **values: Any) -> httpx.Response:
    return HTTP.put(f"{server.url}{SECTIONS}", json=values, headers=headers)


def test_put_strict(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, put_semantics="strict", timestamp_decimals=7)
    headers = bearer(server.url)
    new_id = _stored_section(server, headers)
    partial = _put(server, headers, Id=new_id, Title="Renamed")
    assert partial.status_code == 400
    assert partial.json()["Message"] == "CourseId: is a required field"
    names = {e["PropertyName"] for e in partial.json()["Errors"]}
    assert names == {"CourseId", "DisplayOrder", "UnlockType", "UnlockAfterDays"}
    assert stored(server)[0]["Title"] == "Week 1"
    full = _put(server, headers, **body(Id=new_id, Title="Renamed", DisplayOrder=4))
    assert full.status_code == 200, full.text
    [record] = stored(server)
    assert (record["Title"], record["DisplayOrder"]) == ("Renamed", 4)
    assert record["SectionContents"] is None and record["SystemId"] is None  # cleared
    assert record["Active"] is True  # back to the default
    assert record["UpdatedOn"] > record["CreatedOn"] and full.json()["Value"] == {"Id": new_id}


def test_put_replace(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, put_semantics="replace")
    headers = bearer(server.url)
    new_id = _stored_section(server, headers)
    response = _put(server, headers, Id=new_id, Title="Renamed")
    assert response.status_code == 200, response.text
    [record] = stored(server)
    assert (record["Title"], record["DisplayOrder"], record["CourseId"]) == ("Renamed", 1, 101)
    assert record["SectionContents"] is None and record["SystemId"] is None


def test_put_merge(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, put_semantics="merge")
    headers = bearer(server.url)
    new_id = _stored_section(server, headers)
    assert _put(server, headers, Id=new_id, Title="Renamed").status_code == 200
    [record] = stored(server)
    assert record["Title"] == "Renamed"
    assert (record["SectionContents"], record["SystemId"]) == ("<p>Intro</p>", "legacy-1")
    assert record["Active"] is False
    gone = _put(server, headers, Id=new_id + 1000, Title="x")
    assert gone.status_code == 404


def test_put_needs_edit_role_and_system_id_filter(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox)
    creator = bearer(server.url)
    new_id = _stored_section(server, creator)
    post(server.url, creator, SystemId="legacy-10", Title="Other")
    viewer = bearer(server.url, "viewer")
    assert _put(server, viewer, **body(Id=new_id)).status_code == 401
    listed = HTTP.get(f"{server.url}{SECTIONS}", params={"CourseSection_SystemId": "legacy-1"},
                      headers=viewer).json()  # fmt: skip
    assert [r["Id"] for r in listed["Records"]] == [new_id]  # exact, not a substring


# --- DELETE ----------------------------------------------------------------------------------
def test_delete_then_404(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox)
    headers = bearer(server.url)
    new_id = post(server.url, headers).json()["Value"]["Id"]
    deleted = HTTP.delete(f"{server.url}{SECTIONS}/{new_id}", headers=headers)
    assert deleted.status_code == 200 and deleted.json()["WasSuccessful"] is True
    gone = HTTP.delete(f"{server.url}{SECTIONS}/{new_id}", headers=headers)
    assert gone.status_code == 404 and gone.json()["WasSuccessful"] is False
    assert (
        HTTP.delete(
            f"{server.url}{SECTIONS}/{new_id}", headers=bearer(server.url, "viewer")
        ).status_code
        == 401
    )


@pytest.mark.parametrize(("as_200", "status"), [(False, 500), (True, 200)])
def test_delete_blocked_by_children(make_sandbox: MakeSandbox, as_200: bool, status: int) -> None:
    server = quiet(make_sandbox, delete_blocked_by_children=True, delete_failure_as_200=as_200)
    headers = bearer(server.url)
    new_id = post(server.url, headers).json()["Value"]["Id"]
    marked = HTTP.post(f"{server.control_url}/sections/{new_id}/children", json={"lessons": 2})
    assert marked.status_code == 200
    refused = HTTP.delete(f"{server.url}{SECTIONS}/{new_id}", headers=headers)
    assert refused.status_code == status
    assert refused.json()["WasSuccessful"] is False and "2 lesson" in refused.json()["Message"]
    assert len(stored(server)) == 1
    HTTP.post(f"{server.control_url}/sections/{new_id}/children", json={"lessons": 0})
    assert HTTP.delete(f"{server.url}{SECTIONS}/{new_id}", headers=headers).status_code == 200


def test_children_are_deleted_with_the_section_when_not_blocking(
    make_sandbox: MakeSandbox,
) -> None:
    server = quiet(make_sandbox)
    headers = bearer(server.url)
    new_id = post(server.url, headers).json()["Value"]["Id"]
    HTTP.post(f"{server.control_url}/sections/{new_id}/children", json={"lessons": 3})
    assert HTTP.delete(f"{server.url}{SECTIONS}/{new_id}", headers=headers).status_code == 200
    missing = HTTP.post(f"{server.control_url}/sections/{new_id}/children", json={"lessons": 1})
    assert missing.status_code == 404


# --- reading ---------------------------------------------------------------------------------
def _fill(server: SandboxServer, count: int) -> list[int]:
    headers = bearer(server.url, "admin")
    answers = [post(server.url, headers, DisplayOrder=i, SectionContents=f"<p>{i}</p>")
               for i in range(count)]  # fmt: skip
    return [answer.json()["Value"]["Id"] for answer in answers]


def test_page_size_clamped_across_several_pages(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, max_page_size=10, page_size_overflow="clamp")
    ids = _fill(server, 25)
    headers = bearer(server.url, "viewer")
    seen: list[int] = []
    number = 1
    while True:
        listing = HTTP.get(f"{server.url}{SECTIONS}", params={"size": 1000, "page": number},
                           headers=headers).json()  # fmt: skip
        assert listing["CurrentPageSize"] == 10 and listing["TotalPages"] == 3
        seen += [r["Id"] for r in listing["Records"]]
        if not listing["HasNextPage"]:
            break
        number += 1
    assert number == 3 and seen == ids


def test_page_size_overflow_error(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, max_page_size=10, page_size_overflow="error")
    headers = bearer(server.url, "viewer")
    too_big = HTTP.get(f"{server.url}{SECTIONS}", params={"size": 11}, headers=headers)
    assert too_big.status_code == 400 and "at most 10" in too_big.json()["Message"]
    assert (
        HTTP.get(f"{server.url}{SECTIONS}", params={"size": 10}, headers=headers).status_code == 200
    )
    courses = HTTP.get(f"{server.url}{COURSES}", params={"size": 50}, headers=headers)
    assert courses.status_code == 400  # the course listing has the same limit


def test_partial_list_fields(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, list_fields="partial")
    [new_id] = _fill(server, 1)
    headers = bearer(server.url, "viewer")
    [listed] = HTTP.get(f"{server.url}{SECTIONS}", headers=headers).json()["Records"]
    assert "SectionContents" not in listed and listed["Title"] == "Week 1"
    full = HTTP.get(f"{server.url}{SECTIONS}/{new_id}", headers=headers).json()
    assert full["SectionContents"] == "<p>0</p>"


def test_batch_read_role(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox)
    [new_id] = _fill(server, 1)
    params = {"id": f"[{new_id}]"}
    reader = bearer(server.url, "reader")  # CourseSection-Read, not -List
    assert HTTP.get(f"{server.url}{SECTIONS}/", params=params, headers=reader).status_code == 200
    HTTP.post(f"{server.control_url}/config", json={"batch_read_role": "list"})
    assert HTTP.get(f"{server.url}{SECTIONS}/", params=params, headers=reader).status_code == 401
    viewer = bearer(server.url, "viewer")
    answer = HTTP.get(f"{server.url}{SECTIONS}/", params=params, headers=viewer)
    assert [r["Id"] for r in answer.json()] == [new_id]


def test_course_listing_paged_and_filtered(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, courses=600)
    headers = bearer(server.url)  # creator holds Course-List
    first = HTTP.get(f"{server.url}{COURSES}", params={"size": 250}, headers=headers).json()
    assert first["TotalItems"] == 600 and first["TotalPages"] == 3
    assert [c["Title"] for c in first["Records"][:3]] == list(DEMO_COURSES.values())
    last = HTTP.get(f"{server.url}{COURSES}", params={"size": 250, "page": 3}, headers=headers)
    assert last.json()["Records"][-1]["Id"] == 700
    named = HTTP.get(f"{server.url}{COURSES}", params={"Course_Title": "member events"},
                     headers=headers).json()  # fmt: skip
    assert [(c["Id"], c["Title"]) for c in named["Records"]] == [(103, DEMO_COURSES[103])]
    added = HTTP.post(f"{server.control_url}/courses", json={"Id": 900, "Title": DEMO_COURSES[103]})
    assert added.status_code == 200
    twice = HTTP.get(f"{server.url}{COURSES}", params={"Course_Title": "member events"},
                     headers=headers).json()  # fmt: skip
    assert [c["Id"] for c in twice["Records"]] == [103, 900]
    reader = bearer(server.url, "reader")
    assert HTTP.get(f"{server.url}{COURSES}", headers=reader).status_code == 401


# --- tokens ----------------------------------------------------------------------------------
def _refresh(url: str, refresh_token: str, headers: Any = None, **form: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
    return HTTP.post(f"{url}/api/token", data=data, headers=headers)


def test_client_id_header_binding_on_refresh(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, client_id_binding="strict")
    portal = {"client_id": "portal-app"}
    granted = token_response(server.url, headers=portal).json()
    refused = _refresh(server.url, granted["refresh_token"])
    assert refused.status_code == 400 and "client_id" in refused.json()["error_description"]
    other = _refresh(server.url, granted["refresh_token"], headers={"client_id": "other"})
    assert other.status_code == 400
    again = _refresh(server.url, granted["refresh_token"], headers=portal)
    assert again.status_code == 200, again.text
    as_form = _refresh(server.url, again.json()["refresh_token"], client_id="portal-app")
    assert as_form.status_code == 200
    plain = token_response(server.url).json()  # no client_id: the email stands in
    assert _refresh(server.url, plain["refresh_token"]).status_code == 200
    plain = token_response(server.url).json()
    named = _refresh(server.url, plain["refresh_token"], client_id="creator@example.com")
    assert named.status_code == 200

    lenient = quiet(make_sandbox)
    granted = token_response(lenient.url, headers=portal).json()
    assert _refresh(lenient.url, granted["refresh_token"]).status_code == 200


def test_refresh_ttl_days(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox, refresh_ttl_days=0)
    granted = token_response(server.url).json()
    expired = _refresh(server.url, granted["refresh_token"])
    assert expired.status_code == 400 and "expired" in expired.json()["error_description"]
    HTTP.post(f"{server.control_url}/config", json={"refresh_ttl_days": 30})
    granted = token_response(server.url).json()
    assert _refresh(server.url, granted["refresh_token"]).status_code == 200


def test_two_factor_user_needs_totp(make_sandbox: MakeSandbox) -> None:
    server = quiet(make_sandbox)
    missing = token_response(server.url, "twofactor")
    assert missing.status_code == 400 and "totp" in missing.json()["error_description"]
    wrong = token_response(server.url, "twofactor", totp="000000")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    right = token_response(server.url, "twofactor", totp=DEMO_TOTP)
    assert right.status_code == 200
    headers = {"Authorization": f"Bearer {right.json()['access_token']}"}
    assert post(server.url, headers).status_code == 200
    basic = HTTP.get(f"{server.url}{SECTIONS}", auth=("twofactor@example.com", "twofactor"))
    assert basic.status_code == 401
