"""Time and peak memory of read_sheet on a generated CSV (default 1,000,000 rows, 9 columns).

.venv/bin/python benchmarks/bench_read.py [rows]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from importer.read import read_sheet

HEADER = (
    "Course ID,Section title,Display order,Unlock type,Unlock after days,"
    "Introduction (HTML),Active,Thumbnail URL,Remove thumbnail\n"
)


def write_csv(path: Path, rows: int) -> None:
    """A realistic sheet: unique titles, repeated small values, a few quoted cells."""
    kinds = ("Immediate", "Sequential", "Timed")
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for i in range(rows):
            kind = kinds[i % 3]
            days = "14" if kind == "Timed" else ""
            out.write(
                f'{100 + i // 1000},"Section {i}, part {i % 7}",{i % 1000 + 1},{kind},'
                f"{days},<p>Intro {i}</p>,Yes,https://img.example.com/{i}.png,No\n"
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        write_csv(path, rows)
        size = path.stat().st_size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start, cpu = time.perf_counter(), time.process_time()
        sheet = read_sheet(path)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"rows={len(sheet.raw)} file={size / 2**20:.1f} MB "
        f"read_sheet={elapsed:.2f} s wall, {cpu:.2f} s CPU, "
        f"peak_rss={peak / 1024:.0f} MB (before read {before / 1024:.0f} MB)"
    )


if __name__ == "__main__":
    main()
