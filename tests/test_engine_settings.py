"""Settings written once: every command has the same options, sections.toml reaches them all,
bad numbers are refused, the public API is declared, and the sandbox is an optional extra."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from import_support import rows, sandbox, write_csv

import importer
from importer.cli import main
from importer.cli.batch_cmd import batch
from importer.cli.import_cmd import import_, plan
from importer.codes import ExitCode
from importer.engine.settings import JobSettings, all_options

ROOT = Path(__file__).resolve().parents[1]
CREATOR_ENV = {"NEXUDUS_USERNAME": "creator@example.com", "NEXUDUS_PASSWORD": "creator"}
FAST = ["--writes-per-minute", "60000", "--requests-per-minute", "120000", "--min-interval", "0"]

#: The public API: changing it is a decision, so this list changes with it.
PUBLIC_API = [
    "__version__",
    "read_sheet",
    "Sheet",
    "validate_file",
    "validate_sheet",
    "ValidationResult",
    "JobSettings",
    "TargetSettings",
    "PacingSettings",
    "SendPolicy",
    "RetrySettings",
    "Credentials",
    "run_job",
    "JobResult",
    "ProgressEvent",
    "WriteBudget",
    "ExitCode",
    "RowStatus",
    "export_frame",
    "read_target",
    "undo_run",
    "UndoResult",
    "ImporterError",
    "InputError",
    "ConfigError",
    "LockedError",
    "ApiError",
    "AuthError",
    "running_sandbox",
]


def sections(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else {**os.environ, **CREATOR_ENV},
        cwd=cwd,
        timeout=120,
    )


def summaries(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in folder.rglob("summary.json")]


# --------------------------------------------------------------------------- one option list


def _option_help(command: click.Command) -> dict[str, tuple[str, str]]:
    """flag -> (type/range as --help shows it, help text) for every option."""
    ctx = click.Context(command)
    shown: dict[str, tuple[str, str]] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            record = param.get_help_record(ctx)
            assert record is not None
            shown[param.opts[0]] = record
    return shown


def test_shared_settings_have_the_same_flags_ranges_and_help_on_every_command() -> None:
    from importer.cli.doctor_cmd import doctor
    from importer.cli.export_cmd import export
    from importer.cli.undo_cmd import undo

    plan_help, import_help, batch_help = (_option_help(c) for c in (plan, import_, batch))
    others = [_option_help(doctor), _option_help(export), _option_help(undo)]
    for named in all_options():
        flag = "--" + named.name.replace("_", "-")
        holders = [h for h in (plan_help, import_help, batch_help, *others) if flag in h]
        assert len(holders) == len(named.spec.commands), flag
        assert all(h[flag] == holders[0][flag] for h in holders), flag
    # Every setting that exists for more than one command exists for all three.
    shared = {o.name for o in all_options() if len(o.spec.commands) > 1 and o.spec.in_file}
    assert {"concurrency", "breaker", "reconcile_grace", "max_retry_after"} <= shared
    assert "--concurrency" in batch_help and "1<=x<=16" in batch_help["--concurrency"][0]


def run_main(
    args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str]]:
    """The console entry point in this process (exit code, stderr lines): refusals happen
    before anything starts, so a child process would only add start-up time."""
    monkeypatch.chdir(cwd)
    with pytest.raises(SystemExit) as stopped:
        main(args)
    code = stopped.value.code
    return int(code if isinstance(code, int) else 1), capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--writes-per-minute", "nan"),
        ("--writes-per-minute", "inf"),
        ("--writes-per-minute", "0"),
        ("--requests-per-minute", "-5"),
        ("--read-timeout", "0"),
        ("--concurrency", "0"),
        ("--concurrency", "17"),
        ("--max-attempts", "0"),
    ],
)
def test_bad_numbers_are_refused_in_one_line_with_exit_3(
    tmp_path: Path,
    flag: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_csv(tmp_path / "in.csv", rows(1))
    for args in (["plan", str(path)], ["import", str(path)], ["batch", "--inbox", str(tmp_path)]):
        code, lines = run_main([*args, flag, value], tmp_path, monkeypatch, capsys)
        assert code == ExitCode.CONFIG, lines
        assert len(lines) == 1 and flag in lines[0], lines


@pytest.mark.parametrize(
    "line", ["writes_per_minute = nan", "read_timeout = inf", "breaker = -1", "concurrency = 0"]
)
def test_bad_numbers_in_sections_toml_are_refused_naming_the_key(
    tmp_path: Path, line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sections.toml").write_text(line + "\n", encoding="utf-8")
    path = write_csv(tmp_path / "in.csv", rows(1))
    code, lines = run_main(["plan", str(path)], tmp_path, monkeypatch, capsys)
    assert code == ExitCode.CONFIG
    assert len(lines) == 1 and line.split(" = ")[0] in lines[0], lines


def test_unknown_key_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sections.toml").write_text("read_timout = 3\n", encoding="utf-8")
    code, lines = run_main(["plan", "x.csv"], tmp_path, monkeypatch, capsys)
    assert code == ExitCode.CONFIG and "'read_timout'" in lines[0]


def test_every_engine_default_is_written_in_settings_only() -> None:
    """The defaults of Pacer, RetryPolicy and the client's timeouts are the settings'."""
    from importer.client import DEFAULT_TIMEOUT
    from importer.pacing import Pacer
    from importer.retry import RetryPolicy

    settings = JobSettings.build(input="x.csv")
    policy = RetryPolicy()
    assert policy == RetryPolicy.from_settings(settings.retry)
    assert settings.target.timeout() == DEFAULT_TIMEOUT
    defaults = Pacer.__init__.__kwdefaults__
    assert defaults["writes_per_minute"] == settings.pacing.writes_per_minute
    assert defaults["requests_per_minute"] == settings.pacing.requests_per_minute
    assert defaults["min_interval"] == settings.pacing.min_interval
    # No other engine module assigns one of those numbers as a default (`name = 300.0`,
    # `name: float = 300.0`, `name=300.0`); unit conversions like `* 60.0` are not defaults.
    numbers = {str(o.default) for o in all_options() if type(o.default) in (int, float)}
    for module in ("engine/send.py", "engine/job.py", "engine/plan.py", "retry.py", "pacing.py"):
        text = (ROOT / "importer" / module).read_text(encoding="utf-8")
        # Named module constants of their own meaning (e.g. pacing's RECOVERY_INTERVAL) are
        # not copies of an option's default; parameters and fields are what this guards.
        text = re.sub(r"(?m)^[A-Z][A-Z0-9_]* = .*$", "", text)
        for number in numbers - {"0", "0.0", "False"}:
            found = re.search(rf"(?<![=<>!+*/-])=\s*{re.escape(number)}(?![\w.])", text)
            assert found is None, (module, number, found and found.group())


# --------------------------------------------------------------------------- sections.toml


@pytest.mark.parametrize("command", ["plan", "import", "batch"])
def test_sections_toml_keys_reach_every_command(tmp_path: Path, command: str) -> None:
    """read_timeout and max_attempts from sections.toml are the run's settings everywhere."""
    (tmp_path / "sections.toml").write_text(
        "read_timeout = 0.5\nmax_attempts = 1\nmin_interval = 0\n", encoding="utf-8"
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = write_csv(inbox / "in.csv", rows(2))
    os.utime(path, (0, 0))  # settled long ago, for batch
    if command == "batch":
        args = ["batch", "--inbox", str(inbox), "--sandbox", "--settle-seconds", "0"]
    else:
        args = [command, str(path), "--sandbox"]
    done = sections(*args, cwd=tmp_path)
    assert done.returncode == ExitCode.OK, done.stderr
    found = summaries(inbox)
    assert found, "no report written"
    for summary in found:
        settings = summary["settings"]
        assert isinstance(settings, dict)
        assert settings["read_timeout"] == 0.5 and settings["max_attempts"] == 1


@pytest.mark.parametrize("command", ["plan", "import"])
def test_read_timeout_from_sections_toml_changes_what_the_run_does(
    tmp_path: Path, command: str
) -> None:
    """A server slower than read_timeout (from the file) cannot be read: exit 4, nothing sent."""
    (tmp_path / "sections.toml").write_text(
        "read_timeout = 0.3\nrequest_tries = 1\n", encoding="utf-8"
    )
    path = write_csv(tmp_path / "in.csv", rows(1))
    with sandbox(latency_ms=1200) as server:
        done = sections(command, str(path), "--api-url", server.url, *FAST, cwd=tmp_path)
    assert done.returncode == ExitCode.RESUMABLE, done.stdout + done.stderr
    assert "could not read the server" in done.stdout + done.stderr


# --------------------------------------------------------------------------- public API


def test_public_api_is_declared_and_importable() -> None:
    assert importer.__all__ == PUBLIC_API
    assert set(importer.__all__) == {"__version__", *importer._PUBLIC}
    for name in importer.__all__:
        assert getattr(importer, name) is not None


def test_public_api_prints_from_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import importer; print(importer.__all__)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "'run_job'" in done.stdout


def test_notebook_imports_only_from_the_public_api() -> None:
    notebook = json.loads((ROOT / "notebooks" / "review_and_import.ipynb").read_text("utf-8"))
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    imports = re.findall(r"^\s*(?:from|import)\s+(importer[\w.]*)", code, re.M)
    assert imports and set(imports) == {"importer"}, imports


# --------------------------------------------------------------------------- sandbox extra


def test_sandbox_without_its_extra_says_which_to_install(tmp_path: Path) -> None:
    """Starlette missing (shadowed by a module that fails to import): one line, exit 3."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "starlette.py").write_text("raise ImportError('no starlette here')\n", "utf-8")
    path = write_csv(tmp_path / "in.csv", rows(1))
    env = {**os.environ, **CREATOR_ENV, "PYTHONPATH": str(fake)}
    for args in (["import", str(path), "--sandbox"], ["sandbox"]):
        done = sections(*args, cwd=tmp_path, env=env)
        assert done.returncode == ExitCode.CONFIG, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "'sandbox' extra" in lines[0], done.stderr


def test_sending_knows_nothing_of_planning() -> None:
    """send.py schedules actions; what a match is lives in match.py, not in plan.py."""
    text = (ROOT / "importer" / "engine" / "send.py").read_text(encoding="utf-8")
    assert "importer.engine.plan" not in text and "from importer.plan" not in text
