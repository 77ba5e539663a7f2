"""`sections batch`: import every settled spreadsheet in an inbox folder (for cron/systemd).

The job options are generated from importer.engine.settings, the same as `sections import`'s;
the inbox options (--inbox, --settle-seconds, --notify-url) are batch's own.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from importer.batch import BatchSettings, FileOutcome, run_batch
from importer.cli.logs import setup_logging
from importer.engine.settings import DEFAULT_STATE_DIRNAME, JobSettings, click_options
from importer.local_sandbox import SANDBOX_DB_NAME


def _config_only_options() -> dict[str, Any]:
    """[batch] keys of sections.toml that have no flag (notify_timeout, recheck_seconds)."""
    ctx = click.get_current_context()
    flags = {param.name for param in ctx.command.params}
    fields = {f.name for f in dataclasses.fields(BatchSettings)} - {"job", "sandbox", "sandbox_db"}
    return {k: v for k, v in (ctx.default_map or {}).items() if k in fields and k not in flags}


def _echo_file(outcome: FileOutcome) -> None:
    code = "-" if outcome.exit_code is None else str(outcome.exit_code)
    where = f" -> {outcome.path}" if outcome.outcome != "left" else ""
    click.echo(f"{outcome.outcome:6} exit {code}  {outcome.name}{where}  {outcome.message}")


@click.command(name="batch")
@click.option(
    "--inbox",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to import from: every *.csv and *.xlsx in it (not subfolders).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Import into a built-in sandbox started for this run (demo / test).",
)
@click.option(
    "--settle-seconds",
    type=click.FloatRange(min=0),
    default=BatchSettings.settle_seconds,
    show_default=True,
    help="Leave files modified less than this many seconds ago (still being copied).",
)
@click.option(
    "--notify-url",
    default=None,
    help="POST the run's summary JSON to this webhook; a failing webhook is logged, not fatal.",
)
@click_options("batch")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary line and problems.")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a detailed log here (never secrets).",
)
def batch(
    inbox: Path,
    sandbox: bool,
    settle_seconds: float,
    notify_url: str | None,
    quiet: bool,
    log_file: Path | None,
    **options: Any,
) -> None:
    """Import every settled spreadsheet in --inbox, oldest first.

    Each file goes to INBOX/done/ (exit 0) or INBOX/failed/ with its report (exit 1-3); a
    file stopped by --max-writes stays and the next run resumes it without duplicates. Files
    being written, Office lock files (~$*), *.part, *.tmp and hidden files are left alone. One
    run at a time per inbox. The exit code is the worst file's (a resumable 4 never hides
    1, 2 or 3). Example for cron: sections batch --inbox /srv/sections/inbox --max-writes 500
    """
    setup_logging(quiet=quiet, log_file=log_file)
    job = JobSettings.build(input=inbox, **options)
    state = job.target.state_dir or inbox / DEFAULT_STATE_DIRNAME
    settings = BatchSettings(
        **_config_only_options(),
        inbox=inbox,
        job=job,
        settle_seconds=settle_seconds,
        notify_url=notify_url,
        sandbox=sandbox,
        sandbox_db=state / SANDBOX_DB_NAME if sandbox else None,  # kept, so a rerun resumes
    )
    cancel = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # systemd stops a service with SIGTERM: finish the current row, leave the rest resumable.
        signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    result = run_batch(settings, on_file=None if quiet else _echo_file, cancel=cancel)
    if not result.files and not quiet:
        click.echo("inbox empty: nothing to import")
    if result.notify_error and quiet:  # otherwise the warning was already logged to stderr
        click.echo(f"warning: {result.notify_error}", err=True)
    click.echo(f"summary: {result.summary_path}")
    sys.exit(int(result.exit_code))
