"""The list of `sections` subcommands, in the order `sections --help` shows them."""

from __future__ import annotations

import click

from importer.cli.batch_cmd import batch
from importer.cli.import_cmd import import_, plan
from importer.cli.template_cmd import template
from importer.cli.validate_cmd import validate
from importer.errors import ConfigError
from importer.local_sandbox import MISSING_EXTRA


def _sandbox_command() -> click.Command:
    """`sections sandbox`, or without the 'sandbox' extra a stand-in saying how to get it."""
    try:
        from importer.cli.sandbox_cmd import sandbox
    except ImportError:

        @click.command(
            name="sandbox",
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
            help="Run the built-in sandbox (needs the 'sandbox' extra).",
        )
        def missing() -> None:
            raise ConfigError(MISSING_EXTRA)

        return missing
    return sandbox


ALL: list[click.Command] = [validate, plan, import_, batch, template, _sandbox_command()]
