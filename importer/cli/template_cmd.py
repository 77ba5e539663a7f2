"""`sections template`: write a blank spreadsheet template generated from the column dictionary."""

from __future__ import annotations

from pathlib import Path

import click

from importer import templates
from importer.errors import ConfigError


def _format_for(fmt: str | None, output: Path | None) -> str:
    """--format wins; otherwise the output's suffix decides (.xlsx), else CSV."""
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    if fmt is None:
        return "xlsx" if suffix == "xlsx" else "csv"
    if suffix in templates.FORMATS and suffix != fmt:
        raise click.UsageError(f"--format {fmt} does not match the output name {suffix}")
    return fmt


@click.command(name="template")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(templates.FORMATS),
    default=None,
    help="csv (default) or xlsx (with drop-downs, header notes and an Instructions sheet).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="File to write. CSV goes to stdout when omitted; xlsx needs it.",
)
def template(fmt: str | None, output: Path | None) -> None:
    """Write a course-sections template: friendly headers and one example row per unlock type.

    \b
    Examples:
      sections template > course_sections.csv
      sections template --format xlsx -o course_sections.xlsx
    """
    if output is not None and str(output) == "-":
        output = None
    chosen = _format_for(fmt, output)
    if output is None:
        if chosen == "xlsx":
            raise click.UsageError("--format xlsx needs -o PATH (a workbook cannot go to stdout)")
        click.echo(templates.csv_template_text(), nl=False)
        return
    try:
        templates.write_template(output, chosen)  # type: ignore[arg-type]
    except OSError as error:
        raise ConfigError(f"cannot write {output}: {error.strerror or error}") from None
    click.echo(f"Wrote {output}", err=True)
