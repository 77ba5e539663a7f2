"""README "Scheduled imports": the crontab line, systemd units and papermill command work."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from importer.sandbox import SandboxConfig, SandboxServer

ROOT = Path(__file__).resolve().parents[1]
SHELL_OPERATORS = {">>", ">", "2>&1", "&&", ";", "|", "||"}


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- scheduled:start -->(.*?)<!-- scheduled:end -->", text, re.S)
    assert match, "README.md lacks the scheduled section markers"
    return match.group(1)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), re.S)


def _batch_options() -> set[str]:
    help_text = subprocess.run(
        [sys.executable, "-m", "importer", "batch", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(re.findall(r"(--[a-z][a-z-]+)", help_text))


def _batch_args(command: str) -> list[str]:
    """The arguments after `sections batch`, up to the first shell operator."""
    tokens = shlex.split(command.replace(";", " ; "))
    start = next(
        i for i, t in enumerate(tokens) if t.endswith("sections") and tokens[i + 1] == "batch"
    )
    args: list[str] = []
    for token in tokens[start + 2 :]:
        if token in SHELL_OPERATORS:
            break
        args.append(token)
    return args


def _check_batch_command(command: str) -> None:
    args = _batch_args(command)
    assert args[:1] == ["--inbox"] and len(args) > 1, command
    used = {a for a in args if a.startswith("--")}
    unknown = used - _batch_options()
    assert not unknown, f"options not in 'sections batch --help': {unknown}"
    assert not re.search(r"(?i)password=|token=", command)  # credentials only from env files


_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def test_crontab_line_parses_and_its_options_exist() -> None:
    """Five schedule fields, then a `sections batch --inbox` command with real options."""
    [block] = _blocks("crontab")
    lines = [x for x in block.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6
    for field, (low, high) in zip(
        fields[:5], [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)], strict=True
    ):
        assert _CRON_FIELD.match(field), field
        assert all(low <= int(n) <= high for n in re.findall(r"\d+", field.split("/")[0]))
    assert "%" not in fields[5]  # cron turns % into newlines
    assert "sections batch --inbox" in fields[5]
    _check_batch_command(fields[5])


def _units() -> dict[str, configparser.ConfigParser]:
    units: dict[str, configparser.ConfigParser] = {}
    for block in _blocks("ini"):
        name = re.match(r"# .*/([\w.-]+)\n", block)
        assert name, "each unit block starts with a comment naming its file"
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # systemd keys are case-sensitive
        parser.read_string(block)
        units[name.group(1)] = parser
    return units


def test_systemd_service_and_timer() -> None:
    """The service runs `sections batch` with existing options; the timer has OnCalendar."""
    units = _units()
    assert set(units) == {"sections-batch.service", "sections-batch.timer"}
    service = units["sections-batch.service"]
    assert service["Service"]["Type"] == "oneshot"
    assert "EnvironmentFile" in service["Service"]
    _check_batch_command(service["Service"]["ExecStart"])
    assert service["Service"]["ExecStart"].startswith("/")  # systemd needs an absolute path
    assert service["Service"]["SuccessExitStatus"] == "4"
    timer = units["sections-batch.timer"]
    assert timer["Timer"]["OnCalendar"]
    assert timer["Install"]["WantedBy"] == "timers.target"
    for unit in units.values():  # no inline comments: systemd would read them as values
        for section in unit.values():
            assert all("#" not in value for value in section.values())


def test_timer_calendar_is_valid_for_systemd() -> None:
    """When systemd-analyze is installed, it accepts the OnCalendar expression."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed")
    calendar = _units()["sections-batch.timer"]["Timer"]["OnCalendar"]
    result = subprocess.run([tool, "calendar", calendar], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_papermill_command_runs_and_keeps_the_executed_notebook(tmp_path: Path) -> None:
    """The documented command, with /srv/sections -> a scratch folder and the API -> a
    sandbox, imports the file and leaves the executed notebook in audit/."""
    [command] = _blocks("sh")
    command = command.strip()
    assert "papermill notebooks/review_and_import.ipynb" in command
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "inbox").mkdir()
    shutil.copy(ROOT / "data" / "sample_sections.xlsx", tmp_path / "inbox" / "sections.xlsx")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUDUS_")}
    env.update(NEXUDUS_USERNAME="creator@example.com", NEXUDUS_PASSWORD="creator")
    with SandboxServer(SandboxConfig(control=True)) as server:
        runnable = command.replace("/srv/sections", str(tmp_path)).replace(
            "https://spaces.nexudus.com", server.url
        )
        assert runnable != command
        result = subprocess.run(
            ["bash", "-c", runnable], capture_output=True, text=True, env=env, timeout=240
        )
        assert result.returncode == 0, result.stderr[-3000:]
        [audit] = list((tmp_path / "audit").glob("import-*.ipynb"))
        executed = nbformat.read(audit, as_version=4)
        results = next(c for c in executed.cells if "results" in c.metadata.get("tags", []))
        html = "".join(o.get("data", {}).get("text/html", "") for o in results.outputs)
        assert ">created</td>" in html
        assert list((tmp_path / "audit" / "reports").glob("sections-*/summary.json"))
        assert (tmp_path / "inbox" / ".sections-state").is_dir()  # the ledger beside the file
