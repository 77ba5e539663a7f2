"""`sections.toml`: defaults for command options, so a scheduled job needs no long command line.

Top-level keys are the options of importer.engine.settings (never retyped here), checked
against their types and ranges;
an optional `[batch]` table holds the inbox options of `sections batch`. Values are checked
against the dataclass annotations. Credentials never come from this file: any key that looks
like a secret is refused, so a password cannot end up in a file that gets copied around.
Relative paths are resolved against the folder holding the config file, so a cron job
(whose cwd is usually $HOME) reads the same folders as a person in that folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from importer.credentials import SECRET_NAME
from importer.engine.settings import JOB_COMMANDS, file_options, option_names, range_problem
from importer.errors import ConfigError

CONFIG_FILENAME = "sections.toml"
BATCH_TABLE = "batch"


def _job_fields() -> dict[str, Any]:
    """The top-level keys: every option importer.engine.settings marks as settable in a file."""
    return {name: named.type for name, named in file_options().items()}


def _range_problem(key: str, value: Any) -> str | None:
    named = file_options().get(key)
    return range_problem(named, value) if named is not None else None


def _batch_fields() -> dict[str, Any]:
    """Batch-only options: BatchSettings fields that are not job options."""
    from importer.batch import BatchSettings

    hints = typing.get_type_hints(BatchSettings)
    skip = {"job", "sandbox", "sandbox_db"}  # job options are top-level keys; sandbox: a flag
    return {f.name: hints[f.name] for f in dataclasses.fields(BatchSettings) if f.name not in skip}


def _refuse_secrets(table: dict[str, Any], filename: str) -> None:
    for key, value in table.items():
        if SECRET_NAME.search(key):  # the one list of secret-looking names
            raise ConfigError(
                f"{filename} must not contain {key!r}: credentials come only from environment "
                "variables NEXUDUS_TOKEN or NEXUDUS_USERNAME/NEXUDUS_PASSWORD"
            )
        if isinstance(value, dict):
            _refuse_secrets(value, filename)
        elif isinstance(value, str) and "://" in value and urlsplit(value.strip()).password:
            raise ConfigError(
                f"{filename}: {key} must not contain a password in the address: credentials "
                "come only from environment variables NEXUDUS_TOKEN or "
                "NEXUDUS_USERNAME/NEXUDUS_PASSWORD"
            )


def _type_name(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and _is_union(hint):
        return " or ".join(_type_name(a) for a in args)
    if hint is Path:
        return "a path (text)"
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(
        hint, str(hint)
    )


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _coerce(value: Any, hint: Any, base: Path) -> tuple[bool, Any]:
    """(ok, converted value) for one TOML value against one annotation."""
    if _is_union(hint):
        for option in typing.get_args(hint):
            if option is type(None):
                continue
            ok, converted = _coerce(value, option, base)
            if ok:
                return True, converted
        return False, None
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    if hint is Path:
        if not isinstance(value, str) or not value.strip():
            return False, None
        path = Path(value).expanduser()
        return True, path if path.is_absolute() else base / path
    return False, None


def _check_table(
    table: dict[str, Any],
    valid: dict[str, Any],
    where: str,
    filename: str,
    base: Path,
    check_range: Callable[[str, Any], str | None] | None = None,
) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in table.items():
        if key not in valid:
            names = ", ".join(sorted(valid))
            raise ConfigError(f"{filename}: unknown key {key!r}{where}; valid keys: {names}")
        ok, converted = _coerce(value, valid[key], base)
        if not ok:
            raise ConfigError(
                f"{filename}: {key}{where} must be {_type_name(valid[key])}, got {value!r}"
            )
        problem = check_range(key, converted) if check_range is not None else None
        if problem:
            raise ConfigError(f"{filename}: {key}{where} {problem}, got {value!r}")
        checked[key] = converted
    return checked


def load_config(
    path: Path | str | None = None, *, cwd: Path | str | None = None
) -> dict[str, object]:
    """Read `path` (an explicit --config) or `<cwd>/sections.toml` (absent file: {}).

    Returns the checked values, job options at the top level and `{"batch": {...}}` when the
    file has a `[batch]` table. Raises ConfigError (one line, naming the key) otherwise.
    """
    if path is None:
        candidate = Path(cwd or Path.cwd()) / CONFIG_FILENAME
        if not candidate.is_file():
            return {}
    else:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise ConfigError(f"config file not found: {candidate}")
    filename = candidate.name
    try:
        with candidate.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{filename} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{filename} is not a text file (TOML must be UTF-8)") from None
    except OSError as error:
        raise ConfigError(f"{filename} cannot be read: {error.strerror}") from None
    _refuse_secrets(data, filename)
    base = candidate.resolve().parent
    batch_table = data.pop(BATCH_TABLE, None)
    job_valid = _job_fields()
    config: dict[str, object] = _check_table(data, job_valid, "", filename, base, _range_problem)
    if batch_table is not None:
        if not isinstance(batch_table, dict):
            raise ConfigError(f"{filename}: [{BATCH_TABLE}] must be a table")
        config[BATCH_TABLE] = _check_table(
            batch_table, _batch_fields(), f" in [{BATCH_TABLE}]", filename, base
        )
    return config


def config_default_map(config: dict[str, object]) -> dict[str, dict[str, object]]:
    """Click `default_map` for the CLI group: flags on the command line still win.

    Keys are click parameter names, which are the settings' names; every file key is an
    option of every job command (importer.engine.settings), so each one reaches `plan`,
    `import` and `batch` alike. The `[batch]` table only reaches `batch`.
    """
    job_options = {k: v for k, v in config.items() if k != BATCH_TABLE}
    batch_options = config.get(BATCH_TABLE)
    default_map: dict[str, dict[str, object]] = {name: dict(job_options) for name in JOB_COMMANDS}
    if isinstance(batch_options, dict):
        default_map["batch"].update(batch_options)
    doctor = option_names("doctor")  # the API keys only: doctor sends no rows
    default_map["doctor"] = {k: v for k, v in job_options.items() if k in doctor}
    return default_map
