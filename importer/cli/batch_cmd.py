"""`sections` subcommands (stub: to be implemented)."""

from __future__ import annotations

import click


@click.command(name="batch")
def batch() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
