"""Every option of a run and its default, written once.

`JobSettings` is composed of small parts: `TargetSettings` (where to send, timeouts, state
and report folders), `PacingSettings`, `SendPolicy` (the exactly-once protocol's knobs) and
`RetrySettings`. Each field that a person may set is declared with `option(...)`: default,
range and help text live in that one line, and from it come

- the click options of `sections plan`, `sections import` and `sections batch`
  (`click_options`), with the same names, types, ranges and help everywhere;
- the keys that `sections.toml` accepts (`file_options`; importer.config checks them);
- the defaults of `Pacer`, `RetryPolicy` and the client's timeouts.

Adding a setting is one `option(...)` field in one of the parts below. No other module writes
an engine default number.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from importer.credentials import Credentials

if TYPE_CHECKING:
    import httpx

#: Commands whose options are generated from these settings.
JOB_COMMANDS: tuple[str, ...] = ("plan", "import", "batch")
#: Commands that send writes: the job commands and `undo` (pacing, retries, exactly once).
SENDING_COMMANDS: tuple[str, ...] = (*JOB_COMMANDS, "undo")
#: Commands that talk to the API without a run's sending options: `doctor`, `export` too.
API_COMMANDS: tuple[str, ...] = (*JOB_COMMANDS, "doctor", "export", "undo")
#: Folder names used beside the input file (or inbox) when no folder is given.
DEFAULT_STATE_DIRNAME = ".sections-state"
DEFAULT_REPORT_DIRNAME = "reports"
#: The production API root.
DEFAULT_API_URL = "https://spaces.nexudus.com"


@dataclass(frozen=True)
class OptionSpec:
    """How one setting appears to people: help text, allowed range, where it can be set."""

    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # the minimum itself is not allowed (rates: > 0)
    envvar: str | None = None
    commands: tuple[str, ...] = JOB_COMMANDS  # commands with a flag for it
    in_file: bool = True  # accepted as a sections.toml key


def option(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    envvar: str | None = None,
    commands: tuple[str, ...] = JOB_COMMANDS,
    in_file: bool = True,
) -> Any:
    """A settings field that people can set: one line holds default, range and help."""
    spec = OptionSpec(help, min, max, min_open, envvar, commands, in_file)
    return field(default=default, metadata={"option": spec})


@dataclass(frozen=True)
class TargetSettings:
    """Where requests go and where this tool keeps its state and reports."""

    api_url: str = option(
        DEFAULT_API_URL,
        "Nexudus API root (env NEXUDUS_API_URL). Credentials come only from NEXUDUS_TOKEN "
        "or NEXUDUS_USERNAME + NEXUDUS_PASSWORD (+ NEXUDUS_TOTP).",
        envvar="NEXUDUS_API_URL",
        commands=API_COMMANDS,
    )
    state_dir: Path | None = option(
        None,
        "Folder for the ledger and lock (default: .sections-state/ beside the file or inbox).",
        commands=API_COMMANDS,
    )
    report_dir: Path | None = option(
        None, "Folder for run reports (default: reports/ beside the file or inbox)."
    )
    lock_dir: Path | None = option(
        None,
        "Folder of the per-account locks that keep two runs on this machine from writing to "
        "one API at once (default: $XDG_STATE_HOME/sections/locks or the platform's "
        "equivalent).",
    )
    wait_lock: float = option(
        0.0,
        "Seconds to wait for another run writing to the same API to finish (0: refuse at "
        "once, exit 3).",
        min=0,
        max=86400,
    )
    connect_timeout: float = option(
        10.0,
        "Seconds to wait for a connection (also for a free pooled one).",
        min=0,
        min_open=True,
        max=3600,
        commands=API_COMMANDS,
    )
    read_timeout: float = option(
        30.0,
        "Seconds to wait for an answer (also for sending a body); an unanswered POST is "
        "ambiguous and reconciled.",
        min=0,
        min_open=True,
        max=3600,
        commands=API_COMMANDS,
    )

    def timeout(self) -> httpx.Timeout:
        """The client's timeouts: connect (and pool) and read (and write)."""
        import httpx  # here, so `sections --help` never loads it

        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.read_timeout,
            pool=self.connect_timeout,
        )


@dataclass(frozen=True)
class PacingSettings:
    """The client-side rate limits, shared by every worker of a run (importer.pacing)."""

    writes_per_minute: float = option(
        60.0,
        "Writes per minute at most (the API allows 60).",
        min=0.01,
        max=1e6,
        commands=API_COMMANDS,
    )
    requests_per_minute: float = option(
        120.0,
        "Requests of any kind per minute at most (the API allows 120).",
        min=0.01,
        max=1e6,
        commands=API_COMMANDS,
    )
    min_interval: float = option(
        0.1,
        "Seconds between any two requests (the API needs 0.1; lower only against a sandbox).",
        min=0,
        max=3600,
        commands=API_COMMANDS,
    )
    requests_per_hour: float = option(
        5000.0,
        "Requests of any kind per hour at most (the API allows 5,000).",
        min=1,
        max=1e8,
        commands=API_COMMANDS,
    )


@dataclass(frozen=True)
class SendPolicy:
    """The exactly-once protocol's knobs (importer.engine.send)."""

    concurrency: int = option(
        2,
        "Worker threads sending rows (pacing is shared by all).",
        min=1,
        max=16,
        commands=SENDING_COMMANDS,
    )
    max_writes: int = option(
        2500,
        "Writes allowed in this run (a batch: shared by all files); when spent the run stops "
        "(exit 4) and the same command continues it.",
        min=0,
        commands=SENDING_COMMANDS,
    )
    writes_per_day: int = option(
        2500,
        "Writes allowed per API account in any 24 hours, counted across every run on this "
        "machine (the API's daily limit); when spent the run stops (exit 4) saying when to "
        "resume.",
        min=1,
        commands=SENDING_COMMANDS,
    )
    reconcile_grace: float = option(
        15.0,
        "Seconds after an unanswered write before the section's absence on the server is "
        "trusted and the row is sent again.",
        min=0,
        max=86400,
        commands=SENDING_COMMANDS,
    )
    breaker: int = option(
        12,
        "Stop (exit 4) after this many server or network failures in a row; 0 never stops. "
        "Live accounts fail in bursts of about five answers, which must not stop a run.",
        min=0,
        max=10000,
        commands=SENDING_COMMANDS,
    )
    max_attempts: int = option(
        5,
        "Sends of one row in total, across unknown outcomes and runs, before it is reported "
        "failed (not the retries of one request: see --request-tries).",
        min=1,
        max=100,
        commands=SENDING_COMMANDS,
    )


@dataclass(frozen=True)
class RetrySettings:
    """How hard one request is tried (importer.retry.RetryPolicy takes these numbers)."""

    request_tries: int = option(
        8,
        "Tries of one request (first try included) when it certainly did not apply "
        "(or is a read); not the sends of a row (see --max-attempts). Live accounts fail "
        "in bursts of about five answers: a read must outlast one.",
        min=1,
        max=100,
        commands=SENDING_COMMANDS,
    )
    retry_deadline: float = option(
        120.0,
        "Seconds one request may spend retrying before its last error stands.",
        min=0,
        max=86400,
        commands=SENDING_COMMANDS,
    )
    max_retry_after: float = option(
        300.0,
        "Longest Retry-After (seconds) to wait for; a longer one stops the run (exit 4).",
        min=0,
        max=86400,
        commands=SENDING_COMMANDS,
    )
    wait_initial: float = option(
        0.5,
        "First back-off (seconds) before retrying; doubles with jitter.",
        min=0,
        max=3600,
        commands=SENDING_COMMANDS,
    )
    wait_max: float = option(
        30.0,
        "Longest back-off (seconds) between two tries.",
        min=0,
        max=3600,
        commands=SENDING_COMMANDS,
    )


#: The parts of JobSettings and the attribute each is found under.
PARTS: dict[str, type] = {
    "target": TargetSettings,
    "pacing": PacingSettings,
    "send": SendPolicy,
    "retry": RetrySettings,
}


@dataclass
class JobSettings:
    """Every option of one import (or plan) of one file; the CLI, batch and notebooks fill it.

    Build it with `JobSettings.build(input=..., **flat_options)`; read an option as
    `settings.pacing.writes_per_minute` (or `settings.value("writes_per_minute")`).
    """

    input: Path
    target: TargetSettings = field(default_factory=TargetSettings)
    pacing: PacingSettings = field(default_factory=PacingSettings)
    send: SendPolicy = field(default_factory=SendPolicy)
    retry: RetrySettings = field(default_factory=RetrySettings)
    skip_invalid: bool = option(
        False,
        "Import the valid rows even when some rows are invalid (those are reported 'invalid').",
    )
    update: bool = option(
        False,
        "Also bring the sections the sheet matches (by Section Id, System ID, or title and "
        "order) in line with it: each difference is a PUT, shown as a diff in the plan.",
    )
    sandbox_port: int = option(
        0,
        "Port of the built-in sandbox that --sandbox starts (0: a free port).",
        min=0,
        max=65535,
        commands=API_COMMANDS,
    )
    profile_file: Path | None = option(
        None,
        "With --sandbox: a profile (e.g. `sections doctor`'s doctor.json) the built-in sandbox "
        "behaves as, to rehearse against a copy of the target account.",
        commands=("plan", "import"),
        in_file=False,
    )
    sheet: str | None = option(
        None, "XLSX sheet to read (default: first).", commands=("plan", "import"), in_file=False
    )
    delimiter: str | None = option(
        None, "CSV delimiter (default: detected).", commands=("plan", "import"), in_file=False
    )
    dry_run: bool = False  # plan only: no writes
    credentials: Credentials | None = None  # None: from the environment (NEXUDUS_*)
    ledger_scope: str | None = None  # the ledger's key for the API (default: api_url)
    write_report: bool = True
    sleep: Callable[[float], object] | None = None  # injected in tests (retry waits)
    clock: Callable[[], float] | None = None  # injected in tests (the daily write budget)

    @classmethod
    def build(cls, input: Path | str, **options: Any) -> JobSettings:
        """Settings from flat option names (as the CLI and sections.toml spell them)."""
        parts: dict[str, dict[str, Any]] = {name: {} for name in PARTS}
        top: dict[str, Any] = {}
        where = _part_of_option()
        for name, value in options.items():
            if name in where:
                parts[where[name]][name] = value
            elif name in _TOP_FIELDS and name != "input":
                top[name] = value
            else:
                raise TypeError(f"unknown setting {name!r}")
        built = {name: PARTS[name](**values) for name, values in parts.items()}
        return cls(input=Path(input), **built, **top)

    def with_options(self, **options: Any) -> JobSettings:
        """A copy with some options changed (flat names, as in `build`)."""
        flat = {name: self.value(name) for name in _part_of_option()}
        top = {name: getattr(self, name) for name in _TOP_FIELDS}
        return JobSettings.build(**{**flat, **top, **options})

    def value(self, name: str) -> Any:
        """One option by its flat name."""
        part = _part_of_option().get(name)
        return getattr(getattr(self, part), name) if part else getattr(self, name)

    def options(self) -> dict[str, Any]:
        """Every option that people can set, by flat name (for the report's summary)."""
        return {spec.name: self.value(spec.name) for spec in all_options()}

    @property
    def scope(self) -> str:
        """The ledger's key for the API: ledger_scope, else the API root."""
        return self.ledger_scope or self.target.api_url

    def resolved_state_dir(self) -> Path:
        folder = self.target.state_dir
        return Path(folder) if folder else Path(self.input).parent / DEFAULT_STATE_DIRNAME

    def resolved_report_dir(self) -> Path:
        folder = self.target.report_dir
        return Path(folder) if folder else Path(self.input).parent / DEFAULT_REPORT_DIRNAME


_TOP_FIELDS = frozenset(f.name for f in dataclasses.fields(JobSettings) if f.name not in PARTS)


@dataclass(frozen=True)
class NamedOption:
    """An option with its flat name and Python type (from the annotation)."""

    name: str
    type: Any
    default: Any
    spec: OptionSpec


def _options_of(cls: type) -> Iterator[NamedOption]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("option")
        if spec is not None:
            yield NamedOption(f.name, hints[f.name], f.default, spec)


def all_options() -> list[NamedOption]:
    """Every option people can set, parts first, in declaration order."""
    found = [o for part in PARTS.values() for o in _options_of(part)]
    return found + list(_options_of(JobSettings))


def _part_of_option() -> dict[str, str]:
    return {o.name: part for part, cls in PARTS.items() for o in _options_of(cls)}


def file_options() -> dict[str, NamedOption]:
    """The keys `sections.toml` accepts at its top level."""
    return {o.name: o for o in all_options() if o.spec.in_file}


def _plain_type(hint: Any) -> Any:
    """`Path | None` -> Path; `float` -> float."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def range_problem(named: NamedOption, value: Any) -> str | None:
    """Why `value` is outside the option's range (None: fine); NaN and infinity never are."""
    spec = named.spec
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if spec.min is not None and (value <= spec.min if spec.min_open else value < spec.min):
        return f"must be {'above' if spec.min_open else 'at least'} {spec.min:g}"
    if spec.max is not None and value > spec.max:
        return f"must be at most {spec.max:g}"
    return None


class _Checked(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A number type that refuses NaN, infinity and values outside the option's range."""

    def __init__(self, named: NamedOption) -> None:
        self.named = named
        self.base: Any = click.INT if _plain_type(named.type) is int else click.FLOAT
        self.name = self.base.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = self.base.convert(value, param, ctx)
        problem = range_problem(self.named, number)
        if problem:
            self.fail(f"{number!r} {problem}", param, ctx)
        return number

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        spec = self.named.spec
        low = "" if spec.min is None else f"{spec.min:g}{'<' if spec.min_open else '<='}"
        high = "" if spec.max is None else f"<={spec.max:g}"
        kind = "INTEGER" if self.base is click.INT else "FLOAT"
        return f"{kind} RANGE {low}x{high}" if (low or high) else kind


def _click_option(named: NamedOption) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    flag = "--" + named.name.replace("_", "-")
    plain = _plain_type(named.type)
    if plain is bool:
        return click.option(flag, is_flag=True, default=named.default, help=named.spec.help)
    kind: Any
    if plain is Path and named.name.endswith("_file"):  # an existing file to read
        kind = click.Path(path_type=Path, dir_okay=False, exists=True)
    elif plain is Path:  # a folder to use (created when missing)
        kind = click.Path(path_type=Path, file_okay=False)
    elif plain in (int, float):
        kind = _Checked(named)
    else:
        kind = click.STRING
    return click.option(
        flag,
        type=kind,
        default=named.default,
        show_default=named.default is not None,
        envvar=named.spec.envvar,
        help=named.spec.help,
    )


def click_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding the generated options of one command (`plan`, `import`, `batch`)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for named in reversed(all_options()):
            if command in named.spec.commands:
                function = _click_option(named)(function)
        return function

    return decorate


def option_names(command: str) -> frozenset[str]:
    """The flat names of the options a command has."""
    return frozenset(o.name for o in all_options() if command in o.spec.commands)
