"""`sections export`: the server's sections as a sheet in the template's format."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from importer.engine.connect import connect
from importer.engine.settings import JobSettings, click_options
from importer.export import export_frame, write_export
from importer.local_sandbox import SANDBOX_DB_NAME, running_sandbox


@click.command(name="export")
@click.option("--course", "courses", type=click.IntRange(min=1), multiple=True,
              help="A course to export (repeatable).")  # fmt: skip
@click.option("--all-courses", is_flag=True, help="Export every course of the account.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="FILE.csv or FILE.xlsx (the template's format).")  # fmt: skip
@click.option("--sandbox", is_flag=True,
              help="Read the built-in sandbox (data in the state folder).")  # fmt: skip
@click_options("export")
def export(
    courses: tuple[int, ...], all_courses: bool, output: Path, sandbox: bool, **options: Any
) -> None:
    """Write the server's sections to a sheet you can edit and import again.

    One row per section, by course then display order, under the template's headers, plus
    Section Id and the course's name. Thumbnail URLs cannot be exported (blank).

    \b
    Examples:
      sections export --course 101 -o course_101.xlsx
      sections export --all-courses -o everything.csv
    """
    if bool(courses) == all_courses:
        raise click.UsageError("give --course ID (repeatable) or --all-courses")
    settings = JobSettings.build(input=output.resolve(), **options)  # state beside it
    with contextlib.ExitStack() as stack:
        if sandbox:
            db = settings.resolved_state_dir() / SANDBOX_DB_NAME
            settings, _server = stack.enter_context(running_sandbox(settings, db))
        with connect(settings).client as client:
            frame = export_frame(client, None if all_courses else courses)
    write_export(frame, output)
    click.echo(f"Exported {len(frame)} section(s) to {output}")
