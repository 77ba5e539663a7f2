"""Reading and validation side by side, whole processes, ratios within one run.

    .venv/bin/python benchmarks/bench_reading.py [csv_rows] [xlsx_rows] [frictionless_rows]
    # defaults 1,000,000  100,000  100,000 (issue 10's sizes)

Each figure is the best of three fresh processes (interpreter start-up and imports
included), timed from outside, with its own peak RSS. Measured:
- `sections validate` of a valid CSV vs a bare `pandas.read_csv(dtype=str)` of the same file
  (target <= 1.5x);
- `sections validate` of a valid XLSX vs `pandas.read_excel(engine="calamine", dtype=str)`
  (target <= 2x);
- `sections validate` vs Frictionless validating the same CSV with the same rules (target:
  >= 5x faster; needs the `bench` extra, skipped otherwise);
- `sections --help` vs a bare `python -c pass` (start-up);
- an invalid-heavy CSV (three findings on every row) vs the valid one (target <= 3x, <= 2 GB).
Prints a table and writes benchmarks/results/reading.json. The machine may be shared: run it
alone, and read the ratios rather than the seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "reading.json"
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
_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "wall = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "print(wall, peak, done.returncode)\n"
)


def frame(rows: int, *, invalid: bool = False) -> pd.DataFrame:
    """A valid sheet (100 sections per course, unique text); `invalid`: three findings per row
    (a course id with a letter, an unknown unlock type, a yes/no that is neither)."""
    i = np.arange(rows)
    ids = pd.Series(i).astype(str)
    order = i % 100 + 1
    kind = np.where(order == 1, "Immediate", np.where(order % 3 == 0, "Timed", "Sequential"))
    data = {
        "Course ID": (i // 100 + 1000).astype(str),
        "Section title": "Section " + ids,
        "Display order": order,
        "Unlock type": kind,
        "Unlock after days": np.where(kind == "Timed", (order % 60 + 1).astype(str), ""),
        "Introduction (HTML)": "<p>Intro " + ids + "</p>",
        "Active": np.where(order % 5 == 0, "No", "Yes"),
        "Thumbnail URL": "https://img.example.com/s/" + ids + ".png",
        "Remove thumbnail": "No",
    }
    if invalid:
        data["Course ID"] = "1O" + ids
        data["Unlock type"] = np.full(rows, "Weekly")
        data["Active"] = np.full(rows, "maybe")
    return pd.DataFrame(data, columns=HEADER)


def measure(*command: str, runs: int = 3) -> dict[str, float]:
    """Wall seconds (the best of `runs` fresh processes: the machine is shared, and the best
    run is the one least disturbed), the highest peak MB and the exit code of `command`."""
    walls: list[float] = []
    peaks: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True
        )
        wall, peak, code = out.stdout.split()
        walls.append(float(wall))
        peaks.append(float(peak))
    return {"seconds": round(min(walls), 2), "peak_mb": round(max(peaks)), "exit": int(code)}


def validate(path: Path) -> dict[str, float]:
    return measure(sys.executable, "-m", "importer", "validate", str(path), "--format", "json")


def frictionless_available() -> bool:
    done = subprocess.run([sys.executable, "-c", "import frictionless"], capture_output=True)
    return done.returncode == 0


_FRICTIONLESS = (
    "import sys\n"
    "from pathlib import Path\n"
    "from frictionless import Resource, Schema, fields, validate\n"
    "schema = Schema(fields=[\n"
    "  fields.IntegerField(name='Course ID', constraints={'required': True, 'minimum': 1}),\n"
    "  fields.StringField(name='Section title', constraints={'required': True}),\n"
    "  fields.IntegerField(name='Display order', constraints={'required': True, 'minimum': 0}),\n"
    "  fields.StringField(name='Unlock type', constraints={'required': True,\n"
    "    'enum': ['Immediate', 'Sequential', 'Timed']}),\n"
    "  fields.IntegerField(name='Unlock after days',\n"
    "    constraints={'minimum': 0, 'maximum': 3650}),\n"
    "  fields.StringField(name='Introduction (HTML)'),\n"
    "  fields.StringField(name='Active', constraints={'enum': ['Yes', 'No']}),\n"
    "  fields.StringField(name='Thumbnail URL', constraints={'pattern': r'https?://.+'}),\n"
    "  fields.StringField(name='Remove thumbnail', constraints={'enum': ['Yes', 'No']}),\n"
    "])\n"
    "path = Path(sys.argv[1]).resolve()  # Frictionless refuses absolute paths as unsafe\n"
    "resource = Resource(path=path.name, basepath=str(path.parent), schema=schema)\n"
    "report = validate(resource, limit_errors=10**9)\n"
    "rows = report.tasks[0].stats.get('rows') or 0\n"
    "sys.exit(0 if rows > 0 else 9)  # 9: it validated nothing (a broken comparison)\n"
)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:4]] + [1_000_000, 100_000, 100_000][len(sys.argv[1:4]) :]
    csv_rows, xlsx_rows, fl_rows = sizes
    results: dict[str, object] = {"rows": {"csv": csv_rows, "xlsx": xlsx_rows}}
    table: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = folder / "valid.csv"
        frame(csv_rows).to_csv(big, index=False)
        bad = folder / "invalid.csv"
        frame(csv_rows, invalid=True).to_csv(bad, index=False)
        book = folder / "valid.xlsx"
        frame(xlsx_rows).to_excel(book, index=False, sheet_name="Sections")
        small = folder / "small.csv"
        frame(fl_rows).to_csv(small, index=False)

        bare = measure(
            sys.executable, "-c", f"import pandas as pd; pd.read_csv({str(big)!r}, dtype=str)"
        )
        ours = validate(big)
        ratio = ours["seconds"] / bare["seconds"]
        results["csv"] = {"bare_pandas": bare, "validate": ours, "ratio": round(ratio, 2)}
        table.append((f"CSV {csv_rows:,} rows vs pandas.read_csv", f"{ratio:.2f}x", "<= 1.5x"))

        bare_x = measure(
            sys.executable,
            "-c",
            f"import pandas as pd; pd.read_excel({str(book)!r}, engine='calamine', dtype=str)",
        )
        ours_x = validate(book)
        ratio_x = ours_x["seconds"] / bare_x["seconds"]
        results["xlsx"] = {
            "pandas_calamine": bare_x,
            "validate": ours_x,
            "ratio": round(ratio_x, 2),
        }
        table.append((f"XLSX {xlsx_rows:,} rows vs pandas+calamine", f"{ratio_x:.2f}x", "<= 2x"))

        if frictionless_available():
            theirs = measure(sys.executable, "-c", _FRICTIONLESS, str(small))
            if theirs["exit"] != 0:
                raise SystemExit("Frictionless validated no rows: the comparison is broken")
            ours_s = validate(small)
            speedup = theirs["seconds"] / ours_s["seconds"]
            results["frictionless"] = {
                "frictionless": theirs,
                "validate": ours_s,
                "speedup": round(speedup, 2),
            }
            table.append((f"CSV {fl_rows:,} rows, Frictionless / ours", f"{speedup:.1f}x", ">= 5x"))
        else:
            table.append(("Frictionless", "skipped", "pip install -e '.[bench]'"))

        python = measure(sys.executable, "-c", "pass")
        helped = measure(sys.executable, "-m", "importer", "--help")
        results["startup"] = {"python": python, "sections_help": helped}
        table.append(
            (
                "sections --help start-up",
                f"{helped['seconds']:.2f} s",
                f"python alone {python['seconds']:.2f} s",
            )
        )

        heavy = validate(bad)
        ratio_h = heavy["seconds"] / ours["seconds"]
        results["invalid_heavy"] = {"validate": heavy, "ratio_to_valid": round(ratio_h, 2)}
        table.append(
            (
                f"invalid CSV {csv_rows:,} rows x 3 findings",
                f"{ratio_h:.2f}x valid, {heavy['peak_mb']} MB",
                "<= 3x, <= 2048 MB",
            )
        )
    results["max_peak_mb"] = max(r["peak_mb"] for r in (bare, ours, bare_x, ours_x, heavy))
    results["load_average_1m"] = round(os.getloadavg()[0], 2)
    width = max(len(row[0]) for row in table) + 2
    print(f"{'measure':<{width}}{'result':<28}target")
    for name, value, target in table:
        print(f"{name:<{width}}{value:<28}{target}")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} (other work skews the figures)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
