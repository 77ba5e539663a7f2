"""Who may write: one run per state folder, and one run per API account on this machine.

Both are OS-level locks (filelock), so the kernel releases them when a process dies and a
kill -9 never leaves a stale lock. Beside each lock a small JSON file says who holds it
(process id, start time, input file: never a credential), so a refused run can name it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import filelock

from importer.clock import utc_iso
from importer.engine.scope import canonical_scope
from importer.errors import ConfigError, LockedError

LOCK_FILENAME = "import.lock"
#: The per-user folder of the account locks, under the platform's state folder.
ACCOUNT_LOCKS = Path("sections") / "locks"


def default_lock_dir() -> Path:
    """`$XDG_STATE_HOME/sections/locks` (Linux), or the platform's per-user equivalent."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / ACCOUNT_LOCKS


@contextlib.contextmanager
def state_lock(state_dir: Path, *, holder: str = "") -> Iterator[None]:
    """Hold `<state_dir>/import.lock` for the whole run; refuse at once if it is taken."""
    state_dir = Path(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # not a folder, no permission, read-only disk: one line, exit 3
        raise ConfigError(
            f"cannot use the state folder {state_dir}: {exc.strerror or exc}"
        ) from None
    with _held(state_dir / LOCK_FILENAME, 0, holder, f"another import is running on {state_dir}"):
        yield


@contextlib.contextmanager
def account_lock(
    scope: str, *, lock_dir: Path | None = None, wait: float = 0, holder: str = ""
) -> Iterator[None]:
    """Hold the lock of one API account on this machine (keyed by the canonical scope), so
    two runs with different state folders never write to one account at once."""
    canonical = canonical_scope(scope)
    folder = Path(lock_dir) if lock_dir else default_lock_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot use the lock folder {folder}: {exc.strerror or exc}") from None
    name = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16] + ".lock"
    with _held(folder / name, wait, holder, f"another run is writing to {canonical}"):
        yield


@contextlib.contextmanager
def _held(path: Path, wait: float, holder: str, refusal: str) -> Iterator[None]:
    lock = filelock.FileLock(str(path), timeout=wait)
    info = path.with_suffix(".json")
    try:
        lock.acquire()
    except filelock.Timeout:
        waited = f" (waited {wait:g} s)" if wait else ""
        raise LockedError(
            f"{refusal}{waited}: {_describe_holder(info)}; lock file {path}. Wait for it to "
            "finish, or use --wait-lock SECONDS"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot take the lock {path}: {exc.strerror or exc}") from None
    try:
        with contextlib.suppress(OSError):  # who holds it is a courtesy, never a failure
            info.write_text(
                json.dumps({"pid": os.getpid(), "started": utc_iso(), "file": holder}),
                encoding="utf-8",
            )
        yield
    finally:
        with contextlib.suppress(OSError):
            info.unlink()
        lock.release()


def _describe_holder(info: Path) -> str:
    """ "process 123, importing a.csv, since 2026-...Z" from the holder's JSON, if readable."""
    try:
        data = json.loads(info.read_text(encoding="utf-8"))
        parts = [f"process {int(data['pid'])}"]
        if data.get("file"):
            parts.append(f"importing {data['file']}")
        parts.append(f"since {data['started']}")
        return ", ".join(parts)
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another process"
