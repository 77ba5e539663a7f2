"""The list of `sections` subcommands, in the order `sections --help` shows them.

Each command module is imported only when its command runs (or its own --help is asked for):
`sections --help` reads the one-line help from the module's source instead, so it never loads
pandas, httpx or the sandbox.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from typing import Any

import click


class LazyCommand(click.Command):
    """A subcommand that imports its module on first use (`target` is "module:attribute")."""

    def __init__(self, name: str, target: str) -> None:
        self.target = target
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
            self._command = getattr(importlib.import_module(module), attribute)
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
    LazyCommand("template", "importer.cli.template_cmd:template"),
    LazyCommand("sandbox", "importer.cli.sandbox_cmd:sandbox"),
]
