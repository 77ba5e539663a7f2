"""The two CSV paths agree: pyarrow (uniform UTF-8 files) and pandas' C engine (the rest)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.read import read_sheet
from importer.read_csv import _read_any, _read_uniform

#: Cells with what makes CSV hard: delimiters, quotes, line breaks, spaces, non-ASCII text.
cell = st.text(alphabet=st.sampled_from(list('ab ,;"\n\r\té€1=')), max_size=8)


@given(
    rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=8),
    terminator=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_arrow_and_pandas_read_the_same_frame(
    tmp_path: Path, rows: list[list[str]], terminator: str, bom: bool
) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerows([["a", "b", "c"], *rows])
    path = tmp_path / "sheet.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8"))
    by_arrow = _read_uniform(path, "sheet.csv", ",", 3)
    by_pandas = _read_any(path, "sheet.csv", ",", 3, "utf-8-sig" if bom else "utf-8")
    if by_arrow is None:  # pyarrow may refuse a file (then pandas reads it): never misread it
        return
    assert by_arrow.astype(object).values.tolist() == by_pandas.astype(object).values.tolist()


def test_quotes_and_line_breaks_take_the_arrow_path(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'a,b,c\r\n"x, ""y""",2,"line\nbreak"\r\n,,\r\n')
    frame = _read_uniform(path, "quoted.csv", ",", 3)
    assert frame is not None
    assert frame.astype(object).values.tolist() == [
        ["a", "b", "c"],
        ['x, "y"', "2", "line\nbreak"],
        ["", "", ""],
    ]


def test_ragged_rows_fall_back_to_pandas_with_the_same_row_numbers(tmp_path: Path) -> None:
    """A short row makes pyarrow refuse the file; pandas reads it, row numbers unchanged."""
    path = tmp_path / "ragged.csv"
    path.write_text(
        "Course ID,Section title,Display order,Unlock type\n"
        "101,Intro,1,Immediate\n"
        "101,Short row\n"
        "\n"
        "101,Last,3,Immediate\n",
        encoding="utf-8",
    )
    assert _read_uniform(path, "ragged.csv", ",", 4) is None
    sheet = read_sheet(path)
    assert sheet.raw["source_row"].tolist() == [2, 3, 5]
    assert sheet.raw["Display order"].tolist() == ["1", "", "3"]


def test_arrow_text_is_what_the_reader_hands_on(tmp_path: Path) -> None:
    """A uniform UTF-8 file arrives as pandas' Arrow-backed text (the fast path was taken)."""
    path = tmp_path / "uniform.csv"
    path.write_text("Course ID,Section title\n101,Intro\n", encoding="utf-8")
    column = read_sheet(path).raw["Section title"]
    assert isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow"
