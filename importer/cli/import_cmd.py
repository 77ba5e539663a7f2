"""`sections plan FILE` and `sections import FILE`: thin wrappers around `job.run_job`.

Both commands share one set of options (`job_options`, generated from
importer.engine.settings like those of `sections batch`), build a `JobSettings`, run the job
with a progress display and Ctrl-C handling, print a per-course and per-status summary and
the report folder, and exit with the job's exit code.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from importer.cli.logs import setup_logging
from importer.cli.progress import ProgressDisplay
from importer.codes import ExitCode, RowStatus, exit_meaning
from importer.engine.job import JobResult, run_job
from importer.engine.settings import JobSettings, click_options
from importer.local_sandbox import SANDBOX_DB_NAME, SANDBOX_USER, running_sandbox


def job_options(*, command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of `plan` / `import`: FILE, --sandbox, (--dry-run,) every setting
    generated from importer.engine.settings, --quiet and --log-file."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        function = click.option(
            "--log-file",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="Also write a detailed log here (never secrets).",
        )(function)
        function = click.option(
            "--quiet", "-q", is_flag=True, help="Print only the final summary."
        )(function)
        function = click_options(command)(function)
        if command == "import":
            function = click.option(
                "--dry-run",
                is_flag=True,
                help="Plan only: read the server, write the plan, send nothing.",
            )(function)
        function = click.option(
            "--sandbox",
            is_flag=True,
            help="Use a built-in sandbox started for this run (database in the state folder, "
            "demo credentials): try the tool with no setup. Needs the 'sandbox' extra.",
        )(function)
        return click.argument("file", type=click.Path(path_type=Path, dir_okay=False))(function)

    return decorate


@click.command(name="plan")
@job_options(command="plan")
def plan(**options: Any) -> None:
    """Show what `sections import FILE` would do, reading the server but sending nothing.

    Every row is classified: create, exists, moved, conflict, duplicate_exists,
    course_not_found, changed_since_import or invalid; plan.csv goes to the report folder.
    Same as `sections import FILE --dry-run`.

    \b
    Examples:
      sections plan course_sections.xlsx
      sections plan data/sample_sections.csv --sandbox
    """
    _run(dry_run=True, **options)


@click.command(name="import")
@job_options(command="import")
def import_(dry_run: bool, **options: Any) -> None:
    """Import FILE into Nexudus: every valid row becomes exactly one course section.

    Safe to run again: rows already on the server are adopted, never posted twice; a run
    stopped by a crash, Ctrl-C or the write budget continues where it stopped.

    \b
    Exit codes: 0 every valid row is on the server; 1 some rows failed or need attention
    (see errors.csv); 2 input invalid, nothing sent; 3 configuration, credentials or lock;
    4 stopped early, run the same command again to continue.

    \b
    Examples:
      sections import course_sections.xlsx
      sections import data/sample_sections.csv --sandbox
    """
    _run(dry_run=dry_run, **options)


def _run(
    *,
    file: Path,
    sandbox: bool,
    dry_run: bool,
    quiet: bool,
    log_file: Path | None,
    **options: Any,
) -> None:
    display = ProgressDisplay(quiet=quiet)
    setup_logging(
        quiet=quiet, log_file=log_file, console=display.console if display.terminal else None
    )
    settings = JobSettings.build(input=file, dry_run=dry_run, **options)
    if settings.profile_file is not None and not sandbox:
        raise click.BadParameter("only with --sandbox", param_hint="'--profile-file'")
    with contextlib.ExitStack() as stack:
        if sandbox:
            settings = _with_sandbox(settings, stack, quiet=quiet)
        # else: run_job reads NEXUDUS_* after validating, so an invalid file is reported
        # (exit 2) even without credentials; missing ones are AuthError -> exit 3, one line
        cancel = threading.Event()
        with _signals_cancel(cancel), display:
            result = run_job(settings, progress=display, cancel=cancel)
        logging.getLogger(__name__).info(
            "%s; report: %s; exit %d", result.message, result.report_dir, int(result.exit_code)
        )
        _print_summary(result, sandbox=sandbox)
    sys.exit(int(result.exit_code))


def _with_sandbox(
    settings: JobSettings, stack: contextlib.ExitStack, *, quiet: bool
) -> JobSettings:
    db = settings.resolved_state_dir() / SANDBOX_DB_NAME
    settings, server = stack.enter_context(running_sandbox(settings, db))
    if not quiet:
        click.echo(
            f"Using the built-in sandbox at {server.url} (user {SANDBOX_USER}, data in {db})",
            err=True,
        )
    return settings


@contextlib.contextmanager
def _signals_cancel(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM, as systemd and `kill` send): finish the requests in flight,
    record them, write the report (exit 4). A second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        click.echo("Stopping after the requests in flight (Ctrl-C again to quit now)...", err=True)

    previous = {each: signal.signal(each, handler) for each in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for each, before in previous.items():
            signal.signal(each, before)


def course_table(results: pd.DataFrame) -> Table:
    """Rows by course and status (one line per course, one column per status present)."""
    statuses = [s.value for s in RowStatus if (results["status"] == s.value).any()]
    table = Table(title="Rows by course", header_style="bold")
    table.add_column("Course")
    for status in statuses:
        table.add_column(status, justify="right")
    table.add_column("total", justify="right")
    courses = results["course_id"].astype("object").where(results["course_id"].notna(), None)
    for course in sorted(set(courses), key=lambda c: (c is None, c or 0)):
        rows = results[courses.map(lambda c, k=course: c == k)]
        counts = rows["status"].value_counts()
        table.add_row(
            "?" if course is None else str(course),
            *(str(int(counts.get(s, 0))) for s in statuses),
            str(len(rows)),
        )
    return table


def _print_summary(result: JobResult, *, sandbox: bool = False) -> None:
    if result.exit_code == ExitCode.CONFIG and _nothing_done(result.results):
        # Credentials, permissions, URL: one line, like every other "cannot start" error.
        click.echo(f"sections: {result.message}", err=True)
        if result.report_dir is not None:
            click.echo(f"Report: {result.report_dir}")
        return
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # a log or a pipe: never squeeze status names into "dupl…"
        console = Console(soft_wrap=True, width=200)
    if len(result.results):
        console.print(course_table(result.results))
        counts = result.results["status"].value_counts()
        console.print("  ".join(f"{status}: {int(n)}" for status, n in counts.items()))
    console.print(result.message, markup=False, highlight=False)
    if result.summary.get("daily_budget"):
        console.print(str(result.summary["daily_budget"]), markup=False, highlight=False)
    unclear = int(str(result.summary.get("unclear_answers") or 0))
    if unclear:
        console.print(
            f"{unclear} answer(s) were unclear and were checked against the server before "
            "anything was sent again",
            markup=False,
            highlight=False,
        )
    if result.report_dir is not None:
        console.print(f"Report: {result.report_dir}", markup=False, highlight=False)
        if result.summary.get("posts"):
            console.print(
                f"To take this run back: sections undo {result.report_dir}"
                + (" --sandbox" if sandbox else ""),
                markup=False,
                highlight=False,
            )
    meaning = exit_meaning(result.exit_code, dry_run=bool(result.summary.get("dry_run")))
    console.print(f"Exit {int(result.exit_code)}: {meaning}", markup=False, highlight=False)


def _nothing_done(results: pd.DataFrame) -> bool:
    """True when no row reached the server or a decision (all pending or invalid)."""
    idle = {RowStatus.PENDING.value, RowStatus.INVALID.value}
    return bool(results["status"].isin(idle).all())
