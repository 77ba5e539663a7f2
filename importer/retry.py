"""The retry policy, written once: which failures are retried, and for how long.

Course-section creation is a non-idempotent POST with no idempotency key, so a create is
re-sent only when it was *certainly not applied*: the connection was never made
(`TransportError`, but not a TLS certificate failure, which is fatal) or the server
throttled it before processing (`ThrottledError` whose Retry-After is within the cap).
Everything that may have been applied (`AmbiguousError`: timeouts after sending, dropped
connections, 500/502/504, unreadable 2xx) goes back to the caller, which reconciles by
reading the list before sending again. Idempotent reads (`call_read`) also retry those.

Each call builds a fresh tenacity `Retrying` (tenacity state is not safe to share between
threads or calls), capped by tries AND a total deadline, with `reraise=True` so the
caller always sees our typed exception, never `tenacity.RetryError`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from importer.engine.settings import RetrySettings
from importer.errors import (
    AmbiguousError,
    ApiError,
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    ThrottledError,
    TlsError,
    TransportError,
)

logger = logging.getLogger(__name__)

#: The default numbers (written once, in importer.engine.settings).
_DEFAULTS = RetrySettings()

T = TypeVar("T")

#: on_retry(exception, attempt_number, wait_seconds) is called before each retry sleep.
OnRetry = Callable[[BaseException, int, float], object]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request: tries and total deadline per call, and the back-off.

    `tries` counts the tries of ONE request; the sends of one row across unknown outcomes
    and runs are capped separately (SendPolicy.max_attempts).

    `max_retry_after`: a Retry-After longer than this is not waited for; the
    `ThrottledError` is raised so the run stops (resumable) instead of hanging.
    `sleep`: injected in tests (e.g. `lambda s: None`) or `Pacer.sleep` to make waits
    interruptible; None means `time.sleep`.
    """

    tries: int = _DEFAULTS.request_tries
    deadline: float = _DEFAULTS.retry_deadline
    max_retry_after: float = _DEFAULTS.max_retry_after
    wait_initial: float = _DEFAULTS.wait_initial
    wait_max: float = _DEFAULTS.wait_max
    sleep: Callable[[float], object] | None = None

    @classmethod
    def from_settings(
        cls, settings: RetrySettings, sleep: Callable[[float], object] | None = None
    ) -> RetryPolicy:
        return cls(
            tries=settings.request_tries,
            deadline=settings.retry_deadline,
            max_retry_after=settings.max_retry_after,
            wait_initial=settings.wait_initial,
            wait_max=settings.wait_max,
            sleep=sleep,
        )

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError("tries must be at least 1")
        if self.deadline < 0 or self.max_retry_after < 0:
            raise ValueError("deadline and max_retry_after must not be negative")
        if self.wait_initial < 0 or self.wait_max < 0:
            raise ValueError("wait_initial and wait_max must not be negative")


def is_safe_to_resend(exc: BaseException, policy: RetryPolicy | None = None) -> bool:
    """True when the request was certainly not applied and waiting may help.

    Connection failures (not TLS) and throttles whose Retry-After is within the cap
    (unknown Retry-After counts as within it).
    """
    cap = (policy or RetryPolicy()).max_retry_after
    if isinstance(exc, TlsError):
        return False
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, ThrottledError):
        return exc.retry_after is None or exc.retry_after <= cap
    return False


def is_safe_to_reread(exc: BaseException, policy: RetryPolicy | None = None) -> bool:
    """For idempotent reads: also retry ambiguous failures (timeouts, 5xx, bad 2xx)."""
    return isinstance(exc, AmbiguousError) or is_safe_to_resend(exc, policy)


class _RetryAfterOrJitter(wait_base):
    """Wait the server's Retry-After when given, else full-jitter exponential back-off."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._jitter = wait_random_exponential(multiplier=policy.wait_initial, max=policy.wait_max)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ThrottledError) and exc.retry_after is not None:
            return max(0.0, exc.retry_after)
        return float(self._jitter(retry_state))


def _describe(exc: BaseException | None) -> str:
    """The failure in plain words for a person (class names stay in the --log-file)."""
    status = getattr(exc, "status", None)
    http = f" (HTTP {status})" if status else ""
    if isinstance(exc, ThrottledError):
        return f"the API asked us to slow down{http}"
    if isinstance(exc, AmbiguousError):
        return f"an unclear answer{http}"
    if isinstance(exc, TransportError):
        return "no connection to the API"
    return f"an error{http}"


def _sleeper(policy: RetryPolicy) -> Callable[[float], None]:
    """The policy's sleep (or time.sleep) as tenacity wants it."""
    sleep = policy.sleep if policy.sleep is not None else time.sleep

    def wait(seconds: float) -> None:
        sleep(seconds)

    return wait


#: Tries after which a server that never accepted a connection counts as not there (a wrong
#: URL or a network down says so in seconds, not after every back-off of `request_tries`).
UNREACHABLE_TRIES = 4


class _unreachable_for(stop_base):  # noqa: N801  # named like tenacity's stop_* conditions
    """Stop once `tries` tries in a row found no server to connect to."""

    def __init__(self, tries: int) -> None:
        self.tries = tries

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        never_connected = isinstance(exc, TransportError) and not exc.connected
        return never_connected and retry_state.attempt_number >= self.tries


def _run(
    fn: Callable[[], T],
    policy: RetryPolicy,
    predicate: Callable[[BaseException, RetryPolicy], bool],
    on_retry: OnRetry | None,
    what: str,
) -> T:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.upcoming_sleep
        # Class, status, attempt and wait only: never headers or bodies.
        unreachable = isinstance(exc, TransportError) and not exc.connected
        tries = min(policy.tries, UNREACHABLE_TRIES) if unreachable else policy.tries
        logger.warning(
            "%s: %s; trying again in %.1fs (attempt %d of %d)",
            what,
            _describe(exc),
            wait,
            state.attempt_number,
            tries,
        )
        logger.debug("%s failed with %s", what, type(exc).__name__)
        if on_retry is not None and exc is not None:
            on_retry(exc, state.attempt_number, wait)

    retrying = Retrying(  # fresh per call: tenacity state must never be shared
        retry=retry_if_exception(lambda exc: predicate(exc, policy)),
        stop=stop_after_attempt(policy.tries)
        | stop_after_delay(policy.deadline)
        | _unreachable_for(UNREACHABLE_TRIES),
        wait=_RetryAfterOrJitter(policy),
        sleep=_sleeper(policy),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)


def call_create(
    fn: Callable[[], T], policy: RetryPolicy | None = None, *, on_retry: OnRetry | None = None
) -> T:
    """Call a non-idempotent `fn` (one POST), re-sending only what was certainly not applied.

    Raises at once: AmbiguousError, RejectedError, AuthError, NotFoundError, TlsError and a
    ThrottledError over the cap; raises the last error when tries or deadline run out.
    """
    return _run(fn, policy or RetryPolicy(), is_safe_to_resend, on_retry, "writing a section")


def call_read(
    fn: Callable[[], T], policy: RetryPolicy | None = None, *, on_retry: OnRetry | None = None
) -> T:
    """Call an idempotent `fn` (a GET): also retries AmbiguousError (timeouts, 5xx)."""
    return _run(fn, policy or RetryPolicy(), is_safe_to_reread, on_retry, "reading the server")


# -- what a write's final failure means for the run -------------------------------------------


class Verdict(StrEnum):
    """What to do with a write (and the run) after `call_create` gave up or refused."""

    RECONCILE = "reconcile"  # may have been applied: read the server before sending again
    REJECTED = "rejected"  # the API refused it: settled, the row failed
    REQUEUE = "requeue"  # certainly not applied and waiting may help: queue it again
    STOP = "stop"  # certainly not applied and the run cannot go on (see `stop`)
    CANCELLED = "cancelled"  # never sent: the run was cancelled while it waited


@dataclass(frozen=True)
class Judgement:
    """`verdict`; `failure`: counts toward the breaker; `stop`: why the run stops
    ("auth", "config", "retry_after"; the sender's StopReason values)."""

    verdict: Verdict
    failure: bool
    stop: str | None = None
    message: str = ""


def judge_write_failure(exc: BaseException, policy: RetryPolicy) -> Judgement:
    """The one decision about a write that ended in `exc` (after its own retries).

    Unknown exceptions count as "may have been applied": reconcile, never re-send blindly.
    """
    if isinstance(exc, AmbiguousError):
        return Judgement(Verdict.RECONCILE, failure=True, message=str(exc))
    if isinstance(exc, RejectedError):
        text = "; ".join(f"{p}: {m}" if p else m for p, m in exc.errors) or str(exc)
        return Judgement(Verdict.REJECTED, failure=False, message=text)
    if isinstance(exc, ThrottledError):
        if exc.retry_after is not None and exc.retry_after > policy.max_retry_after:
            return Judgement(
                Verdict.STOP,
                failure=False,
                stop="retry_after",
                message=f"the API asked to wait {exc.retry_after:g}s, more than "
                f"--max-retry-after {policy.max_retry_after:g}s; run the same command again later",
            )
        return Judgement(Verdict.REQUEUE, failure=True, message=str(exc))
    if isinstance(exc, TlsError):
        return Judgement(Verdict.STOP, failure=False, stop="config", message=str(exc))
    if isinstance(exc, TransportError):
        return Judgement(Verdict.REQUEUE, failure=True, message=str(exc))
    if isinstance(exc, AuthError):
        return Judgement(Verdict.STOP, failure=False, stop="auth", message=str(exc))
    if isinstance(exc, NotFoundError | ConfigError):
        return Judgement(
            Verdict.STOP, failure=False, stop="config", message=f"{exc} (check --api-url)"
        )
    if isinstance(exc, ApiError):
        return Judgement(Verdict.RECONCILE, failure=True, message=str(exc))
    return Judgement(Verdict.RECONCILE, failure=True, message=type(exc).__name__)


class Breaker:
    """The run-level breaker: `limit` consecutive failures (see Judgement.failure) trip it;
    0 never trips. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def record(self, failed: bool) -> bool:
        """Count one answer; True when this one tripped the breaker."""
        with self._lock:
            self.count = self.count + 1 if failed else 0
            return self.count >= self.limit > 0
