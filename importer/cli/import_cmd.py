"""`sections` subcommands (stub: to be implemented)."""

from __future__ import annotations

import click


@click.command(name="plan")
def plan() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")

@click.command(name="import")
def import_() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
