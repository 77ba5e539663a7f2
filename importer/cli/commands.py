"""The list of `sections` subcommands, in the order `sections --help` shows them."""

from __future__ import annotations

import click

from importer.cli.batch_cmd import batch
from importer.cli.import_cmd import import_, plan
from importer.cli.sandbox_cmd import sandbox
from importer.cli.template_cmd import template
from importer.cli.validate_cmd import validate

ALL: list[click.Command] = [validate, plan, import_, batch, template, sandbox]
