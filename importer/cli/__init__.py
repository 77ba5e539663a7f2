"""The `sections` command line: a thin layer over the library.

Each command lives in its own module here, parses its options, calls one library function
and maps the result to an exit code (importer.codes.ExitCode). Errors become one line on
stderr, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from importer import __version__
from importer.codes import ExitCode, exit_code_for
from importer.config import config_default_map, load_config
from importer.errors import ImporterError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sections")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: ./sections.toml if present). Flags override it. "
    "Credentials never go here: they come from NEXUDUS_* environment variables.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Validate course-section spreadsheets and import them into Nexudus, exactly once.

    Exit codes: 0 all valid rows are on the server; 1 some rows failed at the API;
    2 input invalid, nothing sent; 3 configuration, authentication or lock problem;
    4 stopped early, run the same command again to continue; 5 internal error (a bug).
    """
    ctx.default_map = config_default_map(load_config(config_path))


def _register_commands() -> None:
    # Imported here so that each command module stays independent of the others.
    from importer.cli import commands

    for command in commands.ALL:
        cli.add_command(command)


def fail(message: str, code: ExitCode) -> None:
    """Print one line to stderr and exit with `code`."""
    click.echo(f"sections: {message}", err=True)
    sys.exit(int(code))


def _config_first(argv: list[str]) -> list[str]:
    """Accept `--config PATH` anywhere on the line by moving it before the subcommand."""
    rest: list[str] = []
    moved: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            moved += [arg, next(args, "")]
        elif arg.startswith("--config="):
            moved.append(arg)
        else:
            rest.append(arg)
    return moved + rest


@contextmanager
def _without_data_synthesis() -> Iterator[None]:
    """Run a command with `hypothesis` unavailable (unless something imported it already):
    pandera imports it for data synthesis, which no command uses, and that import alone is a
    sixth of validating 100,000 rows."""
    if "hypothesis" in sys.modules:
        yield
        return
    sys.modules["hypothesis"] = None  # type: ignore[assignment]  # import now raises
    try:
        yield
    finally:
        if "hypothesis" in sys.modules and sys.modules["hypothesis"] is None:
            del sys.modules["hypothesis"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the group, turn every failure into one line."""
    _register_commands()
    args = _config_first(list(sys.argv[1:] if argv is None else argv))
    try:
        with _without_data_synthesis():
            code = cli.main(args=args, prog_name="sections", standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted", ExitCode.RESUMABLE)
    except click.UsageError as error:
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
        fail(f"{error.format_message()}{hint}", ExitCode.CONFIG)
    except click.ClickException as error:
        fail(error.format_message(), ExitCode.CONFIG)
    except ImporterError as error:
        fail(str(error), exit_code_for(error))
    except OSError as error:  # a file or folder the OS refused (full disk, permissions)
        where = f": {error.filename}" if error.filename else ""
        fail(f"{error.strerror or type(error).__name__}{where}", ExitCode.CONFIG)
    except KeyboardInterrupt:
        fail("interrupted", ExitCode.RESUMABLE)
    except MemoryError:  # a huge input (validation of a big file with many findings)
        fail(
            "ran out of memory: the input is too large for the memory this machine gives the "
            "process; split the file into smaller ones",
            ExitCode.INVALID_INPUT,
        )
    except Exception as error:  # a bug: one line here, the traceback only in --log-file
        from importer.cli.logs import log_internal_error

        logged = log_internal_error(error)
        where = "the traceback is in the --log-file" if logged else "please report this bug"
        fail(f"internal error ({type(error).__name__}); {where}", ExitCode.INTERNAL)
    sys.exit(int(code or 0))
