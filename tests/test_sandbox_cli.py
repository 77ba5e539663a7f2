"""`sections sandbox` as a subprocess: startup line, acceptance flow, clean Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from importer.codes import ExitCode

SECTIONS = "/api/content/coursesections"
FIRST_LINE = re.compile(r"^Nexudus sandbox listening on (http://127\.0\.0\.1:(\d+))$")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The CLI sandbox on a free port; yields (process, base url)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0",
         "--db", str(tmp_path / "cli.sqlite3"), "--control"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline().rstrip("\n")
        match = FIRST_LINE.match(first)
        assert match, f"unexpected first line {first!r}; stderr: {process.stderr}"
        banner = [first]
        while banner[-1] != "Press Ctrl-C to stop.":  # read the rest of the banner now
            line = process.stdout.readline()
            assert line, "sandbox stopped while printing its banner"
            banner.append(line.rstrip("\n"))
        process.banner = banner  # type: ignore[attr-defined]
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def pace() -> None:
    """The CLI sandbox throttles at the defaults: keep >= 100 ms between requests."""
    time.sleep(0.11)


def token(url: str, user: str) -> dict[str, str]:
    pace()
    response = httpx.post(
        f"{url}/api/token",
        data={"grant_type": "password", "username": f"{user}@example.com", "password": user},
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_acceptance_flow_and_clean_ctrl_c(running: tuple[subprocess.Popen[str], str]) -> None:
    process, url = running
    body = {"CourseId": 101, "Title": "Week 1", "DisplayOrder": 1, "UnlockType": 1,
            "UnlockAfterDays": 0}  # fmt: skip
    creator = token(url, "creator")
    pace()
    created = httpx.post(f"{url}{SECTIONS}", json=body, headers=creator)
    assert created.status_code == 200
    assert created.json()["WasSuccessful"] is True
    assert isinstance(created.json()["Value"]["Id"], int)

    viewer_headers = token(url, "viewer")
    pace()
    viewer = httpx.post(f"{url}{SECTIONS}", json=body, headers=viewer_headers)
    assert viewer.status_code == 401

    no_title = {k: v for k, v in body.items() if k != "Title"}
    pace()
    rejected = httpx.post(f"{url}{SECTIONS}", json=no_title, headers=creator)
    assert rejected.status_code == 400
    assert rejected.json()["Errors"][0]["PropertyName"] == "Title"

    assert len(httpx.get(f"{url}/sandbox/sections").json()) == 1

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert out.strip() == "Sandbox stopped."
    banner = "\n".join(process.banner)  # type: ignore[attr-defined]
    assert "admin@example.com / admin" in banner  # demo credentials are printed on purpose


def test_bad_port_is_one_line_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "importer", "sandbox", "--port", "notanumber"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == ExitCode.CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line_error(running: tuple[subprocess.Popen[str], str]) -> None:
    _, url = running
    port = url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "importer", "sandbox", "--port", port],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == ExitCode.CONFIG
    assert result.stderr.strip().splitlines() == [
        f"sections: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_db_that_is_not_a_database_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("this is not SQLite\n" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--db", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == ExitCode.CONFIG
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sandbox database" in lines[0] and str(bad) in lines[0], lines
