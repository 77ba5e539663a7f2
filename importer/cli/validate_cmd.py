"""`sections validate FILE`: check a spreadsheet and list every problem; nothing is sent."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from importer.cli.render import findings_csv, print_findings
from importer.codes import ExitCode
from importer.validate import ValidationResult, validate_file, write_summary_json


def summary_line(result: ValidationResult) -> str:
    """'N rows, E errors, W warnings (encoding utf-8, delimiter ',')'."""
    sheet = result.sheet
    where = []
    if sheet.sheet_name:
        picked = " (the first sheet whose headers match)" if sheet.extra.get("sheet_picked") else ""
        where.append(f"sheet {sheet.sheet_name!r}{picked}")
    mapped = sheet.extra.get("column_map")
    if isinstance(mapped, dict) and mapped:
        where.append("columns " + ", ".join(f"{k!r} as {v!r}" for k, v in mapped.items()))
    if sheet.encoding:
        where.append(f"encoding {sheet.encoding}")
    if sheet.delimiter:
        where.append(f"delimiter {sheet.delimiter!r}")
    rows = len(sheet.raw)
    text = (
        f"{rows} {'row' if rows == 1 else 'rows'}, "
        f"{result.errors} {'error' if result.errors == 1 else 'errors'}, "
        f"{result.warnings} {'warning' if result.warnings == 1 else 'warnings'}"
    )
    return f"{text} ({', '.join(where)})" if where else text


def parse_column_options(values: tuple[str, ...]) -> dict[str, str]:
    """--column "Module name=Section title" (repeatable) as {"Module name": "Section title"}."""
    mapping: dict[str, str] = {}
    for value in values:
        source, equals, target = value.partition("=")
        if not equals or not source.strip() or not target.strip():
            raise click.BadParameter(
                f'"{value}" is not HEADER=KNOWN, e.g. "Module name=Section title"',
                param_hint="--column",
            )
        mapping[source.strip()] = target.strip()
    return mapping


@click.command(name="validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--sheet",
    "sheet_name",
    default=None,
    help="XLSX sheet to read (default: the first visible sheet).",
)
@click.option("--delimiter", default=None, help="CSV delimiter (default: detected).")
@click.option(
    "--column",
    "columns",
    multiple=True,
    metavar='"HEADER=KNOWN"',
    help='Read your header as a known column, e.g. --column "Module name=Section title" '
    "(repeatable).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people, json (one object) or csv (one line per finding) for tools.",
)
@click.option(
    "--check-thumbnails",
    is_flag=True,
    help="Also fetch each thumbnail URL's headers to check it is a reachable image (<= 10 MB).",
)
def validate(
    file: Path,
    sheet_name: str | None,
    delimiter: str | None,
    columns: tuple[str, ...],
    fmt: str,
    check_thumbnails: bool,
) -> None:
    """Check FILE (CSV or XLSX) and list every problem; nothing is sent.

    Exit code 0 when there are no errors (warnings allowed), 2 when there are errors or the
    file cannot be read.

    \b
    Examples:
      sections validate course_sections.xlsx
      sections validate outline.csv --format json
    """
    result = validate_file(
        file,
        sheet=sheet_name,
        delimiter=delimiter,
        check_thumbnails=check_thumbnails,
        column_map=parse_column_options(columns),
    )
    if fmt == "json":
        write_summary_json(result, sys.stdout)
    elif fmt == "csv":
        click.echo(findings_csv(result.findings), nl=False)
    else:
        print_findings(Console(soft_wrap=False), result.findings, summary_line(result))
    sys.exit(int(ExitCode.OK if result.ok else ExitCode.INVALID_INPUT))
