"""Atomic writes and formula-injection neutralising (importer.safe_io)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from importer.safe_io import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    neutralise,
    neutralise_frame,
)

DANGEROUS = ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-2", "\tx", "\rx", "\x00x", "=1+1"]
SAFE = ["Intro", "1", "", "a=b", " =x", "'=already", "Ça va", "<b>x</b>"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_looking_text_gets_a_quote(value: str) -> None:
    """OWASP: a leading =, +, -, @, tab, CR or NUL is prefixed with a single quote."""
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", SAFE)
def test_other_text_is_unchanged(value: str) -> None:
    """Only the first character matters; everything else passes through."""
    assert neutralise(value) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (float("nan"), ""), (pd.NA, ""), (np.int64(7), "7"), (-3, "'-3"), (2.5, "2.5")],
)
def test_non_text_values(value: object, text: str) -> None:
    """Missing values become blank; other values are their text (negative numbers quoted)."""
    assert neutralise(value) == text


def test_neutralise_frame_touches_only_text_cells_and_copies() -> None:
    """Numbers stay numbers, missing stays missing, the input frame is not modified."""
    frame = pd.DataFrame(
        {
            "title": ["=1", "ok", None, "@x"],
            "n": [1, -2, 3, 4],
            "typed": pd.array(["-1", None, "fine", "\tx"], dtype="string"),
            "mixed": [5, "+x", None, np.nan],
        }
    )
    before = frame.copy()
    out = neutralise_frame(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out["title"].tolist()[:2] == ["'=1", "ok"] and out.at[3, "title"] == "'@x"
    assert pd.isna(out.at[2, "title"])
    assert out["n"].tolist() == [1, -2, 3, 4] and out["n"].dtype == frame["n"].dtype
    assert out["typed"].dtype == frame["typed"].dtype
    assert out.at[0, "typed"] == "'-1" and out.at[3, "typed"] == "'\tx"
    assert out.at[0, "mixed"] == 5 and out.at[1, "mixed"] == "'+x"


def test_neutralise_frame_with_duplicate_column_names() -> None:
    """Columns are handled by position, so repeated headers work."""
    frame = pd.DataFrame([["=a", "=b"]], columns=["x", "x"])
    out = neutralise_frame(frame)
    assert out.iloc[0].tolist() == ["'=a", "'=b"]


def _leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """The target gets the new bytes exactly; nothing else is left in the folder."""
    target = tmp_path / "out.csv"
    atomic_write_bytes(target, b"old")
    atomic_write_text(target, "a,b\r\n1,2\r\n")
    assert target.read_bytes() == b"a,b\r\n1,2\r\n"  # no newline translation
    atomic_write_text(target, "é", encoding="utf-8-sig")
    assert target.read_bytes() == b"\xef\xbb\xbf\xc3\xa9"
    assert _leftovers(tmp_path, "out.csv") == []


def test_atomic_path_gives_a_temp_file_in_the_same_folder(tmp_path: Path) -> None:
    """Libraries that write to a path (openpyxl) write next to the target, then it is renamed."""
    target = tmp_path / "book.xlsx"
    with atomic_path(target) as temp:
        assert temp.parent == target.parent and temp != target
        assert not target.exists()
        temp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    assert _leftovers(tmp_path, "book.xlsx") == []


def test_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    """An exception inside the block removes the temp file and leaves the old file intact."""
    target = tmp_path / "summary.json"
    target.write_text("old content")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), atomic_path(target) as temp:
        temp.write_text("half-writ")
        raise Boom
    assert target.read_text() == "old content"
    assert _leftovers(tmp_path, "summary.json") == []


def test_interrupted_first_write_creates_nothing(tmp_path: Path) -> None:
    """With no old file, an interrupted write leaves the folder empty."""
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new.txt"):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_file_modes_follow_umask_or_the_existing_file(tmp_path: Path) -> None:
    """New files get 0666 minus the umask (not mkstemp's 0600); replaced files keep their mode."""
    old_mask = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old_mask)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o640
    existing = tmp_path / "existing.txt"
    existing.write_text("x")
    existing.chmod(0o604)
    atomic_write_text(existing, "y")
    assert existing.stat().st_mode & 0o777 == 0o604
