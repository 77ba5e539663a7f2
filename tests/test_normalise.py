"""Normalisers: typed values plus a mask of unparseable cells, never an exception."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.codes import Rule
from importer.columns import SEQUENTIAL, TIMED
from importer.normalise import (
    normalise_boolean,
    normalise_frame,
    normalise_integer,
    normalise_text,
    normalise_unlock_type,
    parse_boolean,
    parse_integer,
    parse_text,
    parse_unlock_type,
    type_findings,
)

#: Any text a reader can produce: decoding UTF-8 or Windows-1252 and reading XLSX XML never
#: yield lone surrogates (which Arrow-backed text, pandas' default, cannot hold).
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
#: Text close to what parses, to reach the interesting branches more often.
near_numbers = st.from_regex(r"\s*[+-]?[0-9٠-٩]{0,20}(\.[0-9]{0,3})?(e[0-9])?\s*", fullmatch=True)
cells = st.one_of(
    texts,
    near_numbers,
    st.sampled_from(["", " ", "Timed", "yes", "X", "N", "2.0", "NaN", "inf", "-0"]),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", (7, True)),
        (" 7 ", (7, True)),
        ("7.0", (7, True)),
        ("7.", (7, True)),
        ("+7", (7, True)),
        ("-3", (-3, True)),
        ("007", (7, True)),
        ("", (None, True)),
        ("   ", (None, True)),
        ("7.5", (None, False)),
        ("1e3", (None, False)),
        ("NaN", (None, False)),
        ("seven", (None, False)),
        ("1 000", (None, False)),
        ("٧", (None, False)),  # Arabic-Indic digit: not what a spreadsheet exports
        ("9" * 40, (None, False)),
    ],
)
def test_parse_integer(text: str, expected: tuple[int | None, bool]) -> None:
    """Whole numbers parse, with or without spaces and a .0; anything else is marked bad."""
    assert parse_integer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", (1, True)),
        ("2.0", (2, True)),
        (" 3 ", (3, True)),
        ("immediate", (1, True)),
        ("SEQUENTIAL", (2, True)),
        (" Timed ", (3, True)),
        ("", (None, True)),
        ("0", (None, False)),
        ("4", (None, False)),
        ("2.5", (None, False)),
        ("Later", (None, False)),
    ],
)
def test_parse_unlock_type(text: str, expected: tuple[int | None, bool]) -> None:
    """1, 2, 3 and the names in any case; other numbers and words are bad."""
    assert parse_unlock_type(text) == expected


@pytest.mark.parametrize("text", ["true", "TRUE", "Yes", "y", "1", "x", "X", " yes "])
def test_parse_boolean_true(text: str) -> None:
    assert parse_boolean(text) == (True, True)


@pytest.mark.parametrize("text", ["false", "No", "N", "0", "FALSE"])
def test_parse_boolean_false(text: str) -> None:
    assert parse_boolean(text) == (False, True)


@pytest.mark.parametrize("text", ["maybe", "2", "yes please", "t"])
def test_parse_boolean_bad(text: str) -> None:
    assert parse_boolean(text, True) == (None, False)


def test_blank_boolean_gets_the_default() -> None:
    assert parse_boolean("  ", True) == (True, True)
    assert parse_boolean("", False) == (False, True)


@given(cells)
@settings(max_examples=400, deadline=None)
def test_scalar_parsers_never_raise(text: str) -> None:
    """Any text gives a (value, ok) pair; bad never comes with a value."""
    for value, ok in (parse_integer(text), parse_unlock_type(text), parse_boolean(text, True)):
        assert isinstance(ok, bool)
        assert ok or value is None
    assert parse_text(text) is None or parse_text(text) == parse_text(text).strip()


@given(st.lists(cells, max_size=15))
@settings(max_examples=200, deadline=None)
def test_series_normalisers_agree_with_scalars(values: list[str]) -> None:
    """The vectorised form gives exactly what the scalar function gives, cell by cell."""
    series = pd.Series(values, dtype="str", index=range(10, 10 + len(values)))
    pairs = [
        (normalise_integer(series), parse_integer),
        (normalise_unlock_type(series), parse_unlock_type),
        (normalise_boolean(series, False), lambda t: parse_boolean(t, False)),
    ]
    for result, scalar in pairs:
        assert list(result.values.index) == list(series.index)
        for text, value, bad in zip(values, result.values, result.bad, strict=True):
            expected, ok = scalar(text)
            assert bad == (not ok)
            assert (None if pd.isna(value) else value) == expected
    text_result = normalise_text(series)
    assert [None if pd.isna(v) else v for v in text_result.values] == [
        parse_text(v) for v in values
    ]
    assert not text_result.bad.any()


def _raw(rows: list[dict[str, str]]) -> tuple[pd.DataFrame, dict[str, str]]:
    frame = pd.DataFrame(rows).astype("str")
    frame.insert(0, "source_row", range(2, 2 + len(rows)))
    return frame, {name: name for name in frame.columns if name != "source_row"}


def test_days_blank_becomes_zero_unless_timed() -> None:
    """UnlockAfterDays left blank means 0 for Immediate/Sequential, stays blank for Timed."""
    raw, columns = _raw(
        [
            {"UnlockType": "Immediate", "UnlockAfterDays": ""},
            {"UnlockType": "Sequential", "UnlockAfterDays": " "},
            {"UnlockType": "Timed", "UnlockAfterDays": ""},
            {"UnlockType": "Timed", "UnlockAfterDays": "abc"},
        ]
    )
    typed, bad = normalise_frame(raw, columns)
    days = typed["UnlockAfterDays"].tolist()
    assert days[:2] == [0, 0]
    assert pd.isna(days[2]) and pd.isna(days[3])
    assert bad["UnlockAfterDays"].tolist() == [False, False, False, True]
    assert typed["UnlockType"].tolist() == [1, SEQUENTIAL, TIMED, TIMED]


def test_absent_columns_are_na_or_default() -> None:
    """Optional columns missing from the sheet: booleans take their default, the rest NA."""
    raw, columns = _raw([{"CourseId": "101"}])
    typed, _ = normalise_frame(raw, columns)
    assert bool(typed["Active"].iloc[0]) is True
    assert bool(typed["ClearImageFile"].iloc[0]) is False
    assert pd.isna(typed["Title"].iloc[0])
    assert str(typed["CourseId"].dtype) == "Int64"


def test_type_findings_point_at_the_bad_cell() -> None:
    raw, columns = _raw(
        [
            {"CourseId": "101", "Active": "yes", "UnlockType": "Timed"},
            {"CourseId": "7.5", "Active": "maybe", "UnlockType": "Later"},
        ]
    )
    typed, bad = normalise_frame(raw, columns)
    found = type_findings(raw, columns, bad)
    assert set(zip(found["rule"], found["source_row"], found["value"], strict=True)) == {
        (Rule.NOT_AN_INTEGER, 3, "7.5"),
        (Rule.NOT_A_BOOLEAN, 3, "maybe"),
        (Rule.INVALID_UNLOCK_TYPE, 3, "Later"),
    }
    assert typed["CourseId"].isna().tolist() == [False, True]


def test_type_messages_quote_long_values_briefly() -> None:
    """A paragraph pasted into Display order gives a short message; the value stays whole."""
    from test_schema import make_sheet

    from importer.validate import validate_sheet

    paragraph = "Welcome!\n" + "word " * 2000
    findings = validate_sheet(make_sheet([{"DisplayOrder": paragraph}])).findings
    (message,) = findings["message"]
    assert message.startswith("Display order 'Welcome! word word") and len(message) < 200
    assert "\n" not in message
    assert findings.at[0, "value"] == paragraph
