"""Profile files (write, read back, replay) and `sections sandbox` as a subprocess:
--profile presets, --profile-file, explicit options, --courses and --log-requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from importer.codes import ExitCode
from importer.sandbox import (
    PROFILE_FIELDS,
    SandboxConfig,
    SandboxServer,
    apply_profile,
    profile_dict,
    read_profile_file,
    write_profile_file,
)

SECTIONS = "/api/content/coursesections"
ENV = {k: v for k, v in os.environ.items() if not k.startswith("NEXUDUS_")}
LOG_LINE = re.compile(r"^(GET|POST|PUT|DELETE) (/\S*) (\d{3}|dropped) (\d+) ms( throttled)?$")


# --- the file format -------------------------------------------------------------------------
def test_profile_round_trips(tmp_path: Path) -> None:
    measured = SandboxConfig.for_profile("live", fail_rate=0.2, max_page_size=50, courses=9)
    path = tmp_path / "doctor.json"
    write_profile_file(path, measured, observed={"base_url": "https://spaces.nexudus.com"})
    written = json.loads(path.read_text(encoding="utf-8"))
    assert set(written) == {"sandbox", "observed"}
    assert set(written["sandbox"]) == PROFILE_FIELDS
    assert not {"host", "port", "db_path", "control", "log_requests"} & set(written["sandbox"])
    replayed = apply_profile(SandboxConfig(), {"sandbox": read_profile_file(path)})
    assert replayed == measured
    assert profile_dict(replayed)["sandbox"] == written["sandbox"]


@pytest.mark.parametrize(
    ("profile", "named"),
    [
        ({"sandbox": {"throttle_statuss": 429}}, "throttle_statuss: unknown option"),
        ({"sandbox": {"port": 8000}}, "port: not settable in a profile file"),
        ({"sandbox": {"throttle_status": "429"}}, "throttle_status: expected 409 or 429"),
        ({"sandbox": {}, "password": "x"}, "password: unknown top-level key"),
        ({"observed": {}}, "sandbox: missing"),
        ({"sandbox": {"fail_rate": 3}}, "fail_rate must be between 0 and 1"),
    ],
)
def test_bad_profiles_are_refused_naming_the_key(profile: Any, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        apply_profile(SandboxConfig(), profile)


def test_profile_file_errors_are_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_profile_file(broken)
    with pytest.raises(ValueError, match="cannot read profile file"):
        read_profile_file(tmp_path / "missing.json")


def test_replayed_profile_behaves_like_the_measured_account(tmp_path: Path) -> None:
    path = tmp_path / "doctor.json"
    measured = SandboxConfig.for_profile("live", put_semantics="merge", first_id=77)
    write_profile_file(path, measured)
    config = apply_profile(SandboxConfig(), {"sandbox": read_profile_file(path)})
    assert config.throttle is True  # the measured account throttles: so does its replay
    with SandboxServer(replace(config, throttle=False)) as server:
        form = {"grant_type": "password", "username": "creator@example.com",
                "password": "creator"}  # fmt: skip
        token = httpx.post(f"{server.url}/api/token", data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"CourseId": 101, "Title": "A", "DisplayOrder": 1, "UnlockAfterDays": 0}
        created = httpx.post(f"{server.url}{SECTIONS}", json=body, headers=headers).json()
        assert created["Value"]["Id"] == 77 and created["Value"]["UnlockType"] == 0  # live
        merged = httpx.put(f"{server.url}{SECTIONS}", json={"Id": 77, "Title": "B"},
                           headers=headers)  # fmt: skip
        assert merged.status_code == 200  # merge, as measured (live would be strict)


# --- the command -----------------------------------------------------------------------------
@contextmanager
def cli_sandbox(*options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`sections sandbox --port 0 OPTIONS` in its own process; yields (process, base url)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("Nexudus sandbox listening on "), first
        while process.stdout.readline().strip() != "Press Ctrl-C to stop.":
            assert process.poll() is None, "sandbox stopped while printing its banner"
        yield process, first.rsplit(" ", 1)[-1]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _login(url: str, user: str = "creator") -> dict[str, str]:
    form = {"grant_type": "password", "username": f"{user}@example.com", "password": user}
    response = httpx.post(f"{url}/api/token", data=form, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_log_requests_and_600_courses() -> None:
    options = ("--profile", "live", "--courses", "600", "--log-requests",
               "--min-interval-ms", "0", "--requests-per-minute", "3")  # fmt: skip
    with cli_sandbox(*options) as (process, url):
        headers = _login(url)
        courses = httpx.get(f"{url}/api/content/courses", params={"size": 1000}, headers=headers)
        assert courses.status_code == 200
        assert courses.json()["TotalItems"] == 600 and len(courses.json()["Records"]) == 600
        assert courses.json()["Records"][-1]["Id"] == 700
        statuses = [httpx.get(f"{url}{SECTIONS}", headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # live: 429
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
    lines = err.strip().splitlines()
    parsed = [LOG_LINE.match(line) for line in lines]
    assert all(parsed), lines
    summary = [(m.group(1), m.group(2), m.group(3), bool(m.group(5))) for m in parsed if m]
    assert summary == [
        ("POST", "/api/token", "200", False),
        ("GET", "/api/content/courses", "200", False),
        ("GET", SECTIONS, "200", False),
        ("GET", SECTIONS, "200", False),
        ("GET", SECTIONS, "429", True),
    ]
    token = headers["Authorization"].split()[1]
    assert token not in err and "creator" not in err and "size=" not in err


def test_profile_file_under_explicit_options(tmp_path: Path) -> None:
    path = tmp_path / "doctor.json"
    profile = {"sandbox": {"value_shape": "id", "first_id": 42, "throttle": False},
               "observed": {"note": "ignored"}}  # fmt: skip
    path.write_text(json.dumps(profile), encoding="utf-8")
    options = ("--profile-file", str(path), "--value-shape", "record", "--throttle-status", "409")
    with cli_sandbox(*options) as (_, url):
        headers = _login(url)
        body = {"CourseId": 101, "Title": "A", "DisplayOrder": 1, "UnlockAfterDays": 0}
        created = httpx.post(f"{url}{SECTIONS}", json=body, headers=headers).json()
        assert created["Value"]["Id"] == 42  # from the file, over the live preset
        assert created["Value"]["ToStringText"] == "A"  # the explicit option beats the file
        assert created["Value"]["Active"] is False  # the live preset under both


def test_documented_profile_from_the_command_line() -> None:
    with cli_sandbox("--profile", "documented", "--min-interval-ms", "5000") as (_, url):
        headers = _login(url)
        assert httpx.get(f"{url}{SECTIONS}", headers=headers).status_code == 200
        throttled = httpx.get(f"{url}{SECTIONS}", headers=headers)
        assert throttled.status_code == 409 and throttled.content == b""
        assert throttled.headers["Retry-After"] == "5"


def test_bad_profile_file_is_one_line_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "doctor.json"
    path.write_text(json.dumps({"sandbox": {"page_sise": 10}}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--profile-file", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
    )
    assert result.returncode == ExitCode.CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "page_sise" in lines[0] and str(path) in lines[0], lines


def test_help_shows_every_behaviour_option_with_both_values() -> None:
    from importer.cli.sandbox_cmd import _BEHAVIOUR

    assert {option.field for option in _BEHAVIOUR} == PROFILE_FIELDS  # nothing left out
    result = subprocess.run(
        [sys.executable, "-m", "importer", "sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[documented:") == len(_BEHAVIOUR)
    flat = " ".join(result.stdout.split())
    assert "totp=123456" in flat and "--profile-file" in flat and "--log-requests" in flat
    assert "[documented: 409; live: 429]" in flat and "[documented: merge; live: strict]" in flat
