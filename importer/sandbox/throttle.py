"""Nexudus-style throttling: sliding windows per client, answered 409 or 429 (see state.py).

Windows (all sliding, per client key): writes per 60 s, writes per 24 h, all requests per
60 s, all requests per hour, and a minimum gap between two requests. Only accepted requests
are recorded, so a client that keeps hammering while throttled does not push its own window
further out.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from importer.sandbox.config import SandboxConfig

MINUTE = 60.0
HOUR = 3600.0
DAY = 24 * 3600.0


@dataclass
class _Client:
    last: float | None = None
    requests: deque[float] = field(default_factory=deque)
    requests_hour: deque[float] = field(default_factory=deque)
    writes_minute: deque[float] = field(default_factory=deque)
    writes_day: deque[float] = field(default_factory=deque)


def _wait_for(window: deque[float], limit: int, span: float, now: float) -> float:
    """Seconds until `window` (accepted times within `span`) has room for one more."""
    if limit <= 0:
        return span
    while window and window[0] <= now - span:
        window.popleft()
    if len(window) < limit:
        return 0.0
    # The slot that frees first belongs to the (len - limit + 1)-th oldest entry.
    return window[len(window) - limit] + span - now


class Throttle:
    """Decides whether a client may make a request now; reads limits from the live config."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}

    def clear(self) -> None:
        with self._lock:
            self._clients.clear()

    def check(self, key: str, is_write: bool) -> int | None:
        """Record the request and return None, or return Retry-After seconds (>= 1)."""
        wait = self.wait(key, is_write)
        return None if wait is None else max(1, math.ceil(wait))

    def wait(self, key: str, is_write: bool) -> float | None:
        """Record the request and return None, or return the exact wait in seconds (> 0)."""
        config = self.config
        now = self.clock()
        with self._lock:
            client = self._clients.setdefault(key, _Client())
            waits = [
                _wait_for(client.requests, config.requests_per_minute, MINUTE, now),
                _wait_for(client.requests_hour, config.requests_per_hour, HOUR, now),
            ]
            if client.last is not None:
                waits.append(client.last + config.min_interval_ms / 1000.0 - now)
            if is_write:
                waits.append(_wait_for(client.writes_minute, config.writes_per_minute, MINUTE, now))
                waits.append(_wait_for(client.writes_day, config.writes_per_day, DAY, now))
            wait = max(waits)
            if wait > 0:
                return wait
            client.last = now
            client.requests.append(now)
            client.requests_hour.append(now)
            if is_write:
                client.writes_minute.append(now)
                client.writes_day.append(now)
        return None
