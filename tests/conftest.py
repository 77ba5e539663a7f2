"""Shared fixtures: a real sandbox server over loopback, and a clean environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from importer.sandbox import SandboxConfig, SandboxServer

#: What sandbox_reset restores on the shared sandbox after a test changed it at run time.
SHARED_SETTINGS: dict[str, Any] = {
    "fail_rate": 0.0,
    "ambiguous_rate": 0.0,
    "latency_ms": 0,
    "jitter_ms": 0,
    "throttle": False,
    "value_shape": "id",
    "failures_as_200": False,
    "token_ttl": 3600,
    "seed": None,
}


@pytest.fixture(autouse=True)
def _no_nexudus_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's NEXUDUS_* variables must not change test results."""
    for name in list(os.environ):
        if name.upper().startswith("NEXUDUS_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _own_account_locks(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test (and the processes it starts) keeps its per-account locks to itself."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture(params=["documented", "live"])
def sandbox_profile(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test against both sandbox profiles (the published documentation, and what live
    clients see): modules opt in with `pytestmark = pytest.mark.usefixtures(...)`."""
    import import_support

    import_support.PROFILE[0] = request.param
    try:
        yield request.param
    finally:
        import_support.PROFILE[0] = "documented"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """One unthrottled sandbox with the control API for the whole session."""
    db_path = tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite3"
    with SandboxServer(SandboxConfig(control=True, throttle=False, db_path=db_path)) as server:
        yield server


@pytest.fixture
def sandbox_reset(sandbox: SandboxServer) -> SandboxServer:
    """The shared sandbox, emptied and back to its session settings."""
    httpx.post(f"{sandbox.control_url}/config", json=SHARED_SETTINGS).raise_for_status()
    httpx.post(f"{sandbox.control_url}/reset").raise_for_status()
    return sandbox


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., SandboxServer]]:
    """Factory for a private sandbox with its own limits/faults; all stopped at teardown.

    Keyword arguments are SandboxConfig fields; control=True and a tmp db are the defaults.
    """
    started: list[SandboxServer] = []

    def make(**settings: Any) -> SandboxServer:
        settings.setdefault("control", True)
        settings.setdefault("db_path", tmp_path / f"sandbox-{len(started)}.sqlite3")
        server = SandboxServer(SandboxConfig(**settings)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
