"""The README's examples are the ones that work: the Python walk-through runs as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _block(name: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]
    return section.split("```python\n")[1].split("```")[0]


def test_python_example_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    """The library walk-through validates the sample and plans it against a sandbox."""
    code = _block("python-example").replace("/tmp/reports", str(tmp_path / "reports"))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "0 0"
    assert lines[-1] == "0 {'create': 13}"
    assert any((tmp_path / "reports").iterdir())


def test_config_example_is_accepted(tmp_path: Path) -> None:
    """The README's sections.toml example is a valid configuration."""
    from importer.config import load_config

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (tmp_path / "sections.toml").write_text(
        readme.split("```toml\n")[1].split("```")[0], encoding="utf-8"
    )
    config = load_config(cwd=tmp_path)
    assert config["max_writes"] == 2500 and config["report_dir"] == tmp_path / "reports"
