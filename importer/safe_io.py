"""Safe output: atomic file writes and formula-injection neutralising.

Reports and state snapshots must never be seen half-written (a crash or Ctrl-C mid-write
leaves the previous file intact), and spreadsheet cells we export must never run as formulas
when a person opens them in Excel or LibreOffice (OWASP "CSV injection", CWE-1236).

Raw values are only neutralised on the way out: frames in memory keep what the person typed.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

#: First characters that make Excel/LibreOffice treat a cell as a formula (or strip to one).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\x00")
#: What `neutralise` added, as a regex: a "'" in front of a formula prefix. The reader removes
#: it again, so a fixed errors.csv or results.xlsx imports the person's text unchanged.
NEUTRALISED_PREFIX = "^'(?=[" + "".join(re.escape(p) for p in FORMULA_PREFIXES) + "])"

_FALLBACK_MODE = 0o644


def _default_mode() -> int:
    """Mode a plain `open(path, "w")` would give (0o666 minus the umask), read without races."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _FALLBACK_MODE


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); best effort where directories cannot be opened."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path` atomically.

    For libraries that want a file name (openpyxl's `save`). The temp file lives in the same
    directory so `os.replace` is a rename on one filesystem. If the block raises, the temp file
    is removed and any existing `path` is left untouched.
    """
    target = Path(path)
    directory = target.parent
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = _default_mode()
    fd, name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        _fsync_file(temp)
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, flush + fsync, replace, fsync dir)."""
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write `text` atomically, byte for byte (no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding))


def is_missing(value: object) -> bool:
    """None, NaN, NaT or pd.NA: a cell with nothing in it (pd.isna, for one scalar)."""
    return value is None or bool(pd.api.types.is_scalar(value) and pd.isna(value))  # type: ignore[call-overload]


def neutralise(value: object) -> str:
    """Text of one output cell, prefixed with "'" when a spreadsheet would run it as a formula.

    None and missing values become "". Anything else is `str(value)`, unchanged unless it
    starts with one of FORMULA_PREFIXES.
    """
    if is_missing(value):
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _neutralise_column(column: pd.Series) -> pd.Series | None:
    """Neutralised copy of a text column, or None when nothing in it needs changing."""
    try:
        first = column.str[:1]
    except AttributeError:  # object column holding no strings at all
        return None
    mask = first.isin(FORMULA_PREFIXES).fillna(False).astype(bool)
    if not bool(mask.any()):
        return None
    changed = column.astype(object).copy()
    changed[mask] = "'" + column[mask].astype(str)
    return changed if pd.api.types.is_object_dtype(column) else changed.astype(column.dtype)


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every formula-looking text cell prefixed with "'".

    Only object and string columns are touched (numbers stay numbers); missing values stay
    missing. Works with duplicate column names. The input frame is not modified.
    """
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        changed = _neutralise_column(column)
        if changed is not None:
            out.isetitem(position, changed)  # type: ignore[arg-type]
    return out
