"""Profile files: a measured account's behaviour as JSON, replayed by a sandbox.

Format (written by `sections doctor`, read by `sections sandbox --profile-file FILE`):

    {
      "sandbox": {"throttle_status": 429, "put_semantics": "strict", "max_page_size": 1000},
      "observed": {"anything": "free-form notes the sandbox ignores"}
    }

- "sandbox" (required) maps SandboxConfig option names (the `sections sandbox` options with
  underscores: `throttle_status`, `value_shape`, ...) to JSON values. Only options that
  describe the API's behaviour are allowed (`PROFILE_FIELDS`: not host, port, db_path,
  control, log_requests or seed); an unknown or disallowed name is refused with one line
  naming the key.
- "observed" (optional) is anything the writer wants to keep (status codes seen, the base
  URL, dates); the sandbox ignores it. Other top-level keys are refused.
- Never credentials or tokens: the file holds answers, not secrets.

Precedence when starting a sandbox: the `--profile` preset, then the file's "sandbox" values,
then options given explicitly on the command line.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from importer.sandbox.config import PROFILE_FIELDS, SandboxConfig, check_config, check_values

TOP_LEVEL_KEYS = ("sandbox", "observed")


def profile_dict(config: SandboxConfig, observed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The profile-file object for `config` (every behaviour option), ready for json.dump."""
    data = config.as_dict()
    profile: dict[str, Any] = {"sandbox": {name: data[name] for name in sorted(PROFILE_FIELDS)}}
    if observed is not None:
        profile["observed"] = observed
    return profile


def profile_values(profile: Any) -> dict[str, Any]:
    """The checked "sandbox" mapping of a parsed profile; ValueError names the bad key."""
    if not isinstance(profile, dict):
        raise ValueError('a profile must be a JSON object with a "sandbox" object')
    for key in profile:
        if key not in TOP_LEVEL_KEYS:
            raise ValueError(f'{key}: unknown top-level key (use "sandbox" and "observed")')
    values = profile.get("sandbox")
    if not isinstance(values, dict):
        raise ValueError("sandbox: missing or not a JSON object of option names and values")
    check_values(values, allowed=PROFILE_FIELDS, what=" in a profile file")
    return values


def apply_profile(config: SandboxConfig, profile: Any) -> SandboxConfig:
    """A copy of `config` with the profile's values; ValueError for a bad profile."""
    updated = replace(config, **profile_values(profile))
    check_config(updated)
    return updated


def read_profile_file(path: Path | str) -> dict[str, Any]:
    """The checked "sandbox" values of a profile file; ValueError (one line) otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read profile file {path}: {error}") from None
    try:
        profile = json.loads(text)
    except ValueError as error:
        raise ValueError(f"profile file {path} is not valid JSON: {error}") from None
    try:
        return profile_values(profile)
    except ValueError as error:
        raise ValueError(f"profile file {path}: {error}") from None


def write_profile_file(
    path: Path | str, config: SandboxConfig, observed: dict[str, Any] | None = None
) -> None:
    """Write `config` as a profile file (what `read_profile_file` reads back)."""
    text = json.dumps(profile_dict(config, observed), indent=2, sort_keys=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
