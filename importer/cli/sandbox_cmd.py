"""`sections sandbox`: run the local Nexudus API fake in the foreground.

Behaviour options come from one table (`_BEHAVIOUR`): each names a SandboxConfig field, and
its help shows the documented and the live value, read from the profiles themselves. The
config is built as: the `--profile` preset, then `--profile-file`, then options given on the
command line (or in sections.toml).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from importer.sandbox import (
    DEMO_USERS,
    PROFILES,
    SandboxConfig,
    read_profile_file,
    serve,
)

_DOCUMENTED = SandboxConfig.for_profile("documented")
_LIVE = SandboxConfig.for_profile("live")
_EXPLICIT = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.DEFAULT_MAP)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Option:
    """One behaviour option: its declaration, the field it sets and how to convert it."""

    decls: tuple[str, ...]
    field: str
    kind: Any  # a click type, or None for a boolean --x/--no-x pair
    help: str
    convert: Callable[[Any], Any] = _same
    shown: Callable[[Any], str] = str


def _choice(*values: str) -> click.Choice[str]:
    return click.Choice(values, case_sensitive=False)


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


def _unlock_text(value: Any) -> str:
    return "required" if value is None else str(value)


_COUNT = click.IntRange(min=0)
_BEHAVIOUR: tuple[_Option, ...] = (
    _Option(("--courses",), "courses", click.IntRange(1, 100_000),
            "Seed courses 101 .. 100+N (101-103 keep their demo titles)."),
    _Option(("--token-ttl",), "token_ttl", click.IntRange(min=1),
            "Access-token lifetime in seconds."),
    _Option(("--refresh-ttl-days",), "refresh_ttl_days", _COUNT, "Refresh-token lifetime."),
    _Option(("--client-id-binding",), "client_id_binding", _choice("lenient", "strict"),
            "strict: a refresh must name the client_id the password grant used (form field or "
            "client_id header; none means the email); lenient: it may leave it out."),
    _Option(("--writes-per-minute",), "writes_per_minute", _COUNT,
            "POST/PUT/DELETE allowed per client in any 60 s."),
    _Option(("--writes-per-day",), "writes_per_day", _COUNT,
            "POST/PUT/DELETE allowed per client in any 24 h."),
    _Option(("--requests-per-minute",), "requests_per_minute", _COUNT,
            "Requests of any kind allowed per client in any 60 s."),
    _Option(("--requests-per-hour",), "requests_per_hour", _COUNT,
            "Requests of any kind allowed per client in any hour."),
    _Option(("--min-interval-ms",), "min_interval_ms", _COUNT,
            "Minimum gap between two requests of one client."),
    _Option(("--no-throttle",), "throttle", "flag", "Disable all rate limits.",
            convert=lambda flag: not flag, shown=lambda on: "throttled" if on else "off"),
    _Option(("--throttle-status",), "throttle_status", _choice("409", "429"),
            "HTTP status of a throttled answer.", convert=int),
    _Option(("--throttle-body",), "throttle_body", _choice("empty", "wait-text"),
            "Body of a throttled answer: empty, or the text 'Wait N seconds'."),
    _Option(("--retry-after-header/--no-retry-after-header",), "retry_after_header", None,
            "Send Retry-After (whole seconds) with a throttled answer.", shown=_bool_text),
    _Option(("--latency-ms",), "latency_ms", _COUNT, "Delay added to every API answer."),
    _Option(("--jitter-ms",), "jitter_ms", _COUNT, "Random +/- variation of the delay."),
    _Option(("--fail-rate",), "fail_rate", click.FloatRange(0, 1),
            "Chance that a run of --fault-burst failed answers starts (nothing stored)."),
    _Option(("--fault-burst",), "fault_burst", click.IntRange(min=1),
            "Failures come in runs of N answers with the same status and body."),
    _Option(("--fault-gap",), "fault_gap", _COUNT,
            "After a run of failures, at least N requests are answered normally."),
    _Option(("--fault-body",), "fault_body", _choice("plain", "ooops"),
            "plain: 500/502/503 as a server or proxy sends them; ooops: 500 or 400 with "
            "'Ooops! There was a problem while running this action...' and no Errors."),
    _Option(("--ambiguous-rate",), "ambiguous_rate", click.FloatRange(0, 1),
            "Share of applied POST/PUT/DELETE answered 5xx or dropped (outcome unknown)."),
    _Option(("--value-shape",), "value_shape", _choice("id", "record"),
            "POST Value: {Id}, or the whole record with ToStringText, LocalizationDetails "
            "and CustomFields."),
    _Option(("--failures-as-200/--no-failures-as-200",), "failures_as_200", None,
            "Answer validation failures with HTTP 200 and WasSuccessful false.",
            shown=_bool_text),
    _Option(("--default-active",), "default_active", _choice("true", "false"),
            "Active of a section created without one.", convert=lambda v: v == "true",
            shown=_bool_text),
    _Option(("--default-unlock-type",), "default_unlock_type",
            _choice("required", "0", "1", "2", "3"),
            "UnlockType stored when a POST leaves it out; 'required': a 400 instead.",
            convert=lambda v: None if v == "required" else int(v), shown=_unlock_text),
    _Option(("--first-id",), "first_id", click.IntRange(1, 2**53), "Id of the first section."),
    _Option(("--id-gaps",), "id_gaps", _COUNT,
            "Each new id skips a random 0..N numbers (seeded by --seed)."),
    _Option(("--timestamp-decimals",), "timestamp_decimals", click.IntRange(0, 7),
            "Digits of the second in CreatedOn/UpdatedOn (7: 2026-08-27T08:24:35.2825432Z)."),
    _Option(("--missing-course-error",), "missing_course_error", _choice("400", "ooops"),
            "Answer to a write naming a course that does not exist: a 400 property error, "
            "or a 500 Ooops."),
    _Option(("--foreign-key-name",), "foreign_key_name", _choice("property", "navigation"),
            "How errors name the course: CourseId (property) or Course (navigation: "
            "'Course: is a required field')."),
    _Option(("--put-semantics",), "put_semantics", _choice("strict", "replace", "merge"),
            "PUT: strict = 400 'X is a required field' for an omitted required field, omitted "
            "optional fields cleared; replace = cleared without the 400; merge = kept."),
    _Option(("--delete-failure-as-200/--no-delete-failure-as-200",), "delete_failure_as_200",
            None, "A refused DELETE answers HTTP 200 with WasSuccessful false (else 500).",
            shown=_bool_text),
    _Option(("--delete-blocked-by-children/--no-delete-blocked-by-children",),
            "delete_blocked_by_children", None,
            "Refuse to DELETE a section that has lessons (mark them with POST "
            "/sandbox/sections/ID/children); otherwise they are deleted with it.",
            shown=_bool_text),
    _Option(("--max-page-size",), "max_page_size", _COUNT,
            "Largest list page (0: no maximum)."),
    _Option(("--page-size-overflow",), "page_size_overflow", _choice("clamp", "error"),
            "A larger size is clamped to the maximum, or answered 400."),
    _Option(("--list-fields",), "list_fields", _choice("full", "partial"),
            "partial: list records leave out SectionContents (GET by id is full)."),
    _Option(("--batch-read-role",), "batch_read_role", _choice("read", "list"),
            "Role the batch read ?id=[...] needs: CourseSection-Read or CourseSection-List."),
)  # fmt: skip


def _profile_help(option: _Option) -> str:
    documented = option.shown(getattr(_DOCUMENTED, option.field))
    live = option.shown(getattr(_LIVE, option.field))
    return f"{option.help} [documented: {documented}; live: {live}]"


def _behaviour_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_BEHAVIOUR):
        help_text = _profile_help(option)
        decorator: Callable[[Callable[..., Any]], Callable[..., Any]]
        if option.kind == "flag":
            decorator = click.option(*option.decls, option.field, is_flag=True, help=help_text)
        elif option.kind is None:
            decorator = click.option(*option.decls, option.field, default=None, help=help_text)
        else:
            decorator = click.option(
                *option.decls, option.field, type=option.kind, default=None, help=help_text
            )
        command = decorator(command)
    return command


def build_config(
    ctx: click.Context, profile: str, profile_file: Path | None, given: dict[str, Any]
) -> SandboxConfig:
    """The preset, then the profile file, then every option given explicitly."""
    config = SandboxConfig.for_profile(profile)
    if profile_file is not None:
        config = replace(config, **read_profile_file(profile_file))
    explicit = {
        option.field: option.convert(given[option.field])
        for option in _BEHAVIOUR
        if ctx.get_parameter_source(option.field) in _EXPLICIT
    }
    return replace(config, **explicit)


def _announce(url: str, config: SandboxConfig, profile: str) -> None:
    # Tests parse the first line; printing demo passwords is intended (it is a sandbox).
    click.echo(f"Nexudus sandbox listening on {url}")
    click.echo(f"Profile: {profile}; courses 101-{100 + config.courses}")
    click.echo("Demo users (email / password: roles):")
    for email, user in DEMO_USERS.items():
        roles = (
            "full unrestricted administrator"
            if user.roles is None
            else ", ".join(sorted(user.roles))
        )
        totp = f" (two-factor: also send totp={user.totp})" if user.totp else ""
        click.echo(f"  {email} / {user.password}{totp}: {roles}")
    if config.control:
        click.echo(
            f"Control API: {url}/sandbox/stats, /sandbox/reset, /sandbox/config, "
            "/sandbox/sections, /sandbox/sections/ID/children, /sandbox/courses"
        )
    click.echo("Press Ctrl-C to stop.", nl=True)
    sys.stdout.flush()


@click.command(name="sandbox")
@click.option("--host", default=_DOCUMENTED.host, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8085,
    show_default=True,
    help="Port to listen on; 0 picks a free port.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file to keep sections in (default: a temporary file, removed on exit).",
)
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="live",
    show_default=True,
    help="Preset for every behaviour option below: what the documentation says, or what "
    "clients of live accounts saw. Options given explicitly override it.",
)
@click.option(
    "--profile-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help='JSON profile (e.g. written by `sections doctor`): {"sandbox": {option_name: value, '
    '...}, "observed": {...}}; applied over --profile, under explicit options.',
)
@_behaviour_options
@click.option("--seed", type=int, default=None, help="Seed for reproducible faults and id gaps.")
@click.option("--control", is_flag=True, help="Expose the /sandbox/* control API (no auth).")
@click.option(
    "--log-requests",
    is_flag=True,
    help="Print one line per request on stderr: method, path, status, latency in ms, and "
    "'throttled' for throttled answers (never headers or bodies).",
)
@click.pass_context
def sandbox(
    ctx: click.Context,
    /,
    host: str,
    port: int,
    db_path: Path | None,
    profile: str,
    profile_file: Path | None,
    seed: int | None,
    control: bool,
    log_requests: bool,
    **given: Any,
) -> None:
    """Run a local fake of the Nexudus course-section API (demo users, seeded courses,
    Nexudus-style throttling and optional faults). Ctrl-C stops it.

    Demo users: admin@example.com / admin (full administrator), creator@example.com /
    creator (read, create, edit, delete), viewer@example.com / viewer (read only),
    reader@example.com / reader (read by id only), twofactor@example.com / twofactor
    (two-factor: the password grant must also send totp=123456).
    """
    try:
        config = build_config(ctx, profile, profile_file, given)
        config = replace(
            config,
            host=host,
            port=port,
            db_path=db_path,
            seed=seed,
            control=control,
            log_requests=log_requests,
        )
        serve(config, on_ready=lambda url: _announce(url, config, profile))
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo("Sandbox stopped.")
