"""Hypothesis state machine: random faults, partial runs, crashes and lost state.

Invariant after every step: no row is on the server twice and nothing unknown is there.
At the end (faults off, run to completion): server set == valid rows, each exactly once,
and the ledger's Ids are the server's Ids (reliability.md checklist 31, small examples).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from import_support import (
    assert_exactly_once,
    configure,
    control,
    rows,
    sandbox,
    server_keys,
    write_csv,
)
from import_support import settings as job_settings

from importer.engine.budget import WriteBudget
from importer.engine.job import run_job
from importer.engine.ledger import Ledger, LedgerStatus
from importer.engine.progress import ProgressEvent

pytestmark = pytest.mark.slow

DATA = rows(4, course=101) + rows(4, course=102)
URL = ""  # the module's sandbox (started by the fixture below, never at import time)


@pytest.fixture(scope="module", autouse=True)
def _one_sandbox_for_the_module() -> Iterator[None]:
    """One sandbox for the module; each example resets it."""
    global URL
    with sandbox() as server:
        URL = server.url
        yield


class SimulatedCrash(Exception):
    """Raised from the progress callback: the run dies between two rows."""


class ImportMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        control(URL, "reset")
        configure(URL, throttle=False, fail_rate=0.0, ambiguous_rate=0.0, seed=1)
        self.tmp = Path(tempfile.mkdtemp(prefix="sections-sm-"))
        self.path = write_csv(self.tmp / "in.csv", DATA)

    @rule(
        ambiguous=st.sampled_from([0.0, 0.3, 1.0]),
        fail=st.sampled_from([0.0, 0.2]),
        seed=st.integers(0, 1000),
    )
    def faults(self, ambiguous: float, fail: float, seed: int) -> None:
        configure(URL, ambiguous_rate=ambiguous, fail_rate=fail, seed=seed)

    @rule(writes=st.integers(0, 6), concurrency=st.integers(1, 3))
    def partial_run(self, writes: int, concurrency: int) -> None:
        run_job(
            job_settings(
                self.path, URL, self.tmp, reconcile_grace=0.0, breaker=0, concurrency=concurrency
            ),
            budget=WriteBudget(writes),
        )

    @rule(after=st.integers(0, 5), concurrency=st.integers(1, 3))
    def crash(self, after: int, concurrency: int) -> None:
        def die(event: ProgressEvent) -> None:
            if event.phase == "send" and sum(event.counts.values()) > after:
                raise SimulatedCrash

        with contextlib.suppress(SimulatedCrash):
            run_job(
                job_settings(
                    self.path,
                    URL,
                    self.tmp,
                    reconcile_grace=0.0,
                    breaker=0,
                    concurrency=concurrency,
                ),
                progress=die,
            )

    @rule()
    def lose_state(self) -> None:
        shutil.rmtree(self.tmp / "state", ignore_errors=True)

    @invariant()
    def never_twice_never_unknown(self) -> None:
        held = server_keys(URL)
        assert all(n == 1 for n in held.values()), held
        assert set(held) <= set(DATA)

    def teardown(self) -> None:
        try:
            configure(URL, ambiguous_rate=0.0, fail_rate=0.0)
            result = run_job(job_settings(self.path, URL, self.tmp, reconcile_grace=0.0))
            assert result.exit_code == 0, result.message
            assert_exactly_once(URL, DATA)
            ids = {(s["CourseId"], s["DisplayOrder"]): s["Id"] for s in control(URL, "sections")}
            with Ledger.open(self.tmp / "state") as ledger:
                records = ledger.records(URL)
            assert {r.status for r in records.values()} <= {
                LedgerStatus.CREATED,
                LedgerStatus.EXISTS,
            }
            assert {k: r.section_id for k, r in records.items()} == ids
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


ImportMachine.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestImportMachine = ImportMachine.TestCase
