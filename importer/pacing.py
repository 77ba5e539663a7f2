"""Client-side pacing: one `Pacer` per run, shared by every worker thread.

Nexudus publishes its limits (60 writes/minute, 120 requests/minute, one request per
100 ms, 5,000 requests/hour) and throttles a client that goes faster (HTTP 409 in the
documentation, 429 on live accounts). Spacing requests evenly at just under the per-minute
rates uses them fully without tripping a sliding-window counter: any window of length W
holds at most ceil(W / interval) requests, which stays under the limit because the interval
is stretched by `safety`. The hourly budget is a sliding window of its own: once the last
hour holds `requests_per_hour` requests, the next waits until the oldest leaves the window.

Each `acquire` reserves the next free slot under the lock (so two threads never get the
same slot) and then sleeps outside the lock until that slot. A throttle (`throttled`,
whatever its status code) pauses everyone until the server's wait has passed (or, when it
named none, a pause that doubles with each such throttle in a row) and lowers the rate of
its kind (writes for a write, all requests for a read) by `SLOWDOWN`, once per burst.

Recovery is additive: once the lowered rate has gone `recovery_interval` seconds with
answered requests of that kind and no throttle (counted from the end of the pause), the rate
rises by `recovery_step` percent of its configured limit, and again after each further clean
interval, never above the configured limit. So a server whose limit drops gets less, and
gets the full rate again once its limit comes back.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from importer.engine.settings import PacingSettings, RetrySettings

logger = logging.getLogger(__name__)

#: The default limits (written once, in importer.engine.settings).
_LIMITS = PacingSettings()

#: Pause used when a throttle names no wait; doubled for each such throttle in a row ...
DEFAULT_PAUSE = 1.0
#: ... up to this many seconds.
MAX_UNKNOWN_PAUSE = RetrySettings().wait_max  # the longest back-off, as for retries
#: Each throttle (one per burst) multiplies the rate of its kind by this factor ...
SLOWDOWN = 0.8
#: ... but never below this many per minute.
MIN_WRITE_RATE = 1.0
#: Recovery: after this many clean seconds ...
RECOVERY_INTERVAL = 20.0
#: ... the rate rises by this percentage of the configured limit.
RECOVERY_STEP_PERCENT = 10.0
HOUR = 3600.0


class Cancelled(Exception):  # noqa: N818 - the name says what happened to the run
    """The run was cancelled while waiting for a slot (not an ImporterError: no API fault)."""


def _positive(name: str, value: float) -> float:
    number = float(value)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


class _Rate:
    """One lowered-and-recovering rate (writes, or all requests) in requests per minute."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.current = limit
        self.clean_since = float("-inf")  # start of the current throttle-free stretch
        self.answered = False  # an answer of this kind came since clean_since

    def slow_down(self, clean_from: float) -> None:
        self.current = max(MIN_WRITE_RATE, min(self.current, self.limit) * SLOWDOWN)
        self.clean_since = clean_from
        self.answered = False

    def recover(self, now: float, interval: float, step: float) -> bool:
        """One step up once a clean interval with answers has passed; True when it rose.

        One step at a time: after a long idle spell the rate climbs back with new answers,
        it does not jump to the limit on the strength of silence.
        """
        if self.current >= self.limit or not self.answered:
            return False
        if now - self.clean_since < interval:
            return False
        self.current = min(self.limit, self.current + step)
        self.clean_since = now
        self.answered = False
        return True


class Pacer:
    """Evenly spaced request slots shared by all workers of one run (thread-safe)."""

    @classmethod
    def from_settings(cls, pacing: PacingSettings) -> Pacer:
        """A pacer at a run's configured limits (engine.settings.PacingSettings)."""
        return cls(
            writes_per_minute=pacing.writes_per_minute,
            requests_per_minute=pacing.requests_per_minute,
            min_interval=pacing.min_interval,
            requests_per_hour=pacing.requests_per_hour,
        )

    def __init__(
        self,
        *,
        writes_per_minute: float = _LIMITS.writes_per_minute,
        requests_per_minute: float = _LIMITS.requests_per_minute,
        min_interval: float = _LIMITS.min_interval,
        requests_per_hour: float = _LIMITS.requests_per_hour,
        safety: float = 0.98,
        recovery_interval: float = RECOVERY_INTERVAL,
        recovery_step_percent: float = RECOVERY_STEP_PERCENT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        writes = _positive("writes_per_minute", writes_per_minute)
        requests = _positive("requests_per_minute", requests_per_minute)
        hourly = _positive("requests_per_hour", requests_per_hour)
        if not (min_interval >= 0 and math.isfinite(min_interval)):
            raise ValueError("min_interval must be a finite number, not negative")
        if not 0 < safety <= 1:
            raise ValueError("safety must be in (0, 1]")
        self._recovery_interval = _positive("recovery_interval", recovery_interval)
        self._recovery_percent = _positive("recovery_step_percent", recovery_step_percent)
        self._safety = safety
        self._min_interval = float(min_interval)
        self._writes = _Rate(writes)
        self._requests = _Rate(requests)
        self._hourly_limit = max(1, math.floor(hourly))
        self._recent: deque[float] = deque()  # slots of the last hour, in order
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._next_request = float("-inf")
        self._next_write = float("-inf")
        self._paused_until = float("-inf")
        self._unknown_streak = 0  # throttles in a row that named no wait
        self._generation = 0  # bumped by every throttle: older reservations are re-made
        self.throttle_count = 0
        self.recoveries = 0

    # -- public API ---------------------------------------------------------------------

    @property
    def write_rate(self) -> float:
        """Current write budget in writes per minute (lowered by throttles, then recovering)."""
        with self._lock:
            return self._writes.current

    @property
    def request_rate(self) -> float:
        """Current request budget in requests per minute (lowered by throttled reads)."""
        with self._lock:
            return self._requests.current

    @property
    def write_limit(self) -> float:
        """The configured write rate: recovery never goes above it."""
        return self._writes.limit

    def acquire(self, *, write: bool) -> float:
        """Block until a request may be sent; return the clock time of its slot.

        Raises `Cancelled` once `cancel()` has been called.
        """
        while True:
            self._raise_if_cancelled()
            with self._lock:
                now = self._clock()
                self._recover(now)
                slot = max(now, self._next_request, self._paused_until)
                if write:
                    slot = max(slot, self._next_write)
                slot = max(slot, self._hourly_slot(now))
                self._next_request = slot + self._request_interval()
                if write:
                    self._next_write = slot + self._write_interval()
                self._recent.append(slot)
                generation = self._generation
            if slot > now:
                self._wait(slot - now)
            self._raise_if_cancelled()
            with self._lock:
                if generation == self._generation:
                    return slot
                self._forget(slot)
            # A throttle came while we waited: our slot may fall in the pause; take a new one.

    def answered(self, *, write: bool) -> None:
        """The server answered a request without throttling it (counts toward recovery)."""
        with self._lock:
            self._unknown_streak = 0
            self._requests.answered = True
            if write:
                self._writes.answered = True

    def throttled(self, retry_after: float | None, *, write: bool = True) -> None:
        """The server throttled a request (409 or 429): pause everyone, lower the rate.

        A write's throttle lowers the write rate; a read's lowers the rate of all requests.
        Without a usable wait the pause is DEFAULT_PAUSE, doubled for each such throttle in
        a row (up to MAX_UNKNOWN_PAUSE).
        """
        with self._lock:
            if retry_after is None or not math.isfinite(retry_after):
                pause = min(MAX_UNKNOWN_PAUSE, DEFAULT_PAUSE * 2.0**self._unknown_streak)
                self._unknown_streak += 1
            else:
                pause = max(0.0, float(retry_after))
            now = self._clock()
            already_paused = now < self._paused_until
            self._paused_until = max(self._paused_until, now + pause)
            self._next_request = max(self._next_request, self._paused_until)
            self._next_write = max(self._next_write, self._paused_until)
            self._generation += 1
            self.throttle_count += 1
            lane = self._writes if write else self._requests
            if not already_paused:  # several throttles of one burst slow us down once
                lane.slow_down(self._paused_until)
            else:  # still, the clean stretch restarts after this pause
                lane.clean_since = self._paused_until
                lane.answered = False
            rate = lane.current
        logger.warning(
            "server throttled a %s: pausing %.1fs, %s rate now %.1f/min",
            "write" if write else "read",
            pause,
            "write" if write else "request",
            rate,
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

    # -- internals (call with the lock held) ----------------------------------------------

    def _request_interval(self) -> float:
        return max(60.0 / self._requests.current, self._min_interval) / self._safety

    def _write_interval(self) -> float:
        return 60.0 / self._writes.current / self._safety

    def _recover(self, now: float) -> None:
        for lane, kind in ((self._writes, "write"), (self._requests, "request")):
            step = lane.limit * self._recovery_percent / 100.0
            if lane.recover(now, self._recovery_interval, step):
                self.recoveries += 1
                logger.info("no throttle for a while: %s rate up to %.1f/min", kind, lane.current)

    def _hourly_slot(self, now: float) -> float:
        """The earliest time the hourly budget allows one more request."""
        recent = self._recent
        while recent and recent[0] <= now - HOUR:
            recent.popleft()
        if len(recent) < self._hourly_limit:
            return now
        return recent[len(recent) - self._hourly_limit] + HOUR

    def _forget(self, slot: float) -> None:
        with contextlib.suppress(ValueError):  # already out of the window
            self._recent.remove(slot)

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._cancelled.wait(seconds)

    def _raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled("the run was cancelled")
