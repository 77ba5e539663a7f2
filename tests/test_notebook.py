"""The review notebook runs top to bottom on a fresh kernel against the built-in sandbox."""

from __future__ import annotations

from pathlib import Path

import nbformat
import openpyxl
import pytest

from importer.read import read_sheet
from importer.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "review_and_import.ipynb"
SAMPLE = ROOT / "data" / "sample_sections.xlsx"


def test_committed_notebook_has_no_outputs() -> None:
    """The notebook is committed clean: no outputs, no execution counts."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_first_code_cell_holds_the_parameters() -> None:
    """papermill needs the "parameters" tag on the first code cell with every parameter."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    names = ("input_path", "api_url", "dry_run", "skip_invalid", "update", "report_dir")
    for name in (*names, "state_dir", "sandbox_db"):
        assert f"{name} = " in first.source


def _cell(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if tag in c.metadata.get("tags", []))


def _html(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)


def _run(
    tmp_path: Path, name: str, cwd: Path = NOTEBOOK.parent, **parameters: object
) -> nbformat.NotebookNode:
    import papermill

    output = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(output),
        parameters={
            "sandbox_db": str(tmp_path / "sandbox.sqlite3"),
            "report_dir": str(tmp_path / "reports"),
            "state_dir": str(tmp_path / "state"),
            **parameters,
        },
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=False,
    )
    return nbformat.read(output, as_version=4)


@pytest.mark.slow
def test_dry_run_then_import_then_everything_exists(tmp_path: Path) -> None:
    """Dry run plans every row; the real run creates them; a second real run finds them all."""
    rows = len(read_sheet(SAMPLE).raw)

    dry = _run(tmp_path, "dry", cwd=ROOT, dry_run=True)  # from the repo root: input still found
    timeline = _cell(dry, "timeline")
    assert any("image/png" in o.get("data", {}) for o in timeline.outputs)
    plan = _html(_cell(dry, "plan"))
    assert "create" in plan and f"<td>{rows}</td>" in plan  # total column: every row
    assert _cell(dry, "results").outputs == []
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())

    real = _run(tmp_path, "real", dry_run=False)
    assert "<progress" in _html(_cell(real, "import"))
    results = _html(_cell(real, "results"))
    assert results.count(">created</td>") == rows
    assert "summary.json" in str(_cell(real, "results").outputs)
    assert "sections undo" in str(_cell(real, "results").outputs)

    again = _run(tmp_path, "again", dry_run=False)
    results = _html(_cell(again, "results"))
    assert results.count(">exists</td>") == rows
    assert ">created</td>" not in results

    edited = tmp_path / "edited" / SAMPLE.name  # same file name: the same rows, edited
    edited.parent.mkdir()
    book = openpyxl.load_workbook(SAMPLE)
    sheet = book.worksheets[0]
    title = next(c for c in sheet[1] if str(c.value).lower().startswith("section title")).column
    old = sheet.cell(2, title).value
    sheet.cell(2, title).value = f"{old} (revised)"
    book.save(edited)
    update = _run(tmp_path, "update", input_path=str(edited), dry_run=True, update=True)
    plan = str(_cell(update, "changes").outputs)
    assert "1 update(s)" in plan and "(revised)" in plan and "Title:" in plan


def test_skip_invalid_imports_the_valid_rows_of_a_sheet_with_invalid_ones(tmp_path: Path) -> None:
    """A sheet with invalid rows and skip_invalid=True: the notebook completes, the valid
    rows are created, the invalid ones are reported as invalid (issue 13 acceptance)."""
    sheet = tmp_path / "mixed.csv"
    lines = (ROOT / "data" / "sample_sections.csv").read_text(encoding="utf-8").splitlines()
    broken = lines[1].replace(",1,Immediate,", ",x,Immediate,")  # Display order not a number
    assert broken != lines[1]
    sheet.write_text("\n".join([lines[0], broken, *lines[2:]]) + "\n", encoding="utf-8")
    valid = len(lines) - 2

    done = _run(tmp_path, "mixed", input_path=str(sheet), dry_run=False, skip_invalid=True)
    results = _html(_cell(done, "results"))
    assert results.count(">created</td>") == valid and results.count(">invalid</td>") == 1
    assert not any(o.get("output_type") == "error" for o in _cell(done, "outcome").outputs)


@pytest.mark.slow
def test_failed_import_fails_the_papermill_run_after_keeping_the_results(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduled audit must not exit 0 when the import did not finish: the last cell
    raises, and the saved notebook still holds the results and the reason."""
    import papermill

    monkeypatch.setenv("NEXUDUS_USERNAME", "creator@example.com")
    monkeypatch.setenv("NEXUDUS_PASSWORD", "not-the-password")  # the kernel inherits it
    with pytest.raises(papermill.PapermillExecutionError, match="exit code 3"):
        _run(tmp_path, "refused", api_url=sandbox.url, dry_run=False)
    saved = nbformat.read(tmp_path / "refused.ipynb", as_version=4)
    assert "Exit code 3" in str(_cell(saved, "import").outputs)
    assert _cell(saved, "results").outputs  # the results table was kept for the audit
    assert any(o.get("output_type") == "error" for o in _cell(saved, "outcome").outputs)
