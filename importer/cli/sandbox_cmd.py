"""`sections sandbox`: run the local Nexudus API fake in the foreground."""

from __future__ import annotations

from pathlib import Path

import click

from importer.sandbox import DEMO_USERS, SandboxConfig, serve

_DEFAULTS = SandboxConfig()  # option defaults come from the config (one source of truth)


def _announce(url: str, control: bool) -> None:
    # Tests parse the first line; printing demo passwords is intended (it is a sandbox).
    click.echo(f"Nexudus sandbox listening on {url}")
    click.echo("Demo users (email / password: roles):")
    for email, user in DEMO_USERS.items():
        roles = (
            "full unrestricted administrator"
            if user.roles is None
            else ", ".join(sorted(user.roles))
        )
        click.echo(f"  {email} / {user.password}: {roles}")
    if control:
        click.echo(
            f"Control API: {url}/sandbox/stats, /sandbox/reset, /sandbox/config, /sandbox/sections"
        )
    click.echo("Press Ctrl-C to stop.", nl=True)
    click.get_text_stream("stdout").flush()


@click.command(name="sandbox")
@click.option("--host", default=_DEFAULTS.host, show_default=True, help="Address to listen on.")
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
    "--token-ttl",
    type=click.IntRange(min=1),
    default=_DEFAULTS.token_ttl,
    show_default=True,
    help="Access-token lifetime in seconds.",
)
@click.option(
    "--writes-per-minute",
    type=click.IntRange(min=0),
    default=_DEFAULTS.writes_per_minute,
    show_default=True,
    help="POST/PUT/DELETE allowed per client in any 60 s.",
)
@click.option(
    "--writes-per-day",
    type=click.IntRange(min=0),
    default=_DEFAULTS.writes_per_day,
    show_default=True,
    help="POST/PUT/DELETE allowed per client in any 24 h.",
)
@click.option(
    "--requests-per-minute",
    type=click.IntRange(min=0),
    default=_DEFAULTS.requests_per_minute,
    show_default=True,
    help="Requests of any kind allowed per client in any 60 s.",
)
@click.option(
    "--min-interval-ms",
    type=click.IntRange(min=0),
    default=_DEFAULTS.min_interval_ms,
    show_default=True,
    help="Minimum gap between two requests of one client.",
)
@click.option("--no-throttle", is_flag=True, help="Disable all rate limits (no 409 answers).")
@click.option(
    "--latency-ms",
    type=click.IntRange(min=0),
    default=_DEFAULTS.latency_ms,
    show_default=True,
    help="Delay added to every API answer.",
)
@click.option(
    "--jitter-ms",
    type=click.IntRange(min=0),
    default=_DEFAULTS.jitter_ms,
    show_default=True,
    help="Random +/- variation of the delay.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=_DEFAULTS.fail_rate,
    show_default=True,
    help="Share of API calls answered 500/502/503 before anything is stored.",
)
@click.option(
    "--ambiguous-rate",
    type=click.FloatRange(0, 1),
    default=_DEFAULTS.ambiguous_rate,
    show_default=True,
    help="Share of stored POSTs answered 5xx or dropped anyway (outcome unknown).",
)
@click.option("--seed", type=int, default=None, help="Seed for reproducible faults.")
@click.option("--control", is_flag=True, help="Expose the /sandbox/* control API (no auth).")
def sandbox(
    host: str,
    port: int,
    db_path: Path | None,
    token_ttl: int,
    writes_per_minute: int,
    writes_per_day: int,
    requests_per_minute: int,
    min_interval_ms: int,
    no_throttle: bool,
    latency_ms: int,
    jitter_ms: int,
    fail_rate: float,
    ambiguous_rate: float,
    seed: int | None,
    control: bool,
) -> None:
    """Run a local fake of the Nexudus course-section API (demo users, seeded courses
    101-103, Nexudus-style throttling and optional faults). Ctrl-C stops it."""
    config = SandboxConfig(
        host=host,
        port=port,
        db_path=db_path,
        token_ttl=token_ttl,
        writes_per_minute=writes_per_minute,
        writes_per_day=writes_per_day,
        requests_per_minute=requests_per_minute,
        min_interval_ms=min_interval_ms,
        throttle=not no_throttle,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        fail_rate=fail_rate,
        ambiguous_rate=ambiguous_rate,
        seed=seed,
        control=control,
    )
    try:
        serve(config, on_ready=lambda url: _announce(url, control))
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo("Sandbox stopped.")
