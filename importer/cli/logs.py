"""Logging for the commands that talk to the API (`import`, `plan`, `batch`): one setup.

Warnings go to stderr as one plain line (cron mails, journald) or, on a terminal, through
rich above the progress bar; `--log-file` gets everything. Every handler redacts secrets.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler

from importer.credentials import install_redaction

#: Chatty libraries kept at WARNING even when --log-file asks for DEBUG.
QUIET_LOGGERS: tuple[str, ...] = ("httpx", "httpcore", "uvicorn", "uvicorn.access", "uvicorn.error")


def setup_logging(*, quiet: bool, log_file: Path | None, console: Console | None = None) -> None:
    """Warnings (errors only with --quiet) to stderr, or to `console` through rich when given;
    everything to `log_file`. A log file that cannot be opened is one line and exit 3."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if log_file else logging.INFO)
    handler: logging.Handler
    if console is not None:
        handler = RichHandler(
            console=console, show_time=False, show_path=False, markup=False, rich_tracebacks=False
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("sections: %(message)s"))
    handler.setLevel(logging.ERROR if quiet else logging.WARNING)
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            detailed = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as error:
            raise click.ClickException(
                f"cannot write the log file {log_file}: {error.strerror or error}"
            ) from None
        detailed.setLevel(logging.DEBUG)
        detailed.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
        )
        handlers.append(detailed)
    for each in handlers:
        install_redaction(each)
        root.addHandler(each)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def log_internal_error(error: BaseException) -> bool:
    """Write `error` with its traceback to the --log-file handlers only (never to a person's
    terminal); True when a log file received it."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    record = logging.getLogger("importer").makeRecord(
        "importer",
        logging.ERROR,
        __file__,
        0,
        "internal error",
        (),
        exc_info=(type(error), error, error.__traceback__),
    )
    for handler in files:
        handler.handle(record)
    return bool(files)
