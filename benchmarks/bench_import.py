"""Import throughput against the sandbox: how close to the API's write limit do we get?

    .venv/bin/python benchmarks/bench_import.py [--rows 1000] [--hand-rows 100]

(a) limit told: sandbox at 600 writes/minute with 150 ms latency, importer told the same
    limit. Target: achieved / allowed >= 0.95, and 0 answers 409.
(b) over-eager: importer told twice the sandbox's limit. Target: every row exactly once,
    409s <= 5% of requests, >= 0.85 of the sandbox's limit achieved.
(c) the loop a person would write by hand: one POST after another with a one-second sleep,
    measured on --hand-rows rows and extrapolated to --rows.

Writes benchmarks/results/import.json and prints a table. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from importer import JobSettings, run_job  # noqa: E402
from importer.client import Credentials  # noqa: E402
from importer.sandbox import SandboxConfig, SandboxServer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "import.json"
LIMIT = 600  # sandbox writes per minute
LATENCY_MS = 150
CREATOR = Credentials(username="creator@example.com", password="creator")
HEADER = "Course ID,Section title,Display order,Unlock type,Unlock after days\n"


def write_input(path: Path, rows: int) -> Path:
    lines = [HEADER]
    for n in range(rows):
        course = 101 + n % 3
        lines.append(f"{course},Benchmark section {n + 1},{n + 1},Immediate,\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        control=True,
        writes_per_minute=LIMIT,
        writes_per_day=100_000,
        requests_per_minute=4 * LIMIT,
        min_interval_ms=10,
        latency_ms=LATENCY_MS,
    )


def exactly_once(url: str, rows: int) -> bool:
    sections = httpx.get(f"{url}/sandbox/sections", timeout=30).json()
    keys = Counter((s["CourseId"], s["DisplayOrder"], s["Title"]) for s in sections)
    return len(keys) == rows and all(n == 1 for n in keys.values())


def run_importer(label: str, rows: int, told: float, workdir: Path) -> dict[str, object]:
    path = write_input(workdir / f"{label}.csv", rows)
    with SandboxServer(sandbox_config()) as server:
        settings = JobSettings.build(
            input=path,
            api_url=server.url,
            credentials=CREATOR,
            writes_per_minute=told,
            requests_per_minute=4 * told,
            min_interval=0.012,
            concurrency=4,
            max_writes=rows * 2,
            state_dir=workdir / f"{label}-state",
            report_dir=workdir / f"{label}-reports",
        )
        started = time.monotonic()
        result = run_job(settings)
        elapsed = time.monotonic() - started
        stats = httpx.get(f"{server.url}/sandbox/stats", timeout=30).json()
        once = exactly_once(server.url, rows)
    requests = int(sum(result.summary["requests"].values()))  # type: ignore[union-attr]
    throttled = int(result.summary["throttled_409s"])  # type: ignore[arg-type]
    rate = float(result.summary["write_rate_per_minute"])  # type: ignore[arg-type]
    return {
        "case": label,
        "rows": rows,
        "sandbox_writes_per_minute": LIMIT,
        "importer_writes_per_minute": told,
        "latency_ms": LATENCY_MS,
        "concurrency": 4,
        "exit_code": int(result.exit_code),
        "elapsed_s": round(elapsed, 1),
        "write_rate_per_minute": round(rate, 1),
        "achieved_of_limit": round(rate / LIMIT, 3),
        "requests": requests,
        "throttled_409s": throttled,
        "throttled_share": round(throttled / requests, 4) if requests else 0.0,
        "sandbox_writes_accepted": stats["writes_accepted"],
        "exactly_once": once,
    }


def run_hand_loop(rows: int, extrapolate_to: int) -> dict[str, object]:
    """What a person writes: POST, sleep one second, repeat (no pacing, no reconcile)."""
    with (
        SandboxServer(sandbox_config()) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        token = client.post(
            "/api/token",
            data={
                "grant_type": "password",
                "username": CREATOR.username,
                "password": CREATOR.password,
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        for n in range(rows):
            client.post(
                "/api/content/coursesections",
                headers=headers,
                json={
                    "CourseId": 101,
                    "Title": f"Hand section {n + 1}",
                    "DisplayOrder": n + 1,
                    "UnlockType": 1,
                    "UnlockAfterDays": 0,
                },
            )
            time.sleep(1.0)
        elapsed = time.monotonic() - started
    rate = rows / elapsed * 60.0
    return {
        "case": "c: hand loop (POST + sleep 1 s)",
        "rows": rows,
        "elapsed_s": round(elapsed, 1),
        "write_rate_per_minute": round(rate, 1),
        "achieved_of_limit": round(rate / LIMIT, 3),
        "extrapolated_rows": extrapolate_to,
        "extrapolated_minutes": round(extrapolate_to / rate, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--hand-rows", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        cases = [
            run_importer("a: importer told the limit", args.rows, LIMIT, workdir),
            run_importer("b: importer told 2x the limit", args.rows, 2 * LIMIT, workdir),
            run_hand_loop(args.hand_rows, args.rows),
        ]
    a, b, c = cases
    for case in (a, b):
        case["minutes_for_rows"] = round(float(case["elapsed_s"]) / 60.0, 1)  # type: ignore[arg-type]
    targets = {
        "a_rate_at_least_0.95": float(a["achieved_of_limit"]) >= 0.95,  # type: ignore[arg-type]
        "a_no_409": a["throttled_409s"] == 0,
        "b_exactly_once": bool(b["exactly_once"]),
        "b_409_share_at_most_5pct": float(b["throttled_share"]) <= 0.05,  # type: ignore[arg-type]
        "b_rate_at_least_0.85": float(b["achieved_of_limit"]) >= 0.85,  # type: ignore[arg-type]
    }
    print(
        f"{'case':34} {'rows':>5} {'writes/min':>10} {'of limit':>8} {'409s':>5} "
        f"{'requests':>8} {'minutes':>7}"
    )
    for case in cases:
        minutes = case.get("minutes_for_rows", case.get("extrapolated_minutes"))
        print(
            f"{case['case']:34} {case['rows']:>5} {case['write_rate_per_minute']:>10} "
            f"{case['achieved_of_limit']:>8} {case.get('throttled_409s', '-'):>5} "
            f"{case.get('requests', '-'):>8} {minutes:>7}"
        )
    print(f"(c) extrapolated to {args.rows} rows: {c['extrapolated_minutes']} minutes")
    for name, ok in targets.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "limit_writes_per_minute": LIMIT,
                "latency_ms": LATENCY_MS,
                "cases": cases,
                "targets": targets,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
