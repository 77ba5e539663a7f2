"""The findings table: one row per problem, the only form row problems take.

Console output, JSON, reports and notebooks are all built from this table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from importer.codes import Rule, Severity, severity_of

FINDING_COLUMNS: tuple[str, ...] = (
    "source_row",  # row number as the person sees it in Excel/LibreOffice; None for the header
    "column",  # header as the person typed it (None when the column is missing)
    "field",  # API field name (None for unknown columns)
    "value",  # the offending cell text, as read
    "rule",  # importer.codes.Rule value
    "severity",  # "error" or "warning"
    "message",  # one sentence: what is wrong and how to fix it
)

#: The columns holding a few names each (rule, severity, the column's header and field), as
#: opposed to free text (value, message).
NAME_COLUMNS: frozenset[str] = frozenset({"column", "field", "rule", "severity"})

#: The same columns as tools see them (`validate --format json` keys, `--format csv` header):
#: there `source_row` is called `row`.
PUBLIC_FINDING_KEYS: tuple[str, ...] = ("row", *FINDING_COLUMNS[1:])


@dataclass(frozen=True)
class Finding:
    rule: Rule
    message: str
    source_row: int | None = None
    column: str | None = None
    field: str | None = None
    value: str | None = None

    @property
    def severity(self) -> Severity:
        return severity_of(self.rule)

    def as_row(self) -> dict[str, object]:
        row = asdict(self)
        row["rule"] = str(self.rule)
        row["severity"] = str(self.severity)
        return {name: row[name] for name in FINDING_COLUMNS}


def rule_findings(
    rule: Rule,
    *,
    column: str | None,
    field: str | None,
    source_rows: pd.Series | list[int],
    values: pd.Series | list[str | None],
    messages: pd.Series | list[str],
) -> pd.DataFrame:
    """The findings of one rule on one column (unsorted; `findings_frame` sorts). Series stay
    as they are (vectorised text for a million findings); lists are converted once."""
    count = len(source_rows)
    index = pd.RangeIndex(count)

    def text(values: pd.Series | list[str | None] | list[str] | str | None) -> pd.Series:
        """A text column: a Series' own array (no copy for Arrow text), a list, or one
        value for every row."""
        data = values.array if isinstance(values, pd.Series) else values
        return pd.Series(data, index=index, dtype="str")

    rows = source_rows.array if isinstance(source_rows, pd.Series) else source_rows
    data = {
        "source_row": pd.Series(rows, index=index, dtype="Int64"),
        "column": text(column),
        "field": text(field),
        "value": text(values),
        "rule": text(str(rule)),
        "severity": text(str(severity_of(rule))),
        "message": text(messages),
    }
    return pd.DataFrame(data, columns=list(FINDING_COLUMNS))


def findings_frame(findings: Iterable[Finding] | pd.DataFrame = ()) -> pd.DataFrame:
    """Build (or concatenate into) a findings DataFrame with the standard columns and order.

    Sorted by source_row (header findings first), then severity (errors first), then rule.
    `source_row` is a nullable Int64 column.
    """
    if isinstance(findings, pd.DataFrame):
        frame = findings.reindex(columns=list(FINDING_COLUMNS))
    else:
        frame = pd.DataFrame([f.as_row() for f in findings], columns=list(FINDING_COLUMNS))
    del findings  # the caller's reference may be the last one (see gather_findings)
    frame["source_row"] = frame["source_row"].astype("Int64")
    # one stable lexsort over integer keys: a million findings sort in a fraction of a second
    rows = frame["source_row"].to_numpy(dtype="float64", na_value=-1.0)
    warning = (frame["severity"] != str(Severity.ERROR)).to_numpy(dtype=bool)
    rule_codes, _ = pd.factorize(frame["rule"].astype(str), sort=True)
    order = np.lexsort((rule_codes, warning, rows))
    # a column at a time, each dropped once taken: its memory can go before the next is copied
    return pd.DataFrame({name: _taken(frame.pop(name), order) for name in FINDING_COLUMNS})


def _taken(column: pd.Series, order: np.ndarray) -> pd.Series:
    """`column` in `order`, with a fresh index. A column of names is rebuilt from its few
    distinct values; other Arrow text is first joined into one array (Arrow takes rows from a
    concatenation of chunks about ten times slower than from one array); one column at a
    time keeps a single extra copy alive."""
    import pyarrow as pa

    if column.name in NAME_COLUMNS:
        codes, names = pd.factorize(column)
        distinct = pd.Series(names, dtype="str").array
        return pd.Series(distinct.take(codes[order], allow_fill=True))
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        chunks = pa.array(column.array)
        if isinstance(chunks, pa.ChunkedArray) and chunks.num_chunks > 1:
            whole = pd.array(chunks.combine_chunks(), dtype=column.dtype)
            return pd.Series(whole.take(order))
    return pd.Series(column.array.take(order))


def join_texts(*parts: pd.Series | str) -> pd.Series:
    """Element-wise concatenation of text Series and constant strings in one Arrow pass (a
    chain of `+` copies the growing text once per part); missing stays missing. At least one
    part must be a Series; all Series share one index."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    index = next(part for part in parts if isinstance(part, pd.Series)).index
    arrays = [
        pa.scalar(part, text)
        if isinstance(part, str)
        else pc.cast(pa.array(part.astype("str").array), text)
        for part in parts
    ]
    joined = pc.binary_join_element_wise(*arrays, pa.scalar("", text))
    return pd.Series(pd.array(joined, dtype=pd.StringDtype(na_value=np.nan)), index=index)


def concat_findings(*frames: pd.DataFrame) -> pd.DataFrame:
    """Concatenate several findings tables into one sorted table."""
    return gather_findings(list(frames))


def gather_findings(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """`concat_findings` that empties `parts` once concatenated: with no other reference to
    them, a million findings are not held twice while they are sorted."""
    filled = [part for part in parts if len(part)]
    parts.clear()
    if not filled:
        return findings_frame()
    return findings_frame(_concatenated(filled))


def _concatenated(frames: list[pd.DataFrame]) -> pd.DataFrame:
    combined = pd.concat(frames, ignore_index=True)
    frames.clear()
    return combined
