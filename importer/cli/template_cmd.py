"""`sections template` (stub: to be implemented)."""

from __future__ import annotations

import click


@click.command(name="template")
def template() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
