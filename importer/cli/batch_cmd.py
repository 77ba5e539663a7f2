"""`sections batch`: import every settled spreadsheet in an inbox folder (for cron/systemd)."""

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
from importer.job import DEFAULT_API_URL, DEFAULT_STATE_DIRNAME, JobSettings
from importer.local_sandbox import SANDBOX_DB_NAME

_DEFAULTS = JobSettings(input=Path())


def _config_only_options(settings: type = JobSettings) -> dict[str, Any]:
    """sections.toml options that have no batch flag still apply: job options (e.g. breaker)
    and, with `settings=BatchSettings`, [batch] ones (notify_timeout, recheck_seconds)."""
    ctx = click.get_current_context()
    flags = {param.name for param in ctx.command.params}
    fields = {f.name for f in dataclasses.fields(settings)} - {"job", "sandbox", "sandbox_db"}
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
    "--max-writes",
    type=click.IntRange(min=0),
    default=_DEFAULTS.max_writes,
    show_default=True,
    help="POSTs allowed for the whole run, shared by all files; a file stopped by it "
    "stays in the inbox and the next run continues it.",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Import into a built-in sandbox started for this run (demo / test).",
)
@click.option(
    "--api-url",
    envvar="NEXUDUS_API_URL",
    default=DEFAULT_API_URL,
    show_default=True,
    help="Nexudus API root (env NEXUDUS_API_URL). Credentials come only from "
    "NEXUDUS_TOKEN or NEXUDUS_USERNAME/NEXUDUS_PASSWORD.",
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
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Ledger folder  [default: INBOX/.sections-state]",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Reports folder, also holding batch-<time>.json  [default: INBOX/reports]",
)
@click.option(
    "--writes-per-minute",
    type=click.FloatRange(min=0, min_open=True),
    default=_DEFAULTS.writes_per_minute,
    show_default=True,
    help="POST rate cap.",
)
@click.option(
    "--requests-per-minute",
    type=click.FloatRange(min=0, min_open=True),
    default=_DEFAULTS.requests_per_minute,
    show_default=True,
    help="Rate cap for all requests (reads included).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=_DEFAULTS.concurrency,
    show_default=True,
    help="Worker threads sending POSTs.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid rows of a file even when some rows are invalid.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary line and problems.")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a detailed log here (never secrets).",
)
def batch(
    inbox: Path,
    max_writes: int,
    sandbox: bool,
    api_url: str,
    settle_seconds: float,
    notify_url: str | None,
    state_dir: Path | None,
    report_dir: Path | None,
    writes_per_minute: float,
    requests_per_minute: float,
    concurrency: int,
    skip_invalid: bool,
    quiet: bool,
    log_file: Path | None,
) -> None:
    """Import every settled spreadsheet in --inbox, oldest first.

    Each file goes to INBOX/done/ (exit 0) or INBOX/failed/ with its report (exit 1-3); a
    file stopped by --max-writes stays and the next run resumes it without duplicates. Files
    being written, Office lock files (~$*), *.part, *.tmp and hidden files are left alone. One
    run at a time per inbox. The exit code is the worst file's (a resumable 4 never hides
    1, 2 or 3). Example for cron: sections batch --inbox /srv/sections/inbox --max-writes 500
    """
    setup_logging(quiet=quiet, log_file=log_file)
    job = JobSettings(
        **_config_only_options(),
        input=inbox,
        api_url=api_url,
        max_writes=max_writes,
        state_dir=state_dir,
        report_dir=report_dir,
        writes_per_minute=writes_per_minute,
        requests_per_minute=requests_per_minute,
        concurrency=concurrency,
        skip_invalid=skip_invalid,
    )
    state = state_dir or inbox / DEFAULT_STATE_DIRNAME
    settings = BatchSettings(
        **_config_only_options(BatchSettings),
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
