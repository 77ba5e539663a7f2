"""`sections doctor` against the sandbox under both profiles (issue 14): answers, roles,
the write probe (exactly one probe, cleaned up after a kill -9), the replayable profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from import_support import CREATOR, FAST, control, sandbox

from importer.codes import ExitCode
from importer.doctor import DoctorResult, run_doctor
from importer.engine.settings import JobSettings
from importer.sandbox import SandboxConfig, SandboxServer
from importer.sandbox.profiles import apply_profile


def _config(profile: str) -> dict[str, object]:
    live = SandboxConfig.for_profile("live")
    chosen = live if profile == "live" else SandboxConfig()
    keep = ("put_semantics", "value_shape", "default_active", "max_page_size", "list_fields",
            "timestamp_decimals", "first_id", "default_unlock_type")  # fmt: skip
    return {name: getattr(chosen, name) for name in keep}


@pytest.fixture(params=["documented", "live"])
def server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    with sandbox(**_config(request.param)) as running:
        yield running


def is_live(server: SandboxServer) -> bool:
    return server.config.put_semantics == "strict"


def doctor(url: str, tmp: Path, **kwargs: object) -> DoctorResult:
    settings = JobSettings.build(
        input=tmp / "doctor.json", api_url=url, credentials=CREATOR, **FAST
    )
    return run_doctor(settings, output=tmp / "doctor.json", **kwargs)  # type: ignore[arg-type]


def probes(url: str) -> list[dict[str, object]]:
    return [s for s in control(url, "sections") if "doctor probe" in str(s["Title"])]


def test_the_write_probe_learns_the_account_and_leaves_nothing(
    server: SandboxServer, tmp_path: Path
) -> None:
    result = doctor(server.url, tmp_path, write_probe=True, course=101)
    assert result.exit_code == ExitCode.OK, result.checks
    live = is_live(server)
    assert result.answers["put_semantics"] == ("strict" if live else "merge")
    assert result.answers["value_shape"] == ("record" if live else "id")
    assert result.answers["default_active"] is (not live)
    assert result.answers["list_fields"] == ("partial" if live else "full")
    assert result.answers["timestamp_decimals"] == (7 if live else 0)
    assert probes(server.url) == []
    saved = json.loads((tmp_path / "doctor.json").read_text(encoding="utf-8"))
    assert saved["sandbox"] == result.answers


def test_replayed_profile_gives_the_same_answers(server: SandboxServer, tmp_path: Path) -> None:
    first = doctor(server.url, tmp_path, write_probe=True, course=101)
    profile = json.loads((tmp_path / "doctor.json").read_text(encoding="utf-8"))
    replay_config = apply_profile(SandboxConfig(control=True, throttle=False), profile)
    with SandboxServer(replay_config) as replay:
        (tmp_path / "again").mkdir()
        second = doctor(replay.url, tmp_path / "again", write_probe=True, course=101)
    assert second.answers == first.answers
    assert second.exit_code == first.exit_code


def test_a_read_only_doctor_writes_nothing(server: SandboxServer, tmp_path: Path) -> None:
    before = control(server.url, "stats")
    result = doctor(server.url, tmp_path)
    assert result.exit_code == ExitCode.OK
    assert control(server.url, "sections") == [] and "put_semantics" not in result.answers
    assert control(server.url, "stats")["requests"].get("PUT", 0) == before["requests"].get(
        "PUT", 0
    )


def _doctor_cli(
    url: str, tmp: Path, user: str, password: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEXUDUS_USERNAME": user, "NEXUDUS_PASSWORD": password}
    return subprocess.run(
        [sys.executable, "-m", "importer", "doctor", "--api-url", url, *args],
        capture_output=True, text=True, cwd=tmp, env=env, timeout=120,
    )  # fmt: skip


def test_viewer_exits_3_naming_the_missing_role(tmp_path: Path) -> None:
    (tmp_path / "doctor.json").write_text('{"sandbox": {}}', encoding="utf-8")  # a good one
    with sandbox() as server:
        done = _doctor_cli(server.url, tmp_path, "viewer@example.com", "viewer")
    assert done.returncode == ExitCode.CONFIG, done.stdout + done.stderr
    assert "CourseSection-Create" in done.stderr and len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert (tmp_path / "doctor.json").read_text(encoding="utf-8") == '{"sandbox": {}}'
    assert "not written" in done.stdout  # an incomplete profile never replaces a good one


def test_a_probe_killed_between_create_and_delete_is_cleaned_up_next_run(
    tmp_path: Path,
) -> None:
    """kill -9 right after the probe section was created: the next doctor run (even without
    --write-probe) deletes it, and a probe run after that leaves no second probe."""
    killer = (
        "import os, signal, sys, importer.doctor_probe as probe\n"
        "def die(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "probe._put_semantics = die\n"
        "from importer.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    with sandbox() as server:
        env = {
            **os.environ,
            "NEXUDUS_USERNAME": "creator@example.com",
            "NEXUDUS_PASSWORD": "creator",
        }
        killed = subprocess.run(
            [sys.executable, "-c", killer, "doctor", "--api-url", server.url, "--write-probe",
             "--course", "101"],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
        )  # fmt: skip
        assert killed.returncode == -9
        assert len(probes(server.url)) == 1
        cleaned = _doctor_cli(server.url, tmp_path, "creator@example.com", "creator")
        assert cleaned.returncode == ExitCode.OK, cleaned.stdout + cleaned.stderr
        assert "removed 1 section(s) an interrupted probe left" in cleaned.stdout
        assert probes(server.url) == []
        again = _doctor_cli(
            server.url,
            tmp_path,
            "creator@example.com",
            "creator",
            "--write-probe",
            "--course",
            "101",
        )
        assert again.returncode == ExitCode.OK and probes(server.url) == []


def test_no_credential_in_doctor_json_stdout_or_log(tmp_path: Path) -> None:
    import httpx

    with sandbox() as server:
        token = httpx.post(
            f"{server.url}/api/token",
            data={"grant_type": "password", "username": "creator@example.com",
                  "password": "creator"},
        ).json()["access_token"]  # fmt: skip
        env = {**os.environ, "NEXUDUS_TOKEN": token}
        log = tmp_path / "doctor.log"
        done = subprocess.run(
            [sys.executable, "-m", "importer", "doctor", "--api-url", server.url,
             "--write-probe", "--course", "101", "--log-file", str(log)],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
        )  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    saved = (tmp_path / "doctor.json").read_text(encoding="utf-8")
    for text in (done.stdout, done.stderr, saved, log.read_text(encoding="utf-8")):
        assert token not in text and "Bearer" not in text
    assert log.stat().st_size > 0
