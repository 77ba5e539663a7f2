"""The built-in sandbox as the importer uses it: `--sandbox`, `sections batch --sandbox`, notebooks.

One place decides which demo account the importer uses, where the sandbox keeps its data and
how the ledger is keyed for it (the port changes every run, so the data file is the key).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from importer.client import Credentials
from importer.errors import ConfigError

if TYPE_CHECKING:
    from importer.engine.settings import JobSettings
    from importer.sandbox import SandboxServer

#: The sandbox's demo account holding exactly the roles the importer needs.
SANDBOX_USER = "creator@example.com"
#: The sandbox's data file, kept in the state folder so that a rerun sees the same server.
SANDBOX_DB_NAME = "sandbox.sqlite3"
#: What to say when the sandbox's dependencies (Starlette, uvicorn) are not installed.
MISSING_EXTRA = (
    "the built-in sandbox needs the 'sandbox' extra: "
    "pip install 'course-sections-importer[sandbox]'"
)


def require_sandbox() -> None:
    """ConfigError (exit 3, one line naming the extra) when the sandbox cannot be imported."""
    try:
        import importer.sandbox  # noqa: F401
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None


def sandbox_credentials() -> Credentials:
    """Credentials of the built-in sandbox's demo importer account (never a real one)."""
    require_sandbox()
    from importer.sandbox import DEMO_USERS

    return Credentials(username=SANDBOX_USER, password=DEMO_USERS[SANDBOX_USER].password)


def start_sandbox(
    db_path: str | Path | None = None,
    *,
    control: bool = False,
    port: int = 0,
    profile_file: str | Path | None = None,
) -> SandboxServer:
    """Start a sandbox at the documented limits (or as `profile_file` says, e.g. a
    doctor.json) on `port` (0: a free one); `db_path` None keeps its data in a temp file."""
    require_sandbox()
    from importer.sandbox import SandboxConfig, SandboxServer

    db = Path(db_path).resolve() if db_path else None
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    try:
        config = SandboxConfig(db_path=db, control=control, port=port)
        if profile_file is not None:
            from importer.sandbox.profiles import read_profile_file

            config = dataclasses.replace(config, **read_profile_file(profile_file))
        return SandboxServer(config).start()
    except (
        OSError,
        ValueError,
        RuntimeError,
    ) as error:  # a data file that is not the sandbox's, no port
        raise ConfigError(str(error)) from None


def sandbox_ledger_scope(db_path: str | Path | None = None) -> str:
    """The ledger key for a built-in sandbox (its port changes every run, so not its URL).

    With a data file: `sandbox:<absolute path>`, the same for `--sandbox`, `sections batch
    --sandbox` and a notebook, so a rerun recognises what it sent. Without one (a temporary
    sandbox, gone after the run): a key of its own that no later run shares.
    """
    if db_path:
        return f"sandbox:{Path(db_path).resolve()}"
    return f"sandbox-temporary:{uuid.uuid4()}"


@contextmanager
def running_sandbox(
    settings: JobSettings, db_path: str | Path | None, *, port: int | None = None
) -> Iterator[tuple[JobSettings, SandboxServer]]:
    """A sandbox for the length of the block, and `settings` pointed at it; on `port`
    (default: the `sandbox_port` setting, 0 = a free port)."""
    server = start_sandbox(
        db_path,
        port=settings.sandbox_port if port is None else port,
        profile_file=settings.profile_file,
    )
    try:
        pointed = settings.with_options(api_url=server.url)
        yield (
            dataclasses.replace(
                pointed,
                credentials=sandbox_credentials(),
                ledger_scope=sandbox_ledger_scope(db_path) if db_path else settings.ledger_scope,
            ),
            server,
        )
    finally:
        server.stop()
