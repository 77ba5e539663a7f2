"""The list of `sections` subcommands, in the order `sections --help` shows them.

Each command module is imported only when its command runs (or its own --help is asked for):
`sections --help` reads the one-line help from the module's source instead, so it never loads
pandas, httpx or the sandbox.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

import click

from importer.errors import ConfigError


class LazyCommand(click.Command):
    """A subcommand that imports its module on first use (`target` is "module:attribute")."""

    def __init__(
        self, name: str, target: str, *, missing: Callable[[], click.Command] | None = None
    ) -> None:
        self.target = target
        self.missing = missing  # stand-in when the module needs an extra that is absent
        self._command: click.Command | None = None
        self._help: str | None = None
        super().__init__(name)

    @property
    def help(self) -> str | None:
        """The command's help: its docstring, read from the source until it is imported."""
        if self._help is None:
            command = self._command
            self._help = command.help if command is not None else _docstring(self.target)
        return self._help

    @help.setter
    def help(self, value: str | None) -> None:
        self._help = value

    def command(self) -> click.Command:
        if self._command is None:
            module, _, attribute = self.target.partition(":")
            try:
                self._command = getattr(importlib.import_module(module), attribute)
            except ImportError:
                if self.missing is None:
                    raise
                self._command = self.missing()
        return self._command

    def get_short_help_str(self, limit: int = 45) -> str:
        if self._command is None:
            return super().get_short_help_str(limit)
        return self._command.get_short_help_str(limit)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return self.command().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.command().invoke(ctx)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self.command().get_params(ctx)


def _missing_sandbox() -> click.Command:
    """Without the 'sandbox' extra: a stand-in that says how to get it (exit 3)."""
    from importer.local_sandbox import MISSING_EXTRA

    @click.command(
        name="sandbox",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        help="Run the built-in sandbox (needs the 'sandbox' extra).",
    )
    def missing() -> None:
        raise ConfigError(MISSING_EXTRA)

    return missing


def _docstring(target: str) -> str:
    """The docstring of the command function, read from the source without importing it."""
    module, _, attribute = target.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attribute:
            return ast.get_docstring(node) or ""
    return ""


ALL: list[click.Command] = [
    LazyCommand("validate", "importer.cli.validate_cmd:validate"),
    LazyCommand("plan", "importer.cli.import_cmd:plan"),
    LazyCommand("import", "importer.cli.import_cmd:import_"),
    LazyCommand("batch", "importer.cli.batch_cmd:batch"),
    LazyCommand("export", "importer.cli.export_cmd:export"),
    LazyCommand("doctor", "importer.cli.doctor_cmd:doctor"),
    LazyCommand("undo", "importer.cli.undo_cmd:undo"),
    LazyCommand("template", "importer.cli.template_cmd:template"),
    LazyCommand("sandbox", "importer.cli.sandbox_cmd:sandbox", missing=_missing_sandbox),
]
