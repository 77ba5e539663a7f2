"""`sections doctor`: check the account before a migration (thin layer over importer.doctor)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from importer.cli.logs import setup_logging
from importer.codes import ExitCode, exit_meaning
from importer.doctor import DOCTOR_FILE, OK, PROBLEM, comparison_rows, run_doctor
from importer.engine.settings import JobSettings, click_options

_MARK = {OK: "ok", "warning": "warning", PROBLEM: "PROBLEM"}


@click.command(name="doctor")
@click.option(
    "--input",
    "input_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A sheet to migrate: check that each of its courses exists.",
)
@click.option(
    "--write-probe",
    is_flag=True,
    help="Also create, update and delete one probe section in --course (4 writes) to learn "
    "PUT semantics and POST defaults. Never done by default.",
)
@click.option("--course", type=click.IntRange(min=1), help="The course the write probe uses.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path(DOCTOR_FILE),
    show_default=True,
    help="Where to write the answers (a profile `sections sandbox --profile-file` replays).",
)
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a detailed log here (never secrets).",
)
@click_options("doctor")
def doctor(
    input_file: Path | None,
    write_probe: bool,
    course: int | None,
    output: Path,
    log_file: Path | None,
    **options: Any,
) -> None:
    """Check an account before a migration: reachability, credentials, roles, paging, shapes.

    Read-only unless --write-probe. Writes doctor.json (answers only, never credentials) and
    prints how this account compares with the documentation and with what live clients see.
    Exit 0 ready, 1 warnings only, 3 a blocking problem (named, with what to do).

    \b
    Examples:
      sections doctor --api-url https://spaces.nexudus.com --input course_sections.xlsx
      sections doctor --write-probe --course 101
    """
    setup_logging(quiet=False, log_file=log_file)
    settings = JobSettings.build(input=input_file or Path.cwd() / DOCTOR_FILE, **options)
    result = run_doctor(
        settings, input_file=input_file, write_probe=write_probe, course=course, output=output
    )
    console = Console(soft_wrap=True)
    for check in result.checks:
        console.print(f"{_MARK[check.level]:8} {check.name:14} {check.text}", markup=False)
    table = Table(title="documented / live clients / your account", header_style="bold")
    for heading in ("what", "documented", "live clients", "your account"):
        table.add_column(heading)
    for row in comparison_rows(result.answers):
        table.add_row(*row)
    console.print(table)
    if result.path is not None:
        console.print(
            f"Answers: {result.path} (replay: sections sandbox --profile-file {result.path})",
            markup=False,
        )
    elif output is not None:
        console.print(f"{output} not written: a blocking problem left the answers incomplete")
    code = result.exit_code
    console.print(f"Exit {int(code)}: {_meaning(code)}", markup=False)
    problems = [c for c in result.checks if c.level == PROBLEM]
    if problems:
        click.echo(f"sections: {problems[0].name}: {problems[0].text}", err=True)
    sys.exit(int(code))


def _meaning(code: ExitCode) -> str:
    if code == ExitCode.OK:
        return "ready to import"
    if code == ExitCode.ROWS_FAILED:
        return "ready, with warnings (see above)"
    return exit_meaning(code)
