"""Wall time and peak memory of `sections validate` on a generated valid CSV.

    .venv/bin/python benchmarks/bench_validate.py [rows]      # default 1,000,000

Generates a valid sheet (every column filled, a distinct title, introduction and thumbnail URL
on every row: the worst case for the per-distinct-value work), runs `python -m importer validate
FILE --format json` as a subprocess, and reports wall time and the child's peak RSS
(getrusage(RUSAGE_CHILDREN).ru_maxrss). Also times the stages in-process. Writes
benchmarks/results/validate.json. Target on a 2-core machine: <= 10 s and <= 2 GB.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "validate.json"
TARGET_SECONDS = 10.0
TARGET_MB = 2048
HEADER = [
    "Course ID",
    "Section title",
    "Display order",
    "Unlock type",
    "Unlock after days",
    "Introduction (HTML)",
    "Active",
    "Thumbnail URL",
    "Remove thumbnail",
]


def write_csv(path: Path, rows: int) -> None:
    """Vectorised generation: 100 sections per course, unlock types cycling, unique text."""
    i = np.arange(rows)
    ids = pd.Series(i).astype(str)
    order = i % 100 + 1
    kind = np.where(order == 1, "Immediate", np.where(order % 3 == 0, "Timed", "Sequential"))
    frame = pd.DataFrame(
        {
            "Course ID": i // 100 + 1000,
            "Section title": "Section " + ids + ", part " + pd.Series(order).astype(str),
            "Display order": order,
            "Unlock type": kind,
            "Unlock after days": np.where(kind == "Timed", (order % 60 + 1).astype(str), ""),
            "Introduction (HTML)": "<p>Intro " + ids + "</p>",
            "Active": np.where(order % 5 == 0, "No", "Yes"),
            "Thumbnail URL": "https://img.example.com/s/" + ids + ".png",
            "Remove thumbnail": "No",
        },
        columns=HEADER,
    )
    frame.to_csv(path, index=False)


def run_cli(path: Path) -> tuple[float, float, int, dict[str, object]]:
    """Run the CLI once; return wall seconds, child peak MB, exit code and the JSON summary."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if done.returncode not in (0, 2):
        raise SystemExit(f"validate failed ({done.returncode}): {done.stderr.strip()}")
    return wall, peak_mb, done.returncode, json.loads(done.stdout)


def stage_times(path: Path) -> dict[str, float]:
    """In-process timing of read, normalise and the schema (for finding the bottleneck)."""
    from importer.normalise import normalise_frame
    from importer.read import read_sheet
    from importer.schema import schema_failures

    times: dict[str, float] = {}
    start = time.perf_counter()
    sheet = read_sheet(path)
    times["read_sheet"] = time.perf_counter() - start
    start = time.perf_counter()
    typed, _ = normalise_frame(sheet.raw.reset_index(drop=True), sheet.columns)
    times["normalise"] = time.perf_counter() - start
    start = time.perf_counter()
    schema_failures(typed)
    times["schema"] = time.perf_counter() - start
    return times


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sections.csv"
        start = time.perf_counter()
        write_csv(path, rows)
        generate = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
        wall, peak_mb, code, summary = run_cli(path)
        stages = stage_times(path)
    result = {
        "rows": rows,
        "file_mb": round(size_mb, 1),
        "generate_s": round(generate, 2),
        "validate_wall_s": round(wall, 2),
        "validate_peak_rss_mb": round(peak_mb),
        "exit_code": code,
        "errors": summary["errors"],
        "warnings": summary["warnings"],
        "stages_in_process_s": {name: round(value, 2) for name, value in stages.items()},
        "target": {"seconds": TARGET_SECONDS, "peak_mb": TARGET_MB},
        "meets_target": wall <= TARGET_SECONDS and peak_mb <= TARGET_MB,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "load_average_1m_after": round(os.getloadavg()[0], 2),  # other work skews the figures
    }
    width = 24
    print(f"{'measure':<{width}} value")
    print(f"{'rows':<{width}} {rows:,}  ({size_mb:.0f} MB CSV, generated in {generate:.1f} s)")
    print(f"{'validate wall time':<{width}} {wall:.2f} s  (target <= {TARGET_SECONDS:.0f} s)")
    print(f"{'validate peak RSS':<{width}} {peak_mb:.0f} MB  (target <= {TARGET_MB} MB)")
    print(
        f"{'exit code / findings':<{width}} {code} / {summary['errors']} errors, "
        f"{summary['warnings']} warnings"
    )
    print(f"{'load average (1 min)':<{width}} {os.getloadavg()[0]:.2f} (other work skews figures)")
    for name, value in stages.items():
        print(f"{'  ' + name:<{width}} {value:.2f} s (in process)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
