"""Sandbox: the documented read-several-courses call `GET /api/content/courses/?id=[...]`."""

from __future__ import annotations

import httpx

from importer.sandbox import SandboxServer

COURSES = "/api/content/courses/"


def _bearer(url: str, user: str) -> dict[str, str]:
    form = {"grant_type": "password", "username": f"{user}@example.com", "password": user}
    token = httpx.post(f"{url}/api/token", data=form, timeout=10).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_course_batch_read_answers_a_bare_array(sandbox_reset: SandboxServer) -> None:
    """Same shape as the section batch read; unknown ids are left out, not an error."""
    url = sandbox_reset.url
    headers = _bearer(url, "viewer")  # Course-Read is enough; Course-List is not needed
    response = httpx.get(f"{url}{COURSES}", params={"id": "[101,999,103]"}, headers=headers)
    assert response.status_code == 200, response.text
    assert [course["Id"] for course in response.json()] == [101, 103]
    bad = httpx.get(f"{url}{COURSES}", params={"id": "[101,x]"}, headers=headers)
    assert bad.status_code == 400
    assert httpx.get(f"{url}{COURSES}", params={"id": "[101]"}).status_code == 401
