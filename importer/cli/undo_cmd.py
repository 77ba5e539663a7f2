"""`sections undo REPORT_DIR`: take back what one import run wrote (importer.undo)."""

from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from importer.cli.import_cmd import _signals_cancel, course_table
from importer.cli.logs import setup_logging
from importer.cli.progress import ProgressDisplay
from importer.codes import exit_meaning
from importer.engine.settings import JobSettings, click_options
from importer.local_sandbox import SANDBOX_DB_NAME, running_sandbox
from importer.undo import read_target, undo_run


@click.command(name="undo")
@click.argument("report_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--dry-run", is_flag=True, help="List what undo would do; change nothing.")
@click.option("--force", is_flag=True,
              help="Also undo sections changed on the server after the run.")  # fmt: skip
@click.option("--sandbox", is_flag=True,
              help="Use the built-in sandbox (data in the run's state folder).")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="Only the final lines.")
@click.option("--log-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a detailed log here.")  # fmt: skip
@click_options("undo")
def undo(
    report_dir: Path,
    dry_run: bool,
    force: bool,
    sandbox: bool,
    quiet: bool,
    log_file: Path | None,
    **options: Any,
) -> None:
    """Take back an import run: delete the sections it created, put back the ones it updated.

    REPORT_DIR is the run's report folder. Sections changed on the server since the run are
    left alone (and listed) unless --force. Safe to run again: a killed undo finishes the job.

    \b
    Examples:
      sections undo reports/sample_sections-20261204T015040Z --dry-run
      sections undo reports/sample_sections-20261204T015040Z
    """
    display = ProgressDisplay(quiet=quiet)
    setup_logging(
        quiet=quiet, log_file=log_file, console=display.console if display.terminal else None
    )
    target = read_target(report_dir, options.get("state_dir"))
    if options.get("report_dir") is None:  # beside the report undone (a batch's is in done/)
        options["report_dir"] = report_dir.parent
    settings = JobSettings.build(input=target.input, **options)
    with contextlib.ExitStack() as stack:
        if sandbox:
            db = target.state_dir / SANDBOX_DB_NAME
            settings, _server = stack.enter_context(running_sandbox(settings, db))
        cancel = threading.Event()
        with _signals_cancel(cancel), display:
            result = undo_run(
                target, settings, dry_run=dry_run, force=force, cancel=cancel, progress=display
            )
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    if len(result.results) and not quiet:
        console.print(course_table(result.results))
    console.print(result.message, markup=False, highlight=False)
    if result.report_dir is not None:
        console.print(f"Report: {result.report_dir}", markup=False, highlight=False)
    meaning = exit_meaning(result.exit_code, dry_run=dry_run, undo=True)
    console.print(f"Exit {int(result.exit_code)}: {meaning}", markup=False, highlight=False)
    sys.exit(int(result.exit_code))
