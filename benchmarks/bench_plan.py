"""Planning a sheet over many courses against the sandbox at its default limits.

    .venv/bin/python benchmarks/bench_plan.py [--rows 1000] [--courses 500]

A sheet of --rows rows spread over --courses courses (the sandbox seeds 600), planned
(`sections plan`'s library call) twice in one run: the way it is planned (the account's
courses and sections in one paged listing each when that takes fewer requests), and the
per-course way (one GET and one listing a course) for comparison. Target: at most 20
requests and 30 s. Writes benchmarks/results/plan.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from importer import JobSettings, run_job  # noqa: E402
from importer.client import Credentials  # noqa: E402
from importer.engine import plan as plan_module  # noqa: E402
from importer.sandbox import SandboxConfig, SandboxServer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "plan.json"
CREATOR = Credentials(username="creator@example.com", password="creator")


def measure(path: Path, url: str, folder: Path) -> dict[str, float]:
    settings = JobSettings.build(
        input=path, api_url=url, credentials=CREATOR, dry_run=True, write_report=False,
        state_dir=folder / "state",
    )  # fmt: skip
    started = time.perf_counter()
    result = run_job(settings)
    seconds = time.perf_counter() - started
    requests = result.summary["requests"]
    assert isinstance(requests, dict)
    return {"requests": sum(requests.values()), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--courses", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "wide.csv"
        lines = ["Course ID,Section title,Display order,Unlock type"]
        for n in range(args.rows):
            course, order = 101 + n % args.courses, n // args.courses + 1
            lines.append(f"{course},Section {order},{order},Immediate")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = SandboxConfig(courses=max(600, args.courses), db_path=folder / "s.sqlite3")
        with SandboxServer(config) as server:  # the documented default limits
            wide = measure(path, server.url, folder)
            plan_module.ACCOUNT_WIDE_FROM = 10**9  # the per-course way, for comparison
            per_course = measure(path, server.url, folder)
    table = {"account_wide": wide, "per_course": per_course, "rows": args.rows,
             "courses": args.courses}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    print(
        f"planning {args.rows} rows over {args.courses} courses (target: <= 20 requests, <= 30 s)"
    )
    print("| way | requests | seconds |")
    print("|---|---|---|")
    print(f"| account-wide listings (used) | {wide['requests']:.0f} | {wide['seconds']} |")
    slow = per_course
    print(f"| one GET + one listing a course | {slow['requests']:.0f} | {slow['seconds']} |")


if __name__ == "__main__":
    main()
