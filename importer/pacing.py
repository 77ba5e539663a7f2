"""Client-side pacing: one `Pacer` per run, shared by every worker thread.

Nexudus publishes its limits (60 writes/minute, 120 requests/minute, one request per
100 ms) and answers 409 + Retry-After when a client goes faster. Spacing requests evenly
at just under those rates uses the limits fully without ever tripping a sliding-window
counter: any window of length W holds at most ceil(W / interval) requests, which stays
under the limit because the interval is stretched by `safety`.

Each `acquire` reserves the next free slot under the lock (so two threads never get the
same slot) and then sleeps outside the lock until that slot. A 409 (`throttled`) pauses
everyone until its Retry-After has passed and lowers the write rate, so a server whose
real limit is below the published one stops answering 409.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from importer.engine.settings import PacingSettings

logger = logging.getLogger(__name__)

#: The default limits (written once, in importer.engine.settings).
_LIMITS = PacingSettings()

#: Pause used when a 409 arrives without a usable Retry-After.
DEFAULT_PAUSE = 1.0
#: Each 409 multiplies the write rate by this factor ...
SLOWDOWN = 0.8
#: ... but never below this many writes per minute.
MIN_WRITE_RATE = 1.0


class Cancelled(Exception):  # noqa: N818 - the name says what happened to the run
    """The run was cancelled while waiting for a slot (not an ImporterError: no API fault)."""


class Pacer:
    """Evenly spaced request slots shared by all workers of one run (thread-safe)."""

    def __init__(
        self,
        *,
        writes_per_minute: float = _LIMITS.writes_per_minute,
        requests_per_minute: float = _LIMITS.requests_per_minute,
        min_interval: float = _LIMITS.min_interval,
        safety: float = 0.98,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if writes_per_minute <= 0 or requests_per_minute <= 0:
            raise ValueError("writes_per_minute and requests_per_minute must be positive")
        if min_interval < 0:
            raise ValueError("min_interval must not be negative")
        if not 0 < safety <= 1:
            raise ValueError("safety must be in (0, 1]")
        self._safety = safety
        self._request_interval = max(60.0 / requests_per_minute, min_interval) / safety
        self._write_rate = float(writes_per_minute)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._next_request = float("-inf")
        self._next_write = float("-inf")
        self._paused_until = float("-inf")
        self._generation = 0  # bumped by every throttle: older reservations are re-made
        self.throttle_count = 0

    # -- public API ---------------------------------------------------------------------

    @property
    def write_rate(self) -> float:
        """Current write budget in writes per minute (lowered by each 409)."""
        with self._lock:
            return self._write_rate

    @property
    def request_interval(self) -> float:
        """Seconds between any two requests."""
        return self._request_interval

    @property
    def write_interval(self) -> float:
        """Seconds between two writes at the current write rate."""
        with self._lock:
            return self._write_interval()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def acquire(self, *, write: bool) -> float:
        """Block until a request may be sent; return the clock time of its slot.

        Raises `Cancelled` once `cancel()` has been called.
        """
        while True:
            self._raise_if_cancelled()
            with self._lock:
                now = self._clock()
                slot = max(now, self._next_request, self._paused_until)
                if write:
                    slot = max(slot, self._next_write)
                self._next_request = slot + self._request_interval
                if write:
                    self._next_write = slot + self._write_interval()
                generation = self._generation
            if slot > now:
                self._wait(slot - now)
            self._raise_if_cancelled()
            with self._lock:
                if generation == self._generation:
                    return slot
            # A 409 arrived while we waited: our slot may fall inside the pause; take a new one.

    def throttled(self, retry_after: float | None) -> None:
        """The server answered 409: pause everyone and lower the write rate."""
        pause = DEFAULT_PAUSE if retry_after is None else max(0.0, float(retry_after))
        with self._lock:
            now = self._clock()
            already_paused = now < self._paused_until
            self._paused_until = max(self._paused_until, now + pause)
            self._next_request = max(self._next_request, self._paused_until)
            self._next_write = max(self._next_write, self._paused_until)
            self._generation += 1
            self.throttle_count += 1
            if not already_paused:  # several 409s of one burst slow us down once
                self._write_rate = max(MIN_WRITE_RATE, self._write_rate * SLOWDOWN)
            rate = self._write_rate
        logger.warning(
            "server throttled (409): pausing %.1fs, write rate now %.1f/min", pause, rate
        )

    def cancel(self) -> None:
        """Wake every sleeper; each pending and later `acquire` raises `Cancelled`."""
        self._cancelled.set()

    def sleep(self, seconds: float) -> None:
        """Interruptible sleep (for retry waits): raises `Cancelled` when the run is cancelled.

        Pass it as `RetryPolicy(sleep=pacer.sleep)` so a cancelled run stops waiting at once.
        """
        self._raise_if_cancelled()
        if seconds > 0:
            self._wait(seconds)
        self._raise_if_cancelled()

    # -- internals ----------------------------------------------------------------------

    def _write_interval(self) -> float:
        return 60.0 / self._write_rate / self._safety

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._cancelled.wait(seconds)

    def _raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled("the run was cancelled")
