"""Injected faults, reproducible from one seed: latency, clean failures and ambiguous ones.

- latency: `latency_ms` +/- `jitter_ms`, slept after the throttle check (every /api route).
- fail_rate: 500, 502 or 503 (503 carries Retry-After: 1) *before* anything is stored, on
  /api/content routes only (the token endpoint never fails, so faults stay about data).
  With `fault_body="ooops"` the failure is a 500 or a 400 carrying the generic "Ooops!" text
  and no property errors. `fail_rate` is the chance that a *run* of `fault_burst` failures
  (all with the same answer) starts; after a run, `fault_gap` requests are answered normally
  (live accounts: 5 failures, then about 8 successes). fault_burst 1 and fault_gap 0 are
  independent draws.
- ambiguous_rate (POST, PUT, DELETE): the write *is* applied, then the answer is 500/502/504
  or the connection drops mid-response. This is the case an exactly-once importer must survive.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from typing import Literal

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from importer.sandbox.config import SandboxConfig

Ambiguous = Literal[500, 502, 504, "drop"]


class DeliberateDrop(Exception):
    """Raised after a partial response so the server closes the connection."""


class Faults:
    """One `random.Random` for every draw, so a seed replays the same fault sequence."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.rng = random.Random(config.seed)
        self._run_left = 0  # failures still to come in the current run
        self._gap_left = 0  # answered requests still owed after a run
        self._run_status = 500

    def reseed(self) -> None:
        with self._lock:
            self.rng = random.Random(self.config.seed)
            self._run_left = self._gap_left = 0

    async def delay(self) -> None:
        base = self.config.latency_ms
        jitter = self.config.jitter_ms
        if base <= 0 and jitter <= 0:
            return
        with self._lock:
            offset = self.rng.uniform(-jitter, jitter) if jitter > 0 else 0.0
        await asyncio.sleep(max(0.0, base + offset) / 1000.0)

    def failure(self) -> int | None:
        """A status to answer instead of processing the request, or None."""
        config = self.config
        if config.fail_rate <= 0:
            return None
        with self._lock:
            if self._run_left > 0:
                self._run_left -= 1
                self._after_failure()
                return self._run_status
            if self._gap_left > 0:
                self._gap_left -= 1
                return None
            if self.rng.random() >= config.fail_rate:
                return None
            statuses = (500, 400) if config.fault_body == "ooops" else (500, 502, 503)
            self._run_status = self.rng.choice(statuses)
            self._run_left = config.fault_burst - 1
            self._after_failure()
            return self._run_status

    def _after_failure(self) -> None:
        if self._run_left == 0:
            self._gap_left = self.config.fault_gap

    def ambiguous(self) -> Ambiguous | None:
        """After a write was applied: a status to answer instead, "drop", or None."""
        rate = self.config.ambiguous_rate
        if rate <= 0:
            return None
        with self._lock:
            if self.rng.random() >= rate:
                return None
            return self.rng.choice((500, 502, 504, "drop"))


class DroppedResponse(Response):
    """Starts a response with a Content-Length, sends part of the body, then fails.

    uvicorn closes the connection when the app raises after the response started, so the
    client sees a truncated message (httpx: RemoteProtocolError) and cannot know the outcome.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b'{"Status":200,"Message":"CourseSection was succ'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", b"512"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        raise DeliberateDrop("connection dropped on purpose by the sandbox")


class _QuietDrops(logging.Filter):
    """Hide uvicorn's 'Exception in ASGI application' for deliberate drops only."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DeliberateDrop)


_FILTER = _QuietDrops()


def quiet_deliberate_drops() -> None:
    """Install the filter once on uvicorn's error logger."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
