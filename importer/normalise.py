"""Turn the reader's text cells into typed values, never raising on any text.

Every normaliser returns the typed values *and* a mask of cells that could not be parsed, so a
type problem becomes a finding (not_an_integer, not_a_boolean, invalid_unlock_type) while the
schema still checks every cell that did parse: one bad value never hides another problem.

The Series normalisers parse each *distinct* text once (``pd.factorize``) and spread the
results back, so a million rows with a few hundred distinct values cost a few hundred parses:
yes/no values and unlock types with the scalar function of the same name, whole numbers with
string kernels (ids can all be distinct). A Hypothesis test holds the Series forms to the
scalar ones, cell by cell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from importer.codes import Rule
from importer.columns import BY_FIELD, FIELDS, TIMED, UNLOCK_TYPES
from importer.findings import concat_findings, join_texts, rule_findings
from importer.safe_io import NEUTRALISED_PREFIX

#: A whole number as people (and Excel exports) write it: "7", "+7", "-7", "7.0", "7.".
_INTEGER = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
#: Larger numbers cannot be stored (Int64) and are never meaningful ids, orders or days.
_MAX_DIGITS = 15

#: The "'" our reports put before formula-looking text ("'=x").
_NEUTRALISED = re.compile(NEUTRALISED_PREFIX)

_TRUE = frozenset({"true", "yes", "y", "1", "x"})
_FALSE = frozenset({"false", "no", "n", "0"})
_UNLOCK_BY_NAME: dict[str, int] = {name.casefold(): code for code, name in UNLOCK_TYPES.items()}

#: The pandas dtype each column kind is stored as in the typed table.
DTYPES: dict[str, str] = {
    "integer": "Int64",
    "unlock_type": "Int64",
    "boolean": "boolean",
    "text": "str",
    "html": "str",
    "url": "str",
}

#: The rule a type problem is reported under, by column kind.
TYPE_RULES: dict[str, Rule] = {
    "integer": Rule.NOT_AN_INTEGER,
    "unlock_type": Rule.INVALID_UNLOCK_TYPE,
    "boolean": Rule.NOT_A_BOOLEAN,
}


class Normalised(NamedTuple):
    """Typed values (NA for blank or unparseable) and the mask of unparseable cells."""

    values: pd.Series
    bad: pd.Series


# --- scalar parsers: (value or None for blank, ok) -------------------------------------------


def parse_text(text: object) -> str | None:
    """Trimmed text, or None when blank."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    return stripped or None


def parse_integer(text: object) -> tuple[int | None, bool]:
    """A whole number: "7", " 7 ", "7.0" parse; "7.5", "1e3", "NaN", "seven" do not."""
    stripped = parse_text(text)
    if stripped is None:
        return None, True
    if not _INTEGER.fullmatch(stripped):
        return None, False
    whole = stripped.split(".", 1)[0]
    if len(whole.lstrip("+-").lstrip("0")) > _MAX_DIGITS:
        return None, False
    return int(whole), True


def parse_boolean(text: object, default: bool | None = None) -> tuple[bool | None, bool]:
    """true/false, yes/no, y/n, 1/0 and x (yes), in any case; blank gives `default`."""
    stripped = parse_text(text)
    if stripped is None:
        return default, True
    key = stripped.casefold()
    if key in _TRUE:
        return True, True
    if key in _FALSE:
        return False, True
    return None, False


def parse_unlock_type(text: object) -> tuple[int | None, bool]:
    """1, 2, 3 (also "2.0") or the names Immediate, Sequential, Timed in any case."""
    stripped = parse_text(text)
    if stripped is None:
        return None, True
    by_name = _UNLOCK_BY_NAME.get(stripped.casefold())
    if by_name is not None:
        return by_name, True
    number, ok = parse_integer(stripped)
    if ok and number in UNLOCK_TYPES:
        return number, True
    return None, False


# --- Series normalisers ----------------------------------------------------------------------


def _text_series(series: pd.Series) -> pd.Series:
    return series.astype("str").fillna("")


#: Parses distinct texts at once: (typed values, mask of unparseable texts).
ParseMany = Callable[[pd.Series], tuple[pd.api.extensions.ExtensionArray, np.ndarray]]


def _by_distinct(series: pd.Series, parse_many: ParseMany) -> Normalised:
    """Parse each distinct text once and spread values and bad-mask back over the rows."""
    codes, uniques = pd.factorize(_text_series(series), sort=False)
    unique_values, unique_bad = parse_many(pd.Series(uniques, dtype="str"))
    values = pd.Series(unique_values.take(codes), index=series.index)
    bad = pd.Series(unique_bad[codes] if len(uniques) else False, index=series.index, dtype=bool)
    return Normalised(values, bad)


def _one_by_one(parse: Callable[[str], tuple[object, bool]], dtype: str) -> ParseMany:
    """A ParseMany calling a scalar parser per distinct text (few distinct: yes/no, types)."""

    def parse_many(texts: pd.Series) -> tuple[pd.api.extensions.ExtensionArray, np.ndarray]:
        parsed = [parse(text) for text in texts.tolist()]
        values = pd.array([v for v, _ in parsed], dtype=dtype)  # type: ignore[call-overload]
        return values, np.array([not ok for _, ok in parsed], dtype=bool)

    return parse_many


def _integers(texts: pd.Series) -> tuple[pd.api.extensions.ExtensionArray, np.ndarray]:
    """`parse_integer` of distinct texts by string kernels: ids can all be distinct (a
    million "1O…" typos), and then no text is parsed in Python."""
    text = texts.str.strip()
    shaped = text.where(text.str.fullmatch(_INTEGER.pattern))
    whole = shaped.str.replace(r"\..*", "", regex=True)  # "7.0" -> "7"
    whole = whole.where(whole.str.replace(r"^[+-]?0*", "", regex=True).str.len() <= _MAX_DIGITS)
    bad = text.ne("").to_numpy(dtype=bool) & whole.isna().to_numpy(dtype=bool)
    return whole.str.lstrip("+").astype("Int64").array, bad


def normalise_text(series: pd.Series) -> Normalised:
    """Trim every cell; blank cells become NA. Text never fails to parse.

    The "'" our reports put before formula-looking text ("'=x") is removed, so a fixed
    errors.csv imports the original text. Vectorised string kernels (Arrow's for the usual
    Arrow-backed text; its whitespace is Python's).
    """
    text = _text_series(series).str.strip()
    quoted = text.str.startswith("'").to_numpy(dtype=bool)
    if quoted.any():  # rare: only those cells go through the regular expression
        cells = text[quoted]
        fixed = [_NEUTRALISED.sub("", cell, count=1) for cell in cells.tolist()]
        text = text.where(~quoted, pd.Series(fixed, index=cells.index, dtype="str"))
    values = text.where(text != "")
    return Normalised(values, pd.Series(False, index=series.index))


def normalise_integer(series: pd.Series) -> Normalised:
    return _by_distinct(series, _integers)


def normalise_boolean(series: pd.Series, default: bool | None = None) -> Normalised:
    return _by_distinct(series, _one_by_one(lambda text: parse_boolean(text, default), "boolean"))


def normalise_unlock_type(series: pd.Series) -> Normalised:
    return _by_distinct(series, _one_by_one(parse_unlock_type, "Int64"))


def normalise_column(field: str, series: pd.Series) -> Normalised:
    """Normalise one column by its kind in the column dictionary."""
    column = BY_FIELD[field]
    if column.kind == "integer":
        return normalise_integer(series)
    if column.kind == "unlock_type":
        return normalise_unlock_type(series)
    if column.kind == "boolean":
        return normalise_boolean(series, column.default)  # type: ignore[arg-type]
    return normalise_text(series)


# --- the whole sheet -------------------------------------------------------------------------


class TypedSheet(NamedTuple):
    """The typed table (source_row + one column per field) and the bad-cell mask per field."""

    table: pd.DataFrame
    bad: dict[str, pd.Series]


def normalise_frame(raw: pd.DataFrame, columns: dict[str, str]) -> TypedSheet:
    """Type every field; fields absent from the sheet are all NA (booleans get their default).

    UnlockAfterDays left blank on a row that is not Timed becomes 0 (the API's meaning).
    """
    index = raw.index
    table: dict[str, pd.Series] = {
        "source_row": pd.Series(raw["source_row"].to_numpy(dtype="int64"), index=index)
    }
    bad: dict[str, pd.Series] = {}
    for field in FIELDS:
        column = BY_FIELD[field]
        if field in columns:
            result = normalise_column(field, raw[columns[field]])
        else:
            default = column.default if column.kind == "boolean" else None
            dtype = DTYPES[column.kind]
            values = pd.Series(default, index=index, dtype=dtype)
            result = Normalised(values, pd.Series(False, index=index))
        table[field] = result.values
        bad[field] = result.bad
    frame = pd.DataFrame(table, index=index)
    days_blank = frame["UnlockAfterDays"].isna() & ~bad["UnlockAfterDays"]
    not_timed = frame["UnlockType"].ne(TIMED).fillna(True)
    frame.loc[days_blank & not_timed, "UnlockAfterDays"] = 0
    return TypedSheet(frame, bad)


_TYPE_HINTS: dict[Rule, str] = {
    Rule.NOT_AN_INTEGER: "is not a whole number: write it with digits only, like 7",
    Rule.NOT_A_BOOLEAN: "is not a yes/no value: write Yes or No (or leave it blank)",
    Rule.INVALID_UNLOCK_TYPE: (
        "is not an unlock type: write Immediate, Sequential or Timed (or 1, 2, 3)"
    ),
}


#: Text `quoted` leaves as it is inside its quotes: printable ASCII without ' or \\ and single
#: spaces between words (Python writes it 'like this').
_PLAIN_TEXT = r"[!-&(-\[\]-~]+(?: [!-&(-\[\]-~]+)*"
_QUOTE_LIMIT = 60


def quoted(value: object, limit: int = _QUOTE_LIMIT) -> str:
    """A cell value quoted for a message, cut short: a paragraph pasted into the wrong
    column must not turn one message into a page (the finding's value keeps it whole)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def quoted_texts(values: pd.Series) -> pd.Series:
    """`quoted` of every value: plain short text by vectorised concatenation, the rest once
    per distinct value (a million bad cells cost a few string kernels, not a million calls)."""
    text = values.astype("str")
    shown = join_texts("'", text, "'")
    plain = text.str.fullmatch(_PLAIN_TEXT) & text.str.len().le(_QUOTE_LIMIT)
    other = ~plain.fillna(False).to_numpy(dtype=bool)
    if other.any():
        rest = text[other]
        by_value = {value: quoted(value) for value in set(rest.tolist())}
        shown = shown.where(~other, rest.map(by_value))
    return shown


def type_findings(
    raw: pd.DataFrame, columns: dict[str, str], bad: dict[str, pd.Series]
) -> pd.DataFrame:
    """One finding per unparseable cell (a sorted findings table)."""
    return concat_findings(*type_finding_parts(raw, columns, bad))


def type_finding_parts(
    raw: pd.DataFrame, columns: dict[str, str], bad: dict[str, pd.Series]
) -> list[pd.DataFrame]:
    """`type_findings` as one unsorted table per column, built by vectorised string kernels:
    three findings on each of a million rows cost seconds, and are sorted once, with the
    other findings, by whoever gathers them."""
    parts: list[pd.DataFrame] = []
    for field, mask in bad.items():
        if field not in columns or not mask.any():
            continue
        rule = TYPE_RULES[BY_FIELD[field].kind]
        header = columns[field]  # as the person typed it, so they can find it
        rows = raw.loc[mask, "source_row"].astype("int64")
        values = raw.loc[mask, header].astype("str")
        shown = quoted_texts(values)
        messages = join_texts(f"{header} ", shown, " on row ", rows, f" {_TYPE_HINTS[rule]}.")
        parts.append(
            rule_findings(
                rule,
                column=header,
                field=field,
                source_rows=rows,
                values=values,
                messages=messages,
            )
        )
    return parts


__all__ = [
    "DTYPES",
    "Normalised",
    "TypedSheet",
    "normalise_boolean",
    "normalise_column",
    "normalise_frame",
    "normalise_integer",
    "normalise_text",
    "normalise_unlock_type",
    "parse_boolean",
    "parse_integer",
    "parse_text",
    "parse_unlock_type",
    "quoted",
    "type_finding_parts",
    "type_findings",
]
