"""The shared pacer: even spacing, Retry-After pauses, rate reduction, cancel, threads."""

from __future__ import annotations

import threading
import time

import pytest

from importer.pacing import MIN_WRITE_RATE, Cancelled, Pacer


class FakeClock:
    """A clock that only moves when the pacer sleeps (thread-safe)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def make(clock: FakeClock, **kwargs: float) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep, **kwargs)


def test_first_request_goes_at_once() -> None:
    """A fresh pacer does not delay the first request."""
    clock = FakeClock()
    pacer = make(clock)
    assert pacer.acquire(write=True) == clock.now
    assert clock.sleeps == []


def test_reads_are_spaced_by_request_rate() -> None:
    """120 requests/minute with safety 0.98 means one read every 0.5/0.98 s."""
    clock = FakeClock()
    pacer = make(clock)
    slots = [pacer.acquire(write=False) for _ in range(10)]
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert all(gap == pytest.approx(0.5 / 0.98) for gap in gaps)


def test_writes_are_spaced_by_write_rate_and_reads_fit_between() -> None:
    """Writes go every 1/0.98 s; a read may use the gap between two writes."""
    clock = FakeClock()
    pacer = make(clock)
    w1 = pacer.acquire(write=True)
    r1 = pacer.acquire(write=False)
    w2 = pacer.acquire(write=True)
    assert r1 - w1 == pytest.approx(0.5 / 0.98)
    assert w2 - w1 == pytest.approx(1 / 0.98)


def test_min_interval_wins_over_a_high_request_rate() -> None:
    """1 request / 100 ms is honoured even when requests_per_minute would allow more."""
    clock = FakeClock()
    pacer = make(clock, requests_per_minute=6000, min_interval=0.1, safety=1.0)
    a, b = pacer.acquire(write=False), pacer.acquire(write=False)
    assert b - a == pytest.approx(0.1)


def test_a_minute_of_writes_uses_the_limit_fully_without_exceeding_it() -> None:
    """In any 60 s window: at most 60 writes, and at least 95% of 60."""
    clock = FakeClock()
    pacer = make(clock)
    slots = [pacer.acquire(write=True) for _ in range(200)]
    for start in range(len(slots)):
        in_window = [s for s in slots[start:] if s < slots[start] + 60]
        assert len(in_window) <= 60
    first_minute = [s for s in slots if s < slots[0] + 60]
    assert len(first_minute) >= 0.95 * 60


def test_idle_time_is_not_banked_into_a_burst() -> None:
    """After a long idle period, requests are still spaced (no burst of saved slots)."""
    clock = FakeClock()
    pacer = make(clock)
    pacer.acquire(write=True)
    clock.now += 3600
    a, b = pacer.acquire(write=True), pacer.acquire(write=True)
    assert b - a == pytest.approx(1 / 0.98)


def test_throttled_pauses_everyone_and_lowers_the_write_rate() -> None:
    """A 409 with Retry-After 5 holds reads and writes for 5 s and cuts writes by 20%."""
    clock = FakeClock()
    pacer = make(clock)
    start = pacer.acquire(write=True)
    pacer.throttled(5.0)
    assert pacer.write_rate == pytest.approx(48.0)
    assert pacer.acquire(write=False) >= start + 5.0
    w = pacer.acquire(write=True)
    w_next = pacer.acquire(write=True)
    assert w >= start + 5.0
    assert w_next - w == pytest.approx(60 / 48 / 0.98)


def test_a_burst_of_409s_lowers_the_rate_once() -> None:
    """Two workers hitting the same throttle window do not halve the rate twice."""
    clock = FakeClock()
    pacer = make(clock)
    pacer.throttled(2.0)
    pacer.throttled(2.0)
    assert pacer.write_rate == pytest.approx(48.0)
    assert pacer.throttle_count == 2


def test_write_rate_has_a_floor() -> None:
    """Repeated throttles never push the write rate below one per minute."""
    clock = FakeClock()
    pacer = make(clock)
    for _ in range(50):
        pacer.throttled(0.0)
    assert pacer.write_rate == MIN_WRITE_RATE


def test_throttle_without_retry_after_still_pauses() -> None:
    """A 409 without a usable Retry-After pauses for the default second."""
    clock = FakeClock()
    pacer = make(clock)
    pacer.acquire(write=False)
    before = clock.now
    pacer.throttled(None)
    assert pacer.acquire(write=False) >= before + 1.0


def test_cancel_makes_acquire_raise() -> None:
    """After cancel(), acquire raises Cancelled (not an ImporterError)."""
    pacer = make(FakeClock())
    pacer.cancel()
    with pytest.raises(Cancelled):
        pacer.acquire(write=True)
    with pytest.raises(Cancelled):
        pacer.sleep(1.0)


def test_cancel_wakes_a_real_sleeper_at_once() -> None:
    """A thread waiting for a slot many seconds away wakes and raises when cancelled."""
    pacer = Pacer(writes_per_minute=1, safety=1.0)  # one write per 60 s, real clock
    pacer.acquire(write=True)
    outcome: list[object] = []

    def worker() -> None:
        try:
            pacer.acquire(write=True)
            outcome.append("acquired")
        except Cancelled as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    started = time.monotonic()
    thread.start()
    time.sleep(0.05)
    pacer.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], Cancelled)
    assert time.monotonic() - started < 2


def test_two_threads_never_share_or_crowd_a_slot() -> None:
    """Slots handed to two concurrent workers are unique and evenly spaced."""
    pacer = Pacer(
        requests_per_minute=60_000, writes_per_minute=30_000, min_interval=0.002, safety=1.0
    )
    slots: list[tuple[float, bool]] = []
    lock = threading.Lock()

    def worker(write: bool) -> None:
        for _ in range(40):
            slot = pacer.acquire(write=write)
            with lock:
                slots.append((slot, write))

    threads = [threading.Thread(target=worker, args=(w,)) for w in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(slots) == 80
    times = sorted(s for s, _ in slots)
    assert all(b - a >= 0.002 - 1e-9 for a, b in zip(times, times[1:], strict=False))
    writes = sorted(s for s, w in slots if w)
    assert all(b - a >= 0.002 - 1e-9 for a, b in zip(writes, writes[1:], strict=False))


def test_a_throttle_during_a_wait_moves_the_waiter_past_the_pause() -> None:
    """A worker already holding a slot re-queues behind a pause that began meanwhile."""
    pacer = Pacer(requests_per_minute=600, min_interval=0.1, safety=1.0)
    pacer.acquire(write=False)
    got: list[float] = []
    thread = threading.Thread(target=lambda: got.append(pacer.acquire(write=False)))
    thread.start()
    time.sleep(0.03)  # the worker now holds a slot ~0.1 s ahead and sleeps
    pacer.throttled(0.3)
    paused_from = time.monotonic()
    thread.join(timeout=5)
    assert got and got[0] >= paused_from + 0.3 - 0.01


def test_bad_settings_are_refused() -> None:
    """Non-positive rates are a programming error, refused at once."""
    with pytest.raises(ValueError):
        Pacer(writes_per_minute=0)
    with pytest.raises(ValueError):
        Pacer(safety=0)


# -- recovery, hourly budget, throttles of reads ---------------------------------------------


def write_for(pacer: Pacer, clock: FakeClock, seconds: float) -> list[float]:
    """Send writes, each answered cleanly, for `seconds` of fake time; return their slots."""
    end = clock.now + seconds
    slots = []
    while clock.now < end:
        slots.append(pacer.acquire(write=True))
        pacer.answered(write=True)
    return slots


def test_the_write_rate_recovers_additively_after_clean_writes() -> None:
    """After a throttle, +10% of the limit per 20 clean seconds, back up to the limit."""
    clock = FakeClock()
    pacer = make(clock)
    pacer.throttled(5.0)
    assert pacer.write_rate == pytest.approx(48.0)
    write_for(pacer, clock, 5.0 + 19.0)  # the pause, then not yet a full clean interval
    assert pacer.write_rate == pytest.approx(48.0)
    write_for(pacer, clock, 2.0)
    assert pacer.write_rate == pytest.approx(54.0)
    write_for(pacer, clock, 20.0)
    assert pacer.write_rate == pytest.approx(60.0)  # never above the configured limit
    write_for(pacer, clock, 120.0)
    assert pacer.write_rate == 60.0 and pacer.write_limit == 60.0
    assert pacer.recoveries == 2


def test_recovery_settings_are_honoured() -> None:
    clock = FakeClock()
    pacer = make(clock, recovery_interval=30.0, recovery_step_percent=5.0)
    pacer.throttled(1.0)
    write_for(pacer, clock, 1.0 + 29.0)
    assert pacer.write_rate == pytest.approx(48.0)
    write_for(pacer, clock, 2.0)
    assert pacer.write_rate == pytest.approx(51.0)


def test_recovery_needs_answered_writes_not_just_time() -> None:
    """Silence is not evidence: with no write answered, the rate stays down."""
    clock = FakeClock()
    pacer = make(clock)
    pacer.throttled(1.0)
    clock.now += 600
    pacer.acquire(write=False)
    assert pacer.write_rate == pytest.approx(48.0)
    pacer.answered(write=False)  # a read's answer says nothing about writes
    clock.now += 60
    pacer.acquire(write=True)
    assert pacer.write_rate == pytest.approx(48.0)
    pacer.answered(write=True)
    pacer.acquire(write=True)  # one step only, however long the silence was
    assert pacer.write_rate == pytest.approx(54.0)


def test_a_new_throttle_restarts_the_clean_interval() -> None:
    clock = FakeClock()
    pacer = make(clock)
    pacer.throttled(1.0)
    write_for(pacer, clock, 15.0)
    pacer.throttled(1.0)
    assert pacer.write_rate == pytest.approx(48.0 * 0.8)
    write_for(pacer, clock, 15.0)
    assert pacer.write_rate == pytest.approx(48.0 * 0.8)
    write_for(pacer, clock, 8.0)
    assert pacer.write_rate == pytest.approx(48.0 * 0.8 + 6.0)


def test_a_throttled_read_slows_all_requests_not_only_writes() -> None:
    clock = FakeClock()
    pacer = make(clock, min_interval=0.0)
    pacer.throttled(2.0, write=False)
    assert pacer.write_rate == 60.0
    assert pacer.request_rate == pytest.approx(96.0)
    a, b = pacer.acquire(write=False), pacer.acquire(write=False)
    assert b - a == pytest.approx(60 / 96 / 0.98)


def test_throttles_naming_no_wait_pause_longer_each_time_in_a_row() -> None:
    """1, 2, 4 ... seconds (capped) while throttles without a wait come in a row; an
    answered request resets it."""
    clock = FakeClock()
    pacer = make(clock)
    pauses = []
    for _ in range(7):
        before = clock.now
        pacer.throttled(None)
        pacer.acquire(write=False)
        pauses.append(round(clock.now - before, 6))
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    pacer.answered(write=False)
    before = clock.now
    pacer.throttled(None)
    pacer.acquire(write=False)
    assert clock.now - before == pytest.approx(1.0)


def test_the_hourly_budget_holds_requests_beyond_it_until_the_window_frees() -> None:
    """With 10 requests an hour, the 11th waits until the first is an hour old."""
    clock = FakeClock()
    pacer = make(clock, requests_per_hour=10, requests_per_minute=6000, min_interval=0.0)
    slots = [pacer.acquire(write=False) for _ in range(12)]
    assert slots[9] - slots[0] < 1.0
    assert slots[10] == pytest.approx(slots[0] + 3600)
    assert slots[11] == pytest.approx(slots[1] + 3600)
    for start in range(len(slots)):
        assert len([s for s in slots[start:] if s < slots[start] + 3600]) <= 10


def test_the_default_hourly_budget_is_the_documented_5000() -> None:
    clock = FakeClock()
    pacer = make(clock, requests_per_minute=60_000, min_interval=0.0, safety=1.0)
    slots = [pacer.acquire(write=False) for _ in range(5001)]
    assert slots[4999] - slots[0] < 10
    assert slots[5000] >= slots[0] + 3600


@pytest.mark.parametrize(
    "options",
    [
        {"writes_per_minute": float("nan")},
        {"requests_per_minute": float("inf")},
        {"requests_per_hour": 0},
        {"min_interval": float("nan")},
        {"writes_per_minute": -1},
    ],
)
def test_nan_infinite_and_non_positive_settings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Pacer(**options)
