"""Progress of a run: events for progress bars and notebook callbacks, and the counter that
makes them (shared by imports and `sections undo`)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from importer.codes import UNFINISHED_STATUSES


@dataclass
class ProgressEvent:
    """A snapshot for progress bars and notebook callbacks."""

    phase: str  # "validate", "plan", "send", "reconcile", "report", "done"
    done: int
    total: int
    counts: dict[str, int] = field(default_factory=dict)  # by RowStatus value
    write_rate: float = 0.0  # writes per minute achieved so far
    eta_seconds: float | None = None


ProgressCallback = Callable[[ProgressEvent], object]


class ProgressTracker:
    """Counts settled rows and turns them into ProgressEvents for the callback."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        total: int,
        planned_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.callback = callback
        self.total = total
        self.counts: Counter[str] = Counter()
        self.planned_rate = planned_rate
        self.clock = clock
        self.sent = 0
        self.to_send = 0
        self.first_sent_at: float | None = None  # clock of the first answered POST
        self._lock = threading.Lock()

    def emit(self, phase: str) -> None:
        if self.callback is None:
            return
        with self._lock:  # rows still pending or unclear are not done, whatever was counted
            unfinished = {str(status) for status in UNFINISHED_STATUSES}
            done = sum(n for status, n in self.counts.items() if status not in unfinished)
            rate = 0.0
            if self.first_sent_at is not None and self.sent >= 2:
                # Answers after the first one, over the time since it: N answers span N-1
                # intervals, so sent/elapsed would read above the pacing limit.
                elapsed = self.clock() - self.first_sent_at
                rate = (self.sent - 1) / elapsed * 60.0 if elapsed > 0 else 0.0
            remaining = max(0, self.to_send - self.sent)
            per_minute = rate if rate > 0 else self.planned_rate
            eta = remaining / per_minute * 60.0 if per_minute > 0 else None
            event = ProgressEvent(phase, done, self.total, dict(self.counts), rate, eta)
        self.callback(event)

    def settled(self, status: str, *, sent: bool = False) -> None:
        with self._lock:
            self.counts[status] += 1
            if sent:
                self.sent += 1
                if self.first_sent_at is None:
                    self.first_sent_at = self.clock()
        self.emit("send")
