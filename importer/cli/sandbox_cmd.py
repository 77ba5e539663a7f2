"""`sections` subcommands (stub: to be implemented)."""

from __future__ import annotations

import click


@click.command(name="sandbox")
def sandbox() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
