"""The retry policy: what is re-sent, how often, how long it waits (no real sleeping)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from importer.errors import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    RejectedError,
    ThrottledError,
    TlsError,
    TransportError,
)
from importer.pacing import Cancelled, Pacer
from importer.retry import (
    Breaker,
    RetryPolicy,
    Verdict,
    call_create,
    call_read,
    is_safe_to_resend,
    judge_write_failure,
)


class Recorder:
    """Collects injected sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def failing(errors: list[Exception], result: object = "ok") -> Callable[[], object]:
    """A callable that raises the given errors in turn, then returns `result`; counts calls."""
    queue = list(errors)

    def fn() -> object:
        fn.calls += 1  # type: ignore[attr-defined]
        if queue:
            raise queue.pop(0)
        return result

    fn.calls = 0  # type: ignore[attr-defined]
    return fn


def policy(**kwargs: object) -> tuple[RetryPolicy, Recorder]:
    sleep = Recorder()
    return RetryPolicy(sleep=sleep, **kwargs), sleep  # type: ignore[arg-type]


def throttle(retry_after: float | None, status: int = 409) -> ThrottledError:
    return ThrottledError("throttled", status=status, retry_after=retry_after)


def test_transport_errors_are_retried_until_success() -> None:
    """Two connection failures then success: three calls, result returned."""
    pol, sleeps = policy()
    fn = failing([TransportError("refused"), TransportError("refused")])
    assert call_create(fn, pol) == "ok"
    assert fn.calls == 3
    assert len(sleeps.sleeps) == 2
    assert all(0 <= s <= pol.wait_max for s in sleeps.sleeps)


def test_attempts_are_capped_and_the_last_error_reraised() -> None:
    """A persistent connection failure stops after `tries` calls with our own exception."""
    pol, _ = policy(tries=3)
    fn = failing([TransportError(f"refused {i}") for i in range(10)])
    with pytest.raises(TransportError, match="refused 2"):
        call_create(fn, pol)
    assert fn.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        AmbiguousError("read timeout", cause="ReadTimeout"),
        AmbiguousError("HTTP 502", status=502),
        RejectedError("Title: required", status=400, errors=(("Title", "required"),)),
        AuthError("401"),
        NotFoundError("404", status=404),
        TlsError("bad certificate"),
    ],
    ids=["ambiguous-timeout", "ambiguous-5xx", "rejected", "auth", "not-found", "tls"],
)
def test_call_create_never_retries_what_may_be_applied_or_is_permanent(error: Exception) -> None:
    """Ambiguous, rejected, auth, 404 and TLS failures come back after exactly one call."""
    pol, sleeps = policy()
    fn = failing([error])
    with pytest.raises(type(error)):
        call_create(fn, pol)
    assert fn.calls == 1
    assert sleeps.sleeps == []


def test_throttle_waits_the_retry_after() -> None:
    """A 409 with Retry-After 7 is retried after exactly 7 s (no jitter)."""
    pol, sleeps = policy()
    fn = failing([throttle(7.0)])
    assert call_create(fn, pol) == "ok"
    assert sleeps.sleeps == [7.0]


def test_503_without_retry_after_uses_jittered_backoff() -> None:
    """A 503 without Retry-After waits a random time in the back-off window."""
    pol, sleeps = policy(wait_initial=0.5, wait_max=30.0)
    fn = failing([throttle(None, status=503)] * 3)
    assert call_create(fn, pol) == "ok"
    assert len(sleeps.sleeps) == 3
    assert 0 <= sleeps.sleeps[0] <= 0.5 * 2


def test_throttle_over_the_cap_is_reraised_at_once() -> None:
    """Retry-After above max_retry_after stops the run (resumable) instead of waiting."""
    pol, sleeps = policy(max_retry_after=60.0)
    fn = failing([throttle(61.0)])
    with pytest.raises(ThrottledError) as info:
        call_create(fn, pol)
    assert info.value.retry_after == 61.0
    assert fn.calls == 1
    assert sleeps.sleeps == []


def test_call_read_also_retries_ambiguous_failures() -> None:
    """GETs are idempotent: timeouts and 5xx are retried."""
    pol, _ = policy()
    fn = failing([AmbiguousError("t", cause="ReadTimeout"), AmbiguousError("x", status=500)])
    assert call_read(fn, pol) == "ok"
    assert fn.calls == 3


def test_call_read_does_not_retry_permanent_failures() -> None:
    """Even for reads, 404/400/auth/TLS are not retried."""
    for error in (NotFoundError("404"), RejectedError("bad"), AuthError("no"), TlsError("x")):
        pol, _ = policy()
        fn = failing([error])
        with pytest.raises(type(error)):
            call_read(fn, pol)
        assert fn.calls == 1


def test_each_call_starts_with_fresh_state() -> None:
    """Attempts are counted per call: a second call gets its full budget again."""
    pol, _ = policy(tries=2)
    first = failing([TransportError("a")])
    second = failing([TransportError("b")])
    assert call_create(first, pol) == "ok"
    assert call_create(second, pol) == "ok"
    assert (first.calls, second.calls) == (2, 2)


def test_concurrent_calls_do_not_share_attempt_counters() -> None:
    """Two threads retrying at once each get their own attempt budget."""
    pol = RetryPolicy(tries=3, sleep=lambda s: None)
    results: list[object] = []
    fns = [failing([TransportError("x"), TransportError("y")]) for _ in range(2)]
    threads = [
        threading.Thread(target=lambda f=f: results.append(call_create(f, pol))) for f in fns
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert results == ["ok", "ok"]
    assert [f.calls for f in fns] == [3, 3]


def test_on_retry_and_log_report_class_attempt_and_wait(caplog: pytest.LogCaptureFixture) -> None:
    """Each retry calls on_retry(exc, attempt, wait) and logs a WARNING in plain words;
    the exception's class is only in the DEBUG record (the --log-file)."""
    pol, _ = policy()
    seen: list[tuple[str, int, float]] = []
    fn = failing([throttle(3.0), TransportError("x")])
    with caplog.at_level(logging.DEBUG, logger="importer.retry"):
        call_create(fn, pol, on_retry=lambda e, n, w: seen.append((type(e).__name__, n, w)))
    assert seen[0] == ("ThrottledError", 1, 3.0) and seen[1][:2] == ("TransportError", 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "slow down (HTTP 409)" in warnings[0] and "attempt 1 of" in warnings[0]
    assert "no connection to the API" in warnings[1]
    assert not any("Error" in text for text in warnings)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("ThrottledError" in text for text in debug)


def test_is_safe_to_resend_predicate() -> None:
    """The predicate says yes only for certainly-not-applied failures within the cap."""
    assert is_safe_to_resend(TransportError("x"))
    assert not is_safe_to_resend(TlsError("x"))
    assert not is_safe_to_resend(AmbiguousError("x"))
    assert is_safe_to_resend(throttle(300.0))
    assert not is_safe_to_resend(throttle(300.5))
    assert is_safe_to_resend(throttle(None))
    assert not is_safe_to_resend(ValueError("bug"))


def test_unexpected_exceptions_propagate_untouched() -> None:
    """A programming error inside fn is not retried."""
    pol, _ = policy()
    fn = failing([KeyError("bug")])
    with pytest.raises(KeyError):
        call_create(fn, pol)
    assert fn.calls == 1


def test_policy_refuses_zero_attempts() -> None:
    """At least one attempt is always made."""
    with pytest.raises(ValueError):
        RetryPolicy(tries=0)


def test_deadline_stops_retrying_even_with_attempts_left() -> None:
    """A zero deadline means one attempt only, whatever `attempts` says."""
    pol, _ = policy(tries=10, deadline=0.0)
    fn = failing([TransportError("x")] * 5)
    with pytest.raises(TransportError):
        call_create(fn, pol)
    assert fn.calls == 1


def test_cancelled_pacer_sleep_interrupts_the_retry_wait() -> None:
    """With RetryPolicy(sleep=pacer.sleep), a cancelled run stops instead of waiting."""
    pacer = Pacer()
    pacer.cancel()
    fn = failing([TransportError("refused")])
    with pytest.raises(Cancelled):
        call_create(fn, RetryPolicy(sleep=pacer.sleep))
    assert fn.calls == 1


@pytest.mark.parametrize(
    ("exc", "verdict", "failure", "stop"),
    [
        (AmbiguousError("timed out", cause="ReadTimeout"), Verdict.RECONCILE, True, None),
        (
            RejectedError("bad", status=400, errors=(("Title", "required"),)),
            Verdict.REJECTED,
            False,
            None,
        ),
        (ThrottledError("slow", status=409, retry_after=3.0), Verdict.REQUEUE, True, None),
        (ThrottledError("slow", status=409, retry_after=999.0), Verdict.STOP, False, "retry_after"),
        (TransportError("refused"), Verdict.REQUEUE, True, None),
        (TlsError("certificate"), Verdict.STOP, False, "config"),
        (AuthError("forbidden", status=403), Verdict.STOP, False, "auth"),
        (NotFoundError("no such collection", status=404), Verdict.STOP, False, "config"),
        (KeyError("a bug"), Verdict.RECONCILE, True, None),
    ],
)
def test_every_write_failure_is_judged_in_one_place(
    exc: BaseException, verdict: Verdict, failure: bool, stop: str | None
) -> None:
    """What the sender does after call_create gave up: never re-send what may have applied."""
    judgement = judge_write_failure(exc, RetryPolicy(max_retry_after=300.0))
    assert (judgement.verdict, judgement.failure, judgement.stop) == (verdict, failure, stop)
    if verdict is Verdict.REJECTED:
        assert judgement.message == "Title: required"


def test_breaker_trips_on_consecutive_failures_only() -> None:
    breaker = Breaker(3)
    assert [breaker.record(f) for f in (True, True, False, True, True)] == [False] * 5
    assert breaker.record(True) is True
    assert not any(Breaker(0).record(True) for _ in range(10))  # 0: never trips
