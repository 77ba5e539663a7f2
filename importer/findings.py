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


def findings_frame(findings: Iterable[Finding] | pd.DataFrame = ()) -> pd.DataFrame:
    """Build (or concatenate into) a findings DataFrame with the standard columns and order.

    Sorted by source_row (header findings first), then severity (errors first), then rule.
    `source_row` is a nullable Int64 column.
    """
    if isinstance(findings, pd.DataFrame):
        frame = findings.reindex(columns=list(FINDING_COLUMNS))
    else:
        frame = pd.DataFrame([f.as_row() for f in findings], columns=list(FINDING_COLUMNS))
    frame["source_row"] = frame["source_row"].astype("Int64")
    # one stable lexsort over integer keys: a million findings sort in a fraction of a second
    rows = frame["source_row"].to_numpy(dtype="float64", na_value=-1.0)
    warning = (frame["severity"] != str(Severity.ERROR)).to_numpy(dtype=bool)
    rule_codes, _ = pd.factorize(frame["rule"].astype(str), sort=True)
    order = np.lexsort((rule_codes, warning, rows))
    return frame.take(order).reset_index(drop=True)


def concat_findings(*frames: pd.DataFrame) -> pd.DataFrame:
    """Concatenate several findings tables into one sorted table."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return findings_frame()
    return findings_frame(pd.concat(parts, ignore_index=True))
