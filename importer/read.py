"""Read a CSV or XLSX sheet of course sections into text, keeping spreadsheet row numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from importer.findings import Finding


@dataclass
class Sheet:
    """A spreadsheet read as text, with its header mapped to API fields.

    `raw` holds `source_row` (the row number Excel/LibreOffice shows) plus one column per
    header as typed (all str, "" for blank cells). Blank rows are dropped.
    """

    raw: pd.DataFrame
    columns: dict[str, str]  # API field -> raw column name
    unknown: list[str]
    findings: list[Finding]
    path: Path
    format: Literal["csv", "xlsx"]
    sheet_name: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int = 1
    extra: dict[str, object] = field(default_factory=dict)


def read_sheet(
    path: str | Path, *, sheet: str | None = None, delimiter: str | None = None
) -> Sheet:
    """Read `path` (CSV or XLSX). Raises InputError with one clear line if it cannot be read."""
    raise NotImplementedError
