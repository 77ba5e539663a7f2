"""Rich and CSV rendering of a findings table for the terminal (CLI only)."""

from __future__ import annotations

import csv
import io

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from importer.codes import Severity
from importer.findings import FINDING_COLUMNS, PUBLIC_FINDING_KEYS
from importer.safe_io import neutralise

#: More findings than this are summarised in the table view (use --format csv for all).
MAX_TABLE_ROWS = 200

CSV_COLUMNS: tuple[str, ...] = PUBLIC_FINDING_KEYS


def _cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def findings_table(findings: pd.DataFrame, *, limit: int = MAX_TABLE_ROWS) -> Table:
    """A rich table of findings: row, column, severity, rule, message (errors red, warnings
    yellow; the Severity column says it in words for terminals without colour)."""
    table = Table(show_lines=False, header_style="bold")
    for name in ("Row", "Column", "Severity", "Rule", "Message"):
        table.add_column(name, overflow="fold")
    shown = findings.head(limit)
    for row, column, rule, severity, message in zip(
        shown["source_row"].astype(object),
        shown["column"],
        shown["rule"],
        shown["severity"],
        shown["message"],
        strict=True,
    ):
        style = "red" if severity == Severity.ERROR else "yellow"
        table.add_row(
            _cell(row) or "header",
            escape(_cell(column)),
            f"[{style}]{escape(_cell(severity))}[/{style}]",
            f"[{style}]{escape(_cell(rule))}[/{style}]",
            escape(_cell(message)),
        )
    return table


def print_findings(console: Console, findings: pd.DataFrame, summary_line: str) -> None:
    """The `--format table` view: the findings table (if any), then one summary line."""
    if len(findings):
        console.print(findings_table(findings))
        hidden = len(findings) - MAX_TABLE_ROWS
        if hidden > 0:
            console.print(f"... and {hidden} more findings (use --format csv to see them all)")
        for line in rule_counts(findings):
            console.print(line, highlight=False, markup=False)
    else:
        console.print("No problems found.")
    console.print(summary_line, highlight=False, markup=False)


def rule_counts(findings: pd.DataFrame) -> list[str]:
    """One line per rule with its count, errors first, then by count: "error    required  3"."""
    counts = findings.groupby(["severity", "rule"], sort=False).size().reset_index(name="count")
    counts["_order"] = (counts["severity"] != str(Severity.ERROR)).astype(int)
    counts = counts.sort_values(["_order", "count", "rule"], ascending=[True, False, True])
    width = max((len(str(rule)) for rule in counts["rule"]), default=0)
    return [
        f"{severity:<8} {rule:<{width}} {count}"
        for severity, rule, count in zip(
            counts["severity"], counts["rule"], counts["count"], strict=True
        )
    ]


def findings_csv(findings: pd.DataFrame) -> str:
    """The findings as CSV text (the `--format csv` view), one line per finding.

    Cells are neutralised against formula injection (people open this in Excel).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    columns = [findings[name].astype(object).tolist() for name in FINDING_COLUMNS]
    for values in zip(*columns, strict=True):
        writer.writerow([neutralise(_cell(v)) for v in values])
    return buffer.getvalue()
