"""The `sections` command group: help, bad arguments and documented exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from importer.cli import cli, main
from importer.cli.commands import ALL
from importer.codes import EXIT_CODE_MEANINGS, ExitCode

ROOT = Path(__file__).resolve().parents[1]


def run_sections(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_help_lists_every_command_with_help_text() -> None:
    """`sections --help` names each registered command, and each has its own help text."""
    result = run_sections("--help")
    assert result.returncode == 0
    for command in ALL:
        assert command.name in result.stdout
        assert command.help and "not implemented" not in command.help.lower()
        sub = run_sections(command.name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage:" in sub.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["no-such-command"],
        ["validate"],
        ["validate", "x.csv", "--format", "yaml"],
        ["import", "x.csv", "--concurrency", "many"],
        ["sandbox", "--port", "notanumber"],
    ],
)
def test_bad_arguments_give_one_line_and_exit_3(args: list[str]) -> None:
    """Usage mistakes are a configuration problem: one line on stderr, never a traceback."""
    result = run_sections(*args)
    assert result.returncode == ExitCode.CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sections: ")
    assert "Traceback" not in result.stderr


def test_missing_input_file_is_exit_2_one_line(tmp_path: Path) -> None:
    """A file that does not exist is invalid input: exit 2, one clear line."""
    result = run_sections("validate", str(tmp_path / "nope.csv"))
    assert result.returncode == ExitCode.INVALID_INPUT
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nope.csv" in result.stderr


@pytest.mark.parametrize(
    "extra",
    [
        ["--state-dir", "{blocker}/state"],
        ["--log-file", "{blocker}/run.log"],
        ["--api-url", "http://[::1"],
        ["--api-url", "http://localhost:99999"],
    ],
)
def test_unusable_folder_or_address_is_one_line_exit_3(tmp_path: Path, extra: list[str]) -> None:
    """A state folder or log file that cannot be created, or a malformed --api-url, is a
    configuration problem: exit 3 and one line, never a traceback (nothing is sent)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is expected", encoding="utf-8")
    data = tmp_path / "in.csv"
    data.write_bytes((ROOT / "data" / "sample_sections.csv").read_bytes())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "importer",
            "import",
            str(data),
            "--quiet",
            *(arg.format(blocker=blocker) for arg in extra),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "NEXUDUS_TOKEN": "test-token", "NEXUDUS_API_URL": "http://127.0.0.1:9"},
    )
    assert result.returncode == ExitCode.CONFIG, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sections: "), result.stderr
    assert "test-token" not in result.stderr + result.stdout


def test_python_m_and_console_script_are_the_same_entry_point() -> None:
    """`python -m importer` and the `sections` script both run `importer.cli:main`."""
    import importer.__main__ as entry

    assert entry.main is main
    assert isinstance(cli, click.Group)


def test_readme_exit_code_table_matches_codes() -> None:
    """The README's exit-code table is the one in importer.codes (one source of truth)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- exit-codes:start -->")[1].split("<!-- exit-codes:end -->")[0]
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", block, flags=re.MULTILINE))
    assert {int(code): text for code, text in rows.items()} == {
        int(code): meaning for code, meaning in EXIT_CODE_MEANINGS.items()
    }
