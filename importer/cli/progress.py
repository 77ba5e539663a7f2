"""Progress for people: a rich bar on a terminal, a log line every few seconds otherwise.

The job reports `ProgressEvent`s through a callback; this module only renders them, so the
engine never prints and a notebook can pass its own callback instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from importer.engine.progress import ProgressEvent

#: Seconds between two progress lines when stderr is not a terminal.
LOG_EVERY = 5.0


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def describe(event: ProgressEvent) -> str:
    """One line: phase, rows done of total, write rate, ETA and counts by status."""
    if event.phase == "validate":  # before any request: rate and ETA mean nothing yet
        return f"validate: {event.total} valid row(s) to plan"
    if event.phase == "plan":
        return f"plan: reading the server for {event.total} row(s)"
    counts = ", ".join(f"{status} {n}" for status, n in sorted(event.counts.items()) if n)
    return (
        f"{event.phase}: {event.done}/{event.total} rows, "
        f"{event.write_rate:.1f} writes/min, ETA {format_eta(event.eta_seconds)}"
        + (f" ({counts})" if counts else "")
    )


class ProgressDisplay:
    """A callable for `run_job(progress=...)`; use as a context manager around the run."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        console: Console | None = None,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        echo: Callable[[str], object] | None = None,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.terminal = self.console.is_terminal if terminal is None else terminal
        self.clock = clock
        self.echo = echo or (lambda line: click.echo(line, err=True))
        self._lock = threading.Lock()
        self._last_line = float("-inf")
        self._last_phase = ""
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.terminal and not self.quiet:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} rows"),
                TextColumn("{task.fields[rate]}"),
                TextColumn("ETA {task.fields[eta]}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("validate", total=1, rate="", eta="-")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            if kind is not None or self._last_phase in ("", "validate", "plan"):
                # Stopped before sending (bad credentials, unreachable server, a bug): the
                # one-line message says it; a 0% bar left on screen would only confuse.
                self._progress.update(self._task, visible=False)
            self._progress.stop()
            self._progress = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        with self._lock:
            if self._progress is not None and self._task is not None:
                if event.phase not in ("report", "done"):
                    self._last_phase = event.phase
                self._progress.update(
                    self._task,
                    description=event.phase,
                    completed=event.done,
                    total=max(event.total, 1),
                    rate=f"{event.write_rate:.1f} writes/min",
                    eta=format_eta(event.eta_seconds),
                )
                return
            now = self.clock()
            phase_changed = event.phase != self._last_phase and event.phase in ("plan", "send")
            if phase_changed or now - self._last_line >= LOG_EVERY:
                self._last_line = now
                self._last_phase = event.phase
                self.echo(describe(event))
