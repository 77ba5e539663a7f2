"""Send: execute each write action's request exactly once (scheduling only).

Worker threads share one pacer. Every request goes through `retry.call_create`, which
re-sends only what was certainly not applied; what happens after it gives up is decided by
`retry.judge_write_failure` (and the breaker by `retry.Breaker`). An action whose outcome is
unknown is never sent again blindly: it waits until its `due_at` (the answer's time plus the
grace period), then its course's sections are listed ONCE for all of that course's waiting
actions (other rows keep flowing meanwhile) and its kind's `reconcile` (actions.WRITE_KINDS)
says whether it took effect. Took effect: adopt the Id. Not applied: send again, as a new
attempt, up to `max_attempts` in total. The ledger records the intent before each request
and the outcome right after, so a crash at any moment is reconciled by the next run.

Threads + sync httpx (not asyncio), so a notebook cell with a running event loop just works.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from importer.client import NexudusClient
from importer.codes import ExitCode, RowStatus
from importer.engine.actions import WRITE_KINDS, Action, ActionKind
from importer.engine.journal import Journal
from importer.engine.ledger import Key, LedgerStatus
from importer.engine.match import ServerSection, list_course
from importer.engine.rows import RowOutcome
from importer.engine.settings import SendPolicy
from importer.errors import AuthError, ImporterError, LedgerError, ThrottledError
from importer.pacing import Cancelled
from importer.retry import (
    Breaker,
    RetryPolicy,
    Verdict,
    call_create,
    is_safe_to_resend,
    judge_write_failure,
)

logger = logging.getLogger(__name__)

#: The kinds the run journal keeps (what `sections undo` can take back).
JOURNALED = frozenset({ActionKind.CREATE, ActionKind.UPDATE})
#: How often the coordinator wakes up to notice a cancel request while waiting.
POLL_SECONDS = 0.2
#: Failed listings of one course (each already retried) before its unknown rows are left
#: `ambiguous` for the next run.
MAX_LIST_FAILURES = 3


class StopReason(StrEnum):
    """Why a run stopped before every row was settled."""

    BUDGET = "budget"  # --max-writes or --writes-per-day spent (exit 4)
    BREAKER = "breaker"  # too many consecutive server/transport failures (exit 4)
    RETRY_AFTER = "retry_after"  # Retry-After beyond --max-retry-after (exit 4)
    CANCELLED = "cancelled"  # Ctrl-C / cancel event (exit 4)
    AUTH = "auth"  # credentials or permissions (exit 3)
    CONFIG = "config"  # wrong URL, TLS failure, 404 on the collection (exit 3)
    STATE = "state"  # the ledger could not be written: full or read-only disk (exit 3)

    @property
    def exit_code(self) -> ExitCode:
        stopped_by_setup = self in (StopReason.AUTH, StopReason.CONFIG, StopReason.STATE)
        return ExitCode.CONFIG if stopped_by_setup else ExitCode.RESUMABLE


class _Attempted(Protocol):
    @property
    def attempts(self) -> int: ...


class SendLedger(Protocol):
    """Where the sender commits each intent and outcome (the Ledger; undo's journal)."""

    def mark_intent(
        self,
        scope: str,
        key: Key,
        *,
        request_hash: str,
        kind: str = ...,
        before_image: str | None = ...,
        source_file: str | None,
        source_row: int | None,
        section_id: int | None = ...,
    ) -> _Attempted: ...
    def mark(
        self,
        scope: str,
        key: Key,
        status: LedgerStatus,
        *,
        section_id: int | None = ...,
        error: str | None = ...,
        undo_attempt: bool = ...,
        sent_at: float | None = ...,
    ) -> None: ...


@dataclass
class SendItem:
    """One write action to execute (or to reconcile first, when `due_at` is set)."""

    action: Action
    attempts: int = 0  # sends of this row so far, all runs (from the ledger)
    due_at: float | None = None  # wall clock after which a listing may conclude "absent"
    proven_absent: bool = False  # sent before, and the plan's listing (after grace) lacks it

    @property
    def source_row(self) -> int:
        return self.action.source_row

    @property
    def key(self) -> Key:
        return self.action.key

    @property
    def title(self) -> str:
        return self.action.title


@dataclass
class SendResult:
    outcomes: dict[int, RowOutcome] = field(default_factory=dict)  # by source_row
    stop: StopReason | None = None
    message: str = ""
    posts: int = 0
    unclear: int = 0  # answers that left a write's outcome unknown (each reconciled)
    reconciles: int = 0
    first_post_at: float | None = None
    last_post_at: float | None = None

    @property
    def write_rate_per_minute(self) -> float:
        """POSTs per minute between the first and the last answer of this run."""
        if self.posts < 2 or self.first_post_at is None or self.last_post_at is None:
            return 0.0
        span = self.last_post_at - self.first_post_at
        return (self.posts - 1) / span * 60.0 if span > 0 else 0.0


class Sender:
    """Runs the POSTs and reconciles of one file; one instance per run."""

    def __init__(
        self,
        *,
        client: NexudusClient,
        ledger: SendLedger,
        ledger_scope: str,
        source_file: str,
        policy: RetryPolicy,
        settings: SendPolicy,
        take_write: Callable[[], str | None],
        on_outcome: Callable[[RowOutcome], object] | None = None,
        cancel: threading.Event | None = None,
        on_stop: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.time,
        journal: Journal | None = None,
        run_id: str = "",
        on_long_wait: Callable[[float], object] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal  # the run journal (for undo): creates and updates are noted
        self.run_id = run_id
        self.on_long_wait = on_long_wait  # a Retry-After beyond --max-retry-after (seconds)
        self.ledger = ledger
        self.scope = ledger_scope
        self.source_file = source_file
        self.policy = policy
        self.settings = settings
        self.take_write = take_write
        self.on_outcome = on_outcome
        self.cancel = cancel or threading.Event()
        self.on_stop = on_stop
        self.clock = clock
        self.result = SendResult()
        self._lock = threading.Lock()
        self._queue: deque[SendItem] = deque()
        self._waiting: dict[int, list[SendItem]] = defaultdict(list)  # course -> items
        self._reconciling: set[int] = set()
        self._attempts_now: dict[int, int] = defaultdict(int)  # source_row -> POSTs this run
        self._breaker = Breaker(settings.breaker)
        self._list_failures: dict[int, int] = defaultdict(int)  # course -> failed listings
        self._abandoned: list[SendItem] = []  # unknown outcome, left to the next run
        self._wake = threading.Event()

    # -- public ------------------------------------------------------------------------------

    def run(self, items: list[SendItem]) -> SendResult:
        """Post or reconcile every item; return when all are settled or the run stops."""
        for item in items:
            if item.proven_absent:
                self._retry_or_give_up(item)
            elif item.due_at is not None:
                self._waiting[item.key[0]].append(item)  # sent recently: reconcile first
            else:
                self._queue.append(item)
        workers = max(1, int(self.settings.concurrency))
        in_flight: set[Future[None]] = set()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sections-send") as pool:
            while True:
                if self.cancel.is_set():
                    self._stop(
                        StopReason.CANCELLED, "interrupted; run the same command again to continue"
                    )
                done = {f for f in in_flight if f.done()}
                in_flight -= done
                for future in done:
                    try:
                        future.result()  # what a worker does not handle surfaces here
                    except LedgerError as exc:  # nothing more is sent that cannot be recorded
                        self._stop(StopReason.STATE, str(exc))
                if self.result.stop is not None and not self._draining():
                    if not in_flight:
                        break
                    wait(in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    continue
                self._schedule_reconciles(pool, in_flight, workers)
                while len(in_flight) < workers and self.result.stop is None:
                    next_item = self._next_item()
                    if next_item is None:
                        break
                    item = next_item
                    refusal = self.take_write()  # None: one more write may go
                    if refusal is not None:
                        with self._lock:
                            self._queue.appendleft(item)
                        self._stop(StopReason.BUDGET, refusal)
                        break
                    in_flight.add(pool.submit(self._post, item))
                if not in_flight:
                    with self._lock:
                        idle = not self._waiting and (
                            not self._queue or self.result.stop is not None
                        )
                    if idle:
                        break
                    self._wake.clear()
                    self._wake.wait(min(POLL_SECONDS, self._seconds_to_next_due()))
                else:
                    wait(
                        in_flight,
                        timeout=min(POLL_SECONDS, self._seconds_to_next_due()),
                        return_when=FIRST_COMPLETED,
                    )
        self._settle_leftovers()
        return self.result

    # -- scheduling ----------------------------------------------------------------------------

    def _draining(self) -> bool:
        """After the write budget is spent, rows already sent are still reconciled (no
        writes needed), so the report says `created` rather than `ambiguous` for them."""
        with self._lock:
            return (
                self.result.stop == StopReason.BUDGET
                and bool(self._waiting)
                and not self._abandoned
            )

    def _next_item(self) -> SendItem | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _seconds_to_next_due(self) -> float:
        with self._lock:
            due = [i.due_at or 0.0 for items in self._waiting.values() for i in items]
        if not due:
            return POLL_SECONDS
        return max(0.0, min(due) - self.clock())

    def _schedule_reconciles(
        self, pool: ThreadPoolExecutor, in_flight: set[Future[None]], workers: int
    ) -> None:
        """One listing per course once its oldest waiting row's grace has passed."""
        now = self.clock()
        with self._lock:
            due = [
                course
                for course, items in self._waiting.items()
                if items
                and course not in self._reconciling
                and min(i.due_at or 0.0 for i in items) <= now
            ]
        for course in due:
            if len(in_flight) >= workers:
                return
            with self._lock:
                self._reconciling.add(course)
            in_flight.add(pool.submit(self._reconcile, course))

    def _stop(self, reason: StopReason, message: str) -> None:
        with self._lock:
            if self.result.stop is not None:
                return
            self.result.stop = reason
            self.result.message = message
        # INFO: the final summary line says it again; the --log-file keeps this one.
        logger.info("stopping the run: %s", message)
        if (
            reason
            in (
                StopReason.CANCELLED,
                StopReason.AUTH,
                StopReason.CONFIG,
                StopReason.STATE,
                StopReason.RETRY_AFTER,
            )
            and self.on_stop is not None
        ):
            self.on_stop()  # wake requests still waiting for a slot: they were never sent
        self._wake.set()

    # -- one POST ------------------------------------------------------------------------------

    def _post(self, item: SendItem) -> None:
        action = item.action
        record = self.ledger.mark_intent(
            self.scope,
            item.key,
            kind=action.kind.value,
            request_hash=action.request_hash,
            before_image=action.before_image,
            source_file=self.source_file,
            source_row=item.source_row,
            section_id=action.section_id,
        )
        item.attempts = record.attempts
        if self.journal is not None and action.kind is ActionKind.UPDATE:
            self.journal.intent(self.run_id, action)  # the before-image, before the PUT
        with self._lock:
            self._attempts_now[item.source_row] += 1
        execute = WRITE_KINDS[action.kind].execute
        try:
            section_id = call_create(lambda: execute(self.client, action), self.policy)
        except Cancelled:
            self._not_sent(item, "cancelled before it was sent")
        except Exception as exc:  # every other failure is judged in one place: retry.py
            judgement = judge_write_failure(exc, self.policy)
            if judgement.verdict is Verdict.RECONCILE:
                if not isinstance(exc, ImporterError):
                    logger.exception("row %d: unexpected error while sending", item.source_row)
                self._unknown_outcome(item, judgement.message)
            elif judgement.verdict is Verdict.REJECTED:
                status = getattr(exc, "status", None)
                self.ledger.mark(self.scope, item.key, LedgerStatus.FAILED, error=judgement.message)
                self._finish(item, RowStatus.FAILED, http_status=status, errors=judgement.message)
                self._note_answer()
            else:  # REQUEUE or STOP: certainly not applied
                self._not_sent(item, str(exc))
                wait = getattr(exc, "retry_after", None)
                if judgement.stop == "retry_after" and wait and self.on_long_wait is not None:
                    self.on_long_wait(float(wait))  # the server's daily limit: runs wait for it
                if judgement.stop is not None:
                    self._stop(StopReason(judgement.stop), judgement.message)
                else:
                    self._requeue(item)
            self._count_failure(judgement.failure)
        else:
            self._count_failure(False)
            self._took_effect(item, section_id, http_status=200)
            logger.debug("row %d: section %d", item.source_row, section_id)
            self._note_answer()

    def _took_effect(self, item: SendItem, section_id: int, **outcome: Any) -> None:
        """Record a write that took effect: the ledger, the run journal, the row."""
        done = WRITE_KINDS[item.action.kind].done
        self.ledger.mark(self.scope, item.key, LedgerStatus(done.value), section_id=section_id)
        if self.journal is not None and item.action.kind in JOURNALED:
            self.journal.written(self.run_id, item.action, section_id)
        self._finish(item, done, section_id=section_id, **outcome)

    def _unknown_outcome(self, item: SendItem, why: str) -> None:
        """The request may have been applied: wait the grace period, then reconcile.

        The grace runs from the answer, not from the intent: the request may have left much
        later (waiting for a pacing slot, a Retry-After), and the server may still commit it
        a while after answering.
        """
        answered = self.clock()
        item.due_at = answered + self.settings.reconcile_grace
        self.ledger.mark(self.scope, item.key, LedgerStatus.AMBIGUOUS, error=why, sent_at=answered)
        logger.info("row %d: outcome unknown (%s); will reconcile", item.source_row, why)
        with self._lock:
            self._waiting[item.key[0]].append(item)
            self.result.unclear += 1
        self._note_answer()

    def _not_sent(self, item: SendItem, why: str) -> None:
        """The POST certainly did not apply: give the row back as pending."""
        self.ledger.mark(self.scope, item.key, LedgerStatus.PENDING, error=why, undo_attempt=True)
        item.due_at = None
        with self._lock:
            self._attempts_now[item.source_row] -= 1
            self.result.outcomes.setdefault(
                item.source_row,
                RowOutcome(item.source_row, item.key, item.title, RowStatus.PENDING, errors=why),
            )

    def _requeue(self, item: SendItem) -> None:
        with self._lock:
            self.result.outcomes.pop(item.source_row, None)
            self._queue.append(item)

    def _note_answer(self) -> None:
        """A POST was answered (created, rejected or unknown): count it for the write rate."""
        now = self.clock()
        with self._lock:
            self.result.posts += 1
            if self.result.first_post_at is None:
                self.result.first_post_at = now
            self.result.last_post_at = now

    def _count_failure(self, failed: bool) -> None:
        """The run-level breaker (retry.Breaker): consecutive failures stop the run."""
        if self._breaker.record(failed):
            self._stop(
                StopReason.BREAKER,
                f"{self._breaker.count} server or network failures in a row; "
                "run the same command again later to continue",
            )

    # -- reconcile ----------------------------------------------------------------------------

    def _reconcile(self, course_id: int) -> None:
        started = self.clock()
        try:
            sections = list_course(self.client, course_id)
        except Cancelled:
            self._done_reconciling(course_id)
            return
        except AuthError as exc:
            self._done_reconciling(course_id)
            self._stop(StopReason.AUTH, str(exc))
            return
        except ThrottledError as exc:
            if not is_safe_to_resend(exc, self.policy):  # a wait longer than --max-retry-after
                self._done_reconciling(course_id)
                self._stop(
                    StopReason.RETRY_AFTER,
                    f"listing course {course_id} was throttled "
                    f"beyond the cap ({exc}); run the same command again later",
                )
                return
            self._listing_failed(course_id, exc)  # throttled on every try: later, like any read
        except Exception as exc:  # reads are retried already (retry.call_read); try later
            self._listing_failed(course_id, exc)
        else:
            self._settle_listed(course_id, sections, started)

    def _listing_failed(self, course_id: int, exc: Exception) -> None:
        """A listing failed after its own retries: look again later, or leave the course's
        unknown rows `ambiguous` for the next run after MAX_LIST_FAILURES."""
        logger.warning(
            "listing course %d failed (%s); will try again", course_id, type(exc).__name__
        )
        self._count_failure(True)
        with self._lock:
            self._list_failures[course_id] += 1
            if self.result.stop is not None or self._list_failures[course_id] >= MAX_LIST_FAILURES:
                # Leave them `ambiguous`: the next run's plan listing reconciles them.
                self._abandoned.extend(self._waiting.pop(course_id, []))
            for item in self._waiting.get(course_id, []):
                item.due_at = self.clock() + self.settings.reconcile_grace  # look later
        self._done_reconciling(course_id)

    def _settle_listed(self, course_id: int, sections: list[ServerSection], started: float) -> None:
        """Decide each action waiting on this course from its fresh listing."""
        with self._lock:
            self.result.reconciles += 1
            items = self._waiting.pop(course_id, [])
        still_waiting: list[SendItem] = []
        for item in items:
            found = WRITE_KINDS[item.action.kind].reconcile(item.action, sections).applied
            if len(found) == 1:
                self._took_effect(item, found[0].id, note="took effect after an unclear answer")
            elif len(found) >= 2:
                ids = ", ".join(str(s.id) for s in found)
                text = f"{len(found)} sections match this row (Ids {ids}); remove the extra ones"
                self.ledger.mark(self.scope, item.key, LedgerStatus.FAILED, error=text)
                self._finish(item, RowStatus.DUPLICATE_EXISTS, section_id=found[0].id, errors=text)
            elif item.due_at is not None and started < item.due_at:
                still_waiting.append(item)  # absent, but too early to conclude
            else:
                self._retry_or_give_up(item)
        with self._lock:
            if still_waiting:
                self._waiting[course_id].extend(still_waiting)
        self._done_reconciling(course_id)

    def _done_reconciling(self, course_id: int) -> None:
        with self._lock:
            self._reconciling.discard(course_id)
            if not self._waiting.get(course_id):
                self._waiting.pop(course_id, None)
        self._wake.set()

    def _retry_or_give_up(self, item: SendItem) -> None:
        """Absent after the grace period: post again, unless it was tried too often."""
        if item.attempts >= self.settings.max_attempts:
            text = (
                f"sent {item.attempts} times without a confirmed answer and not found on "
                "the server; check the course in Nexudus, then run again"
            )
            self.ledger.mark(self.scope, item.key, LedgerStatus.FAILED, error=text)
            self._finish(item, RowStatus.FAILED, errors=text)
            return
        item.due_at = None
        item.proven_absent = False
        with self._lock:
            self._queue.appendleft(item)

    # -- results -------------------------------------------------------------------------------

    def _finish(
        self,
        item: SendItem,
        status: RowStatus,
        *,
        section_id: int | None = None,
        http_status: int | None = None,
        errors: str = "",
        note: str = "",
    ) -> None:
        with self._lock:
            outcome = RowOutcome(
                item.source_row,
                item.key,
                item.title,
                status,
                section_id=section_id,
                http_status=http_status,
                attempts=self._attempts_now.get(item.source_row, 0),
                errors=errors,
            )
            self.result.outcomes[item.source_row] = outcome
        if note:
            logger.info("row %d: %s", item.source_row, note)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def _settle_leftovers(self) -> None:
        """After a stop: rows still waiting are `ambiguous`, rows never sent are `pending`."""
        with self._lock:
            waiting = [i for items in self._waiting.values() for i in items] + self._abandoned
            self._abandoned = []
            queued = list(self._queue)
            self._waiting.clear()
            self._queue.clear()
        for item in waiting:
            self._finish(
                item,
                RowStatus.AMBIGUOUS,
                errors="sent, outcome unknown; the next run reconciles it",
            )
        for item in queued:
            if (
                item.source_row not in self.result.outcomes
                or self.result.outcomes[item.source_row].status != RowStatus.PENDING
            ):
                self._finish(item, RowStatus.PENDING, errors="not sent yet; run again")
