"""Import throughput against the sandbox: how close to the API's write limit do we get?

    .venv/bin/python benchmarks/bench_import.py [--rows 1000] [--hand-rows 100]
        [--drop-rows 1000] [--slow-rows 60] [--only a,b,c,d,e]

(a) limit told: sandbox at 600 writes/minute with 150 ms latency, importer told the same
    limit. Target: achieved / allowed >= 0.95, and 0 answers 409.
(b) over-eager: importer told twice the sandbox's limit. Target: every row exactly once,
    409s <= 5% of requests, >= 0.85 of the sandbox's limit achieved.
(c) the loop a person would write by hand: one POST after another with a one-second sleep,
    measured on --hand-rows rows and extrapolated to --rows.
(d) the server's limit drops and comes back: importer told the limit; after --drop-after s
    the sandbox's write limit is halved (POST /sandbox/config) for --drop-for s, then
    restored. Prints the achieved rate per phase: the pacer slows down while the limit is
    low and climbs back (additive increase) once it is restored. Target: every row once.
(e) live throttling (needs a sandbox with `throttle_status`): 429 with a `Wait N seconds`
    body and no Retry-After, limit 30 writes/minute, importer told 60. Targets: every row
    once and >= 0.8 of the server's limit achieved. Skipped when the sandbox lacks it.

Writes benchmarks/results/import.json and prints a table. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from importer import JobResult, JobSettings, run_job  # noqa: E402
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
            writes_per_day=10**9,  # a benchmark, not an account: no daily budget
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


def run_limit_drop(
    rows: int, workdir: Path, drop_after: float, drop_for: float
) -> dict[str, object]:
    """(d): halve the sandbox's write limit mid-run, then restore it; rate per phase."""
    path = write_input(workdir / "d.csv", rows)
    with SandboxServer(sandbox_config()) as server:
        settings = JobSettings.build(
            path,
            api_url=server.url,
            credentials=CREATOR,
            writes_per_minute=LIMIT,
            requests_per_minute=4 * LIMIT,
            min_interval=0.012,
            concurrency=4,
            max_writes=rows * 2,
            writes_per_day=10**9,  # a benchmark, not an account: no daily budget
            state_dir=workdir / "d-state",
            report_dir=workdir / "d-reports",
        )
        results: list[JobResult] = []
        worker = threading.Thread(target=lambda: results.append(run_job(settings)))

        def accepted() -> int:
            return int(
                httpx.get(f"{server.url}/sandbox/stats", timeout=30).json()["writes_accepted"]
            )

        schedule: list[tuple[str, int, float | None]] = [
            ("normal", LIMIT, drop_after),
            ("dropped to half", LIMIT // 2, drop_for),
            ("restored, first 40 s", LIMIT, 40.0),
            ("restored, after", LIMIT, None),
        ]
        phases: list[dict[str, object]] = []
        started = time.monotonic()
        worker.start()
        for name, limit, seconds in schedule:
            httpx.post(
                f"{server.control_url}/config", json={"writes_per_minute": limit}, timeout=30
            ).raise_for_status()
            t0, a0 = time.monotonic(), accepted()
            worker.join(timeout=seconds)
            elapsed, writes = time.monotonic() - t0, accepted() - a0
            rate = writes / elapsed * 60.0 if elapsed > 0 else 0.0
            phases.append(
                {
                    "phase": name,
                    "sandbox_writes_per_minute": limit,
                    "seconds": round(elapsed, 1),
                    "writes": writes,
                    "write_rate_per_minute": round(rate, 1),
                    "achieved_of_limit": round(rate / limit, 3),
                }
            )
            if not worker.is_alive():
                break
        worker.join()
        elapsed = time.monotonic() - started
        once = exactly_once(server.url, rows)
    result = results[0]
    return {
        "case": "d: limit drops to half, comes back",
        "rows": rows,
        "exit_code": int(result.exit_code),
        "elapsed_s": round(elapsed, 1),
        "throttled_409s": int(result.summary["throttled_409s"]),  # type: ignore[arg-type]
        "requests": int(sum(result.summary["requests"].values())),  # type: ignore[union-attr]
        "exactly_once": once,
        "phases": phases,
    }


def run_live_throttle(rows: int, workdir: Path) -> dict[str, object] | None:
    """(e): 429 + `Wait N seconds`, no Retry-After, 30 writes/minute; importer told 60."""
    limit = 30
    path = write_input(workdir / "e.csv", rows)
    with SandboxServer(sandbox_config()) as server:
        live = {
            "throttle_status": 429,
            "throttle_body": "wait-text",
            "retry_after_header": False,
            "writes_per_minute": limit,
            "requests_per_minute": 120,
            "min_interval_ms": 100,
        }
        answer = httpx.post(f"{server.control_url}/config", json=live, timeout=30)
        if answer.status_code != 200:
            print(f"(e) skipped: this sandbox cannot throttle with 429 ({answer.text.strip()})")
            return None
        settings = JobSettings.build(
            path,
            api_url=server.url,
            credentials=CREATOR,
            writes_per_minute=60,
            requests_per_minute=120,
            min_interval=0.1,
            concurrency=2,
            max_writes=rows * 2,
            writes_per_day=10**9,  # a benchmark, not an account: no daily budget
            state_dir=workdir / "e-state",
            report_dir=workdir / "e-reports",
        )
        started = time.monotonic()
        result = run_job(settings)
        elapsed = time.monotonic() - started
        once = exactly_once(server.url, rows)
    rate = float(result.summary["write_rate_per_minute"])  # type: ignore[arg-type]
    return {
        "case": "e: 429 + wait text, limit 30, told 60",
        "rows": rows,
        "sandbox_writes_per_minute": limit,
        "importer_writes_per_minute": 60,
        "exit_code": int(result.exit_code),
        "elapsed_s": round(elapsed, 1),
        "write_rate_per_minute": round(rate, 1),
        "achieved_of_limit": round(rate / limit, 3),
        "throttled_409s": int(result.summary["throttled_409s"]),  # type: ignore[arg-type]
        "requests": int(sum(result.summary["requests"].values())),  # type: ignore[union-attr]
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


def print_table(cases: list[dict[str, object]], rows: int) -> None:
    print(
        f"{'case':40} {'rows':>5} {'writes/min':>10} {'of limit':>8} {'409s':>5} "
        f"{'requests':>8} {'minutes':>7}"
    )
    for case in cases:
        if "phases" in case:
            continue
        minutes = case.get("minutes_for_rows", case.get("extrapolated_minutes"))
        print(
            f"{case['case']:40} {case['rows']:>5} {case['write_rate_per_minute']:>10} "
            f"{case['achieved_of_limit']:>8} {case.get('throttled_409s', '-'):>5} "
            f"{case.get('requests', '-'):>8} {minutes:>7}"
        )
    for case in cases:
        if case["case"].startswith("c:"):  # type: ignore[union-attr]
            print(f"(c) extrapolated to {rows} rows: {case['extrapolated_minutes']} minutes")
        if "phases" in case:
            print(f"({case['case']}) {case['rows']} rows, throttles {case['throttled_409s']}:")
            print(
                f"  {'phase':24} {'limit/min':>9} {'seconds':>7} {'writes':>6} "
                f"{'writes/min':>10} {'of limit':>8}"
            )
            for phase in case["phases"]:  # type: ignore[attr-defined]
                print(
                    f"  {phase['phase']:24} {phase['sandbox_writes_per_minute']:>9} "
                    f"{phase['seconds']:>7} {phase['writes']:>6} "
                    f"{phase['write_rate_per_minute']:>10} {phase['achieved_of_limit']:>8}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--hand-rows", type=int, default=100)
    parser.add_argument("--drop-rows", type=int, default=1000, help="rows for case d")
    parser.add_argument("--drop-after", type=float, default=30.0, help="case d: seconds")
    parser.add_argument(
        "--drop-for", type=float, default=90.0, help="case d: seconds (> the 60 s window)"
    )
    parser.add_argument("--slow-rows", type=int, default=60, help="rows for case e")
    parser.add_argument("--only", default="a,b,c,d,e", help="cases to run, e.g. d,e")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",")}
    cases: list[dict[str, object]] = []
    targets: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if "a" in only:
            a = run_importer("a: importer told the limit", args.rows, LIMIT, workdir)
            targets["a_rate_at_least_0.95"] = float(a["achieved_of_limit"]) >= 0.95  # type: ignore[arg-type]
            targets["a_no_409"] = a["throttled_409s"] == 0
            cases.append(a)
        if "b" in only:
            b = run_importer("b: importer told 2x the limit", args.rows, 2 * LIMIT, workdir)
            targets["b_exactly_once"] = bool(b["exactly_once"])
            targets["b_409_share_at_most_5pct"] = float(b["throttled_share"]) <= 0.05  # type: ignore[arg-type]
            targets["b_rate_at_least_0.85"] = float(b["achieved_of_limit"]) >= 0.85  # type: ignore[arg-type]
            cases.append(b)
        if "c" in only:
            cases.append(run_hand_loop(args.hand_rows, args.rows))
        if "d" in only:
            d = run_limit_drop(args.drop_rows, workdir, args.drop_after, args.drop_for)
            targets["d_exactly_once"] = bool(d["exactly_once"])
            cases.append(d)
        if "e" in only:
            e = run_live_throttle(args.slow_rows, workdir)
            if e is not None:
                targets["e_exactly_once"] = bool(e["exactly_once"])
                targets["e_rate_at_least_0.8"] = float(e["achieved_of_limit"]) >= 0.8  # type: ignore[arg-type]
                cases.append(e)
    for case in cases:
        if "elapsed_s" in case and "phases" not in case and not case["case"].startswith("c:"):  # type: ignore[union-attr]
            case["minutes_for_rows"] = round(float(case["elapsed_s"]) / 60.0, 1)  # type: ignore[arg-type]
    print_table(cases, args.rows)
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
