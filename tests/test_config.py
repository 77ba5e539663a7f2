"""sections.toml: checked keys and types, no secrets, and command-line flags win over it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from importer.cli.batch_cmd import batch
from importer.cli.import_cmd import import_, plan
from importer.codes import ExitCode
from importer.config import config_default_map, load_config
from importer.errors import ConfigError


def _write(folder: Path, text: str) -> Path:
    path = folder / "sections.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_absent_file_is_empty(tmp_path: Path) -> None:
    """No ./sections.toml: no defaults; an explicit --config that is missing is an error."""
    assert load_config(cwd=tmp_path) == {}
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_values_are_checked_and_paths_resolved(tmp_path: Path) -> None:
    """Types follow JobSettings; relative paths are taken from the config file's folder."""
    _write(
        tmp_path,
        'api_url = "https://example.test"\nwrites_per_minute = 30\nmax_writes = 100\n'
        'report_dir = "out/reports"\n[batch]\ninbox = "inbox"\nsettle_seconds = 2\n',
    )
    config = load_config(cwd=tmp_path)
    assert config["api_url"] == "https://example.test"
    assert config["writes_per_minute"] == 30.0 and isinstance(config["writes_per_minute"], float)
    assert config["report_dir"] == tmp_path.resolve() / "out" / "reports"
    assert config["batch"] == {"inbox": tmp_path.resolve() / "inbox", "settle_seconds": 2.0}


@pytest.mark.parametrize(
    "key", ["password", "NEXUDUS_TOKEN", "client_secret", "Api_Key", "credentials"]
)
def test_secret_keys_are_refused_naming_the_key(tmp_path: Path, key: str) -> None:
    """Anything that looks like a secret is refused, wherever it is, with the env-var hint."""
    _write(tmp_path, f'[batch]\n{key} = "hunter2"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path)
    message = str(caught.value)
    assert f"must not contain '{key}'" in message
    assert "NEXUDUS_TOKEN or NEXUDUS_USERNAME/NEXUDUS_PASSWORD" in message
    assert "hunter2" not in message


def test_unknown_key_lists_the_valid_ones(tmp_path: Path) -> None:
    """A typo names the key and every valid key, taken from JobSettings."""
    _write(tmp_path, "max_write = 5\n")
    with pytest.raises(ConfigError, match="unknown key 'max_write'") as caught:
        load_config(cwd=tmp_path)
    assert "max_writes" in str(caught.value) and "writes_per_minute" in str(caught.value)
    _write(tmp_path, "[batch]\ninbx = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown key 'inbx' in \[batch\].*inbox"):
        load_config(cwd=tmp_path)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('max_writes = "ten"', "max_writes must be a whole number"),
        ("max_writes = 1.5", "max_writes must be a whole number"),
        ("skip_invalid = 1", "skip_invalid must be true or false"),
        ("writes_per_minute = true", "writes_per_minute must be a number"),
        ("state_dir = 3", "state_dir must be a path"),
        ("input = 'x.csv'", "unknown key 'input'"),  # per file, never a default
    ],
)
def test_wrong_types_are_refused(tmp_path: Path, line: str, fragment: str) -> None:
    """Each wrong type is one ConfigError naming the key and what it must be."""
    _write(tmp_path, line + "\n")
    with pytest.raises(ConfigError, match=fragment):
        load_config(cwd=tmp_path)


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    _write(tmp_path, "max_writes = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(cwd=tmp_path)


def test_flags_override_the_file(tmp_path: Path) -> None:
    """Click resolves file values as defaults; a flag given on the line wins."""
    _write(tmp_path, "max_writes = 7\nwrites_per_minute = 12\n[batch]\nsettle_seconds = 3\n")
    default_map = config_default_map(load_config(cwd=tmp_path))
    for command in (import_, plan, batch):
        args = ["--inbox", str(tmp_path)] if command is batch else ["x.csv"]
        ctx = command.make_context(
            command.name, [*args, "--max-writes", "2"], default_map=default_map[command.name]
        )
        assert ctx.params["max_writes"] == 2  # the flag
        assert ctx.params["writes_per_minute"] == 12.0  # the file
    ctx = batch.make_context("batch", ["--inbox", "x"], default_map=default_map["batch"])
    assert ctx.params["settle_seconds"] == 3.0
    assert "settle_seconds" not in default_map["import"]


def test_cli_reads_sections_toml_from_cwd(tmp_path: Path) -> None:
    """`sections batch` in a folder with sections.toml: [batch] inbox and a secret check."""
    (tmp_path / "inbox").mkdir()
    _write(tmp_path, '[batch]\ninbox = "inbox"\n')
    env = dict(os.environ)  # conftest already removed NEXUDUS_*
    ok = subprocess.run(
        [sys.executable, "-m", "importer", "batch", "--sandbox"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "inbox empty" in ok.stdout
    assert (tmp_path / "inbox" / "reports").is_dir()

    _write(tmp_path, 'password = "x"\n')
    bad = subprocess.run(
        [sys.executable, "-m", "importer", "batch", "--inbox", "inbox"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == ExitCode.CONFIG
    assert "must not contain 'password'" in bad.stderr and "Traceback" not in bad.stderr


def test_every_file_key_is_a_flag_of_every_job_command() -> None:
    """A sections.toml key is honoured by plan, import and batch alike: each has the flag."""
    from importer.cli.import_cmd import import_, plan
    from importer.engine.settings import file_options

    keys = set(file_options())
    for command in (plan, import_, batch):
        flags = {param.name for param in command.params}
        assert keys <= flags, (command.name, keys - flags)


def test_password_inside_an_address_is_refused(tmp_path: Path) -> None:
    """user:password@ in a URL value is a secret too; the message does not repeat it."""
    _write(tmp_path, '[batch]\nnotify_url = "https://bot:s3cret@hooks.example.com/x"\n')
    with pytest.raises(ConfigError, match="notify_url must not contain a password") as caught:
        load_config(cwd=tmp_path)
    assert "s3cret" not in str(caught.value)


def test_batch_table_keys_without_a_flag_reach_the_batch_settings(tmp_path: Path) -> None:
    """[batch] notify_timeout / recheck_seconds are accepted, so they must not be ignored."""
    from importer.cli import batch_cmd

    _write(tmp_path, "[batch]\nnotify_timeout = 0.5\nrecheck_seconds = 0\nsettle_seconds = 3\n")
    default_map = config_default_map(load_config(cwd=tmp_path))["batch"]
    with click.Context(batch, default_map=default_map):
        extra = batch_cmd._config_only_options()
    assert extra == {"notify_timeout": 0.5, "recheck_seconds": 0.0}  # settle_seconds: a flag
