"""One file, start to finish: validate, plan, send, report (the one call behind the CLI).

`run_job` is what `sections plan`, `sections import`, each file of `sections batch` and a
notebook call. It never prints; it reports progress through a callback and returns a
`JobResult` whose `exit_code` the CLI turns into the process exit code.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from importer import __version__
from importer.client import Credentials, NexudusClient
from importer.clock import utc_iso
from importer.codes import ATTENTION_STATUSES, UNFINISHED_STATUSES, ExitCode, RowStatus
from importer.engine.actions import Action, ActionKind
from importer.engine.budget import WriteBudget, open_daily, plan_outlook, write_gate
from importer.engine.connect import connect
from importer.engine.courses import course_names, needs_names, resolve
from importer.engine.journal import Journal
from importer.engine.ledger import UNRESOLVED, Key, Ledger, LedgerRecord, read_records
from importer.engine.locks import account_lock, state_lock
from importer.engine.plan import (
    ServerState,
    adoptions,
    answered_findings,
    classify,
    fetch_server_state,
    unsettled_wait,
)
from importer.engine.progress import ProgressCallback, ProgressTracker
from importer.engine.rows import InvalidRow, RowOutcome, RowState, plan_frame, results_frame
from importer.engine.send import POLL_SECONDS, Sender, SendItem, SendResult, StopReason
from importer.engine.settings import JobSettings
from importer.engine.verify import verify_after_write
from importer.errors import (
    AuthError,
    ConfigError,
    ImporterError,
    ThrottledError,
    TlsError,
    TransportError,
)
from importer.pacing import Cancelled, Pacer
from importer.report import RunReport, write_report
from importer.retry import RetryPolicy
from importer.validate import ValidationResult, ValidRow, validate_file


@dataclass
class JobResult:
    """What one run did: exit code, where the report is, the frames and one line for people."""

    exit_code: ExitCode
    report_dir: Path | None
    summary: dict[str, object]
    results: pd.DataFrame
    message: str
    plan: pd.DataFrame | None = None


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _cell(value: object) -> object:
    return None if value is None or pd.isna(value) else value  # type: ignore[call-overload]


def _invalid_rows(validation: ValidationResult) -> list[InvalidRow]:
    """(source_row, course_id, display_order, title) of every row that failed validation."""
    table = validation.table
    bad = table[table["source_row"].isin(validation.invalid_rows)]
    return [
        (
            int(r["source_row"]),
            _cell(r.get("CourseId")),
            _cell(r.get("DisplayOrder")),
            _cell(r.get("Title")),
        )
        for _, r in bad.iterrows()
    ]


def _exit_code(statuses: list[RowStatus], stop: StopReason | None) -> ExitCode:
    if stop is not None:
        return stop.exit_code
    present = set(statuses)
    if present & UNFINISHED_STATUSES:
        return ExitCode.RESUMABLE
    if present & ATTENTION_STATUSES:
        return ExitCode.ROWS_FAILED
    return ExitCode.OK


def _message(code: ExitCode, counts: Counter[str], stop_message: str, dry_run: bool) -> str:
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n)
    what = "plan" if dry_run else "import"
    if stop_message:
        return f"{what} stopped: {stop_message} ({parts})"
    if code == ExitCode.OK:
        return f"{what} finished: {parts}" if parts else f"{what} finished: no rows"
    if code == ExitCode.ROWS_FAILED:
        return f"{what} finished, some rows need attention (see errors.csv): {parts}"
    if code == ExitCode.RESUMABLE:
        return f"{what} incomplete, run the same command again to continue: {parts}"
    return f"{what}: {parts}"


def _id_range(ids: Iterable[int | None]) -> dict[str, int] | None:
    """The smallest and largest section Id of the run's rows (exact integers, even > 2**31)."""
    known = [int(i) for i in ids if i is not None]
    return {"min": min(known), "max": max(known)} if known else None


def _server_failure(exc: BaseException, *, api_url: str, reached: bool) -> tuple[ExitCode, str]:
    """Map a failure while reading the server (the plan phase) to an exit code and line.

    A server that never answered is a setting (wrong URL, DNS, firewall, outage) until shown
    otherwise: exit 3, so a scheduler that treats 4 as "will resume" does not wait forever.
    """
    if isinstance(exc, Cancelled):
        return ExitCode.RESUMABLE, "interrupted while reading the server; nothing was sent"
    if isinstance(exc, (AuthError, ConfigError, TlsError)):
        return ExitCode.CONFIG, str(exc)
    if isinstance(exc, TransportError) and not (reached or exc.connected):
        return ExitCode.CONFIG, (
            f"could not reach the API at {api_url} ({exc}): "
            "check --api-url, the network and the service's status"
        )
    if isinstance(exc, ThrottledError):
        return ExitCode.RESUMABLE, f"the API throttled the listing beyond the cap ({exc})"
    return ExitCode.RESUMABLE, (
        f"could not read the server ({exc}); check --api-url and the "
        "network, then run the same command again"
    )


def run_job(
    settings: JobSettings,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    budget: WriteBudget | None = None,
) -> JobResult:
    """Validate, plan and (unless dry_run) import one file; write the report; never print.

    Raises ImporterError subclasses only for "cannot continue" problems (unreadable input:
    InputError; lock held: LockedError; no credentials: AuthError; state or report folder
    unusable: ConfigError); everything else comes back as a JobResult with a report.
    """
    started_at = utc_iso()
    path = Path(settings.input)
    validation = validate_file(path, sheet=settings.sheet, delimiter=settings.delimiter)
    invalid = _invalid_rows(validation)
    valid = validation.valid_rows()
    run = _JobRun(settings, validation, invalid, valid, started_at, progress, budget)
    run.tracker.emit("validate")
    if not validation.ok and not settings.skip_invalid:
        return run.finish(
            ExitCode.INVALID_INPUT,
            stop_message=(
                f"{len(invalid)} invalid row(s) and {validation.errors} error(s); nothing was "
                "sent (fix them: see errors.csv in the report, or `sections validate`; or use "
                "--skip-invalid to import the valid rows)"
            ),
        )
    if not valid:  # --skip-invalid with nothing valid: nothing can be imported
        return run.finish(
            ExitCode.INVALID_INPUT,
            stop_message=f"no valid row in {len(invalid)} row(s); nothing was sent: see errors.csv",
        )
    credentials = settings.credentials or Credentials.from_env()
    if settings.dry_run:  # read the ledger (never write it): changed_since_import needs it
        known = read_records(settings.resolved_state_dir(), settings.scope)
        return run.execute(credentials, cancel, ledger=None, known=known)
    state_dir = settings.resolved_state_dir()
    holder = str(path.resolve())
    account = account_lock(
        settings.scope,
        lock_dir=settings.target.lock_dir,
        wait=settings.target.wait_lock,
        holder=holder,
    )
    with state_lock(state_dir, holder=holder), account, Ledger.open(state_dir) as ledger:
        run.journal = Journal(ledger)
        run.run_id = run.journal.begin_run(settings.scope, str(path.resolve()))
        return run.execute(credentials, cancel, ledger=ledger, known=ledger.records(settings.scope))


logger = logging.getLogger(__name__)


class _JobRun:
    """The state of one run_job call (kept out of run_job to keep each step short)."""

    def __init__(
        self,
        settings: JobSettings,
        validation: ValidationResult,
        invalid: list[InvalidRow],
        valid: list[ValidRow],
        started_at: str,
        progress: ProgressCallback | None,
        budget: WriteBudget | None,
    ) -> None:
        self.settings = settings
        self.validation = validation
        self.invalid = invalid
        self.valid = valid
        self.started_at = started_at
        self.budget = budget if budget is not None else WriteBudget(settings.send.max_writes)
        self.tracker = ProgressTracker(progress, len(valid), settings.pacing.writes_per_minute)
        self.plan: pd.DataFrame | None = None
        self.course_names: dict[int, str] = {}
        self.findings = validation.findings  # less those the server answers (after the plan)
        self.verified: bool | None = None  # None: nothing was written, nothing to verify
        self.client: NexudusClient | None = None
        self.send: SendResult | None = None
        self.journal: Journal | None = None  # the run journal (undo), when the run may write
        self.run_id = ""
        self.outlook = ""  # a plan: the writes it needs against the daily budget
        self.rows: dict[int, RowState] = {
            row.source_row: RowState(
                row.source_row,
                row.key[0],
                row.key[1],
                row.payload.get("Title"),
                RowStatus.PENDING,
            )
            for row in valid
        }
        for bad in invalid:
            self.rows[bad[0]] = RowState.invalid(bad)

    # -- the steps ----------------------------------------------------------------------------

    def execute(
        self,
        credentials: Credentials,
        cancel: threading.Event | None,
        *,
        ledger: Ledger | None,
        known: dict[Key, LedgerRecord],
    ) -> JobResult:
        connection = connect(self.settings, credentials)
        pacer, policy = connection.pacer, connection.policy
        finished = threading.Event()
        if cancel is not None:
            threading.Thread(
                target=_watch_cancel,
                args=(cancel, finished, pacer),
                daemon=True,
                name="sections-cancel",
            ).start()
        try:
            with connection.client as client:
                self.client = client
                return self._plan_and_send(client, pacer, policy, cancel, ledger, known)
        finally:
            finished.set()

    def _plan_and_send(
        self,
        client: NexudusClient,
        pacer: Pacer,
        policy: RetryPolicy,
        cancel: threading.Event | None,
        ledger: Ledger | None,
        known: dict[Key, LedgerRecord],
    ) -> JobResult:
        s = self.settings
        self.tracker.emit("plan")
        listed_at = time.time()
        refused: list[Action] = []  # rows whose Course name does not resolve
        try:
            if needs_names(self.valid):
                named = course_names(client.list_courses())
                self.valid, refused = resolve(self.valid, named)
                for row in self.valid:
                    self.rows[row.source_row].course_id = row.key[0]
            courses = {row.key[0] for row in self.valid}
            server = fetch_server_state(client, courses, full=s.update)
            if ledger is not None and self._settle(server, known, cancel):
                listed_at = time.time()
                server = fetch_server_state(client, courses, full=s.update)
            self.course_names = server.course_names
            self.findings = answered_findings(
                self.findings, server, {r.source_row: r.course_id for r in self.rows.values()}
            )
        except (ImporterError, Cancelled) as exc:
            reached = client.stats.answered > 0
            code, text = _server_failure(exc, api_url=s.target.api_url, reached=reached)
            return self.finish(code, stop_message=text)
        actions = classify(
            self.valid, server.sections, known, source_file=str(s.input), update=s.update
        )
        actions = sorted([*actions, *refused], key=lambda a: a.source_row)
        self.plan = plan_frame(actions, self.invalid)
        for action in actions:
            state = self.rows[action.source_row]
            state.changes = action.changes
            if not action.is_write or s.dry_run:
                state.status = action.kind.row_status
                state.section_id = action.section_id
                state.errors = action.reason if state.status in ATTENTION_STATUSES else ""
                self.tracker.counts[state.status.value] += 1
        if s.dry_run or ledger is None:
            self.outlook = plan_outlook(
                s.scope,
                s.send.writes_per_day,
                sum(a.is_write for a in actions),
                lock_dir=s.target.lock_dir,
                clock=s.clock or time.time,
            )
            return self.finish(_exit_code([r.status for r in self.rows.values()], None))
        marks = adoptions(actions, known, source_file=str(s.input))
        if marks:
            ledger.mark_many(s.scope, marks)
        self._journal_landed(actions, known)
        items = [
            self._send_item(action, known.get(action.key), listed_at)
            for action in actions
            if action.is_write
        ]
        return self._send(client, pacer, policy, cancel, ledger, items)

    def _journal_landed(self, actions: list[Action], known: dict[Key, LedgerRecord]) -> None:
        """Creates an earlier run left unanswered and this plan found: this run's, for undo
        (an update's intent is in the journal already, with its before-image)."""
        if self.journal is None:
            return
        for action in actions:
            previous = known.get(action.key)
            if previous is None or action.kind is not ActionKind.NONE:
                continue
            if previous.status in UNRESOLVED and previous.kind == "create":  # it landed
                self.journal.written(self.run_id, action, int(action.section_id or 0))

    def _settle(
        self, server: ServerState, known: dict[Key, LedgerRecord], cancel: threading.Event | None
    ) -> bool:
        """Wait out a write another run of this sheet may have left in flight (see
        plan.unsettled_wait); True when it waited, so the courses must be listed again."""
        s = self.settings
        window = s.target.read_timeout + s.send.reconcile_grace
        wait = unsettled_wait(server, self.valid, known, window=window, now=time.time())
        if wait <= 0:
            return False
        logger.warning(
            "sections of this sheet were created moments ago with no record in this state "
            "folder: waiting %.0f s for any write still in flight, then listing again",
            wait,
        )
        if s.sleep is not None:
            s.sleep(wait)
        elif (cancel or threading.Event()).wait(wait):
            raise Cancelled()
        return True

    def _send_item(
        self, action: Action, previous: LedgerRecord | None, listed_at: float
    ) -> SendItem:
        """A write to send; one sent before with no answer is reconciled first.

        The plan's listing happened after `listed_at`: a row sent before listed_at - grace
        that the listing did not show is certainly absent (`proven_absent`), so it may be
        sent again at once; one sent more recently is listed again once its grace is over.
        """
        if previous is None or previous.status not in UNRESOLVED:
            return SendItem(action)
        grace = self.settings.send.reconcile_grace
        sent_at = previous.sent_at or 0.0
        if listed_at - sent_at >= grace:
            return SendItem(action, attempts=previous.attempts, proven_absent=True)
        return SendItem(action, attempts=previous.attempts, due_at=sent_at + grace)

    def _send(
        self,
        client: NexudusClient,
        pacer: Pacer,
        policy: RetryPolicy,
        cancel: threading.Event | None,
        ledger: Ledger,
        items: list[SendItem],
    ) -> JobResult:
        s = self.settings
        self.tracker.to_send = len(items)
        self.tracker.emit("send")

        def on_outcome(outcome: RowOutcome) -> None:
            self.tracker.settled(outcome.status.value, sent=outcome.attempts > 0)

        daily = open_daily(s)
        sender = Sender(
            client=client,
            ledger=ledger,
            ledger_scope=s.scope,
            source_file=str(s.input),
            policy=policy,
            settings=s.send,
            take_write=write_gate(self.budget, daily),
            on_long_wait=daily.server_asked_to_wait,
            on_outcome=on_outcome,
            cancel=cancel,
            on_stop=pacer.cancel,
            journal=self.journal,
            run_id=self.run_id,
        )
        try:
            self.send = sender.run(items)
        finally:
            daily.close()
        for outcome in self.send.outcomes.values():
            state = self.rows[outcome.source_row]
            state.status = outcome.status
            state.section_id = outcome.section_id
            state.http_status = outcome.http_status
            state.attempts = outcome.attempts
            state.errors = outcome.errors
        if self.send.posts and self.send.stop is None:  # someone else may have posted too
            self.verified = verify_after_write(client, self.rows.values())
        code = _exit_code([r.status for r in self.rows.values()], self.send.stop)
        return self.finish(code, stop_message=self.send.message)

    def finish(self, code: ExitCode, *, stop_message: str = "") -> JobResult:
        """Build the results and summary, write the report (also after a stop)."""
        s = self.settings
        results = results_frame(self.rows.values())
        counts: Counter[str] = Counter(str(v) for v in results["status"])
        message = _message(code, counts, stop_message, s.dry_run)
        stats = self.client.stats.as_dict() if self.client is not None else {}
        summary: dict[str, object] = {
            "started_at": self.started_at,
            "finished_at": utc_iso(),
            "exit_code": int(code),
            "api_url": s.target.api_url,
            "tool_version": __version__,
            "input": str(s.input),
            "input_sha256": _sha256(Path(s.input)),
            "requests": stats.get("requests", {}),
            "statuses": stats.get("statuses", {}),
            "throttled_409s": stats.get("throttled", 0),
            "write_rate_per_minute": round(self.send.write_rate_per_minute, 2)
            if self.send
            else 0.0,
            "posts": self.send.posts if self.send else 0,
            "unclear_answers": self.send.unclear if self.send else 0,
            "reconcile_listings": self.send.reconciles if self.send else 0,
            "writes_per_minute": s.pacing.writes_per_minute,
            "max_writes": self.budget.limit,
            "writes_used": self.budget.used,
            "concurrency": s.send.concurrency,
            "dry_run": s.dry_run,
            "stop_reason": self.send.stop.value if self.send and self.send.stop else None,
            "settings": {k: _plain(v) for k, v in s.options().items()},
            "message": message,
            "course_names": {str(k): v for k, v in sorted(self.course_names.items())},
            "verified_after_write": self.verified,
            "section_ids": _id_range(r.section_id for r in self.rows.values()),
            "run_id": self.run_id or None,  # `sections undo` of this report folder needs it
            "state_dir": str(s.resolved_state_dir().resolve()),
            "update": s.update,
            "daily_budget": self.outlook or None,
        }
        report_dir: Path | None = None
        final = Counter(r.status.value for r in self.rows.values() if r.status != RowStatus.INVALID)
        self.tracker.counts = final  # the last bar shows what the summary table shows
        if s.write_report:
            self.tracker.emit("report")
            report_dir = write_report(
                RunReport(
                    sheet=self.validation.sheet,
                    results=results,
                    findings=self.findings,
                    summary=summary,
                    plan=self.plan,
                ),
                s.resolved_report_dir(),
            )
        if self.journal is not None:
            self.journal.finish_run(self.run_id, str(report_dir) if report_dir else None)
        self.tracker.emit("done")
        return JobResult(code, report_dir, summary, results, message, plan=self.plan)


def _plain(value: object) -> object:
    """A setting as JSON holds it (paths as text)."""
    return str(value) if isinstance(value, Path) else value


def _watch_cancel(cancel: threading.Event, finished: threading.Event, pacer: Pacer) -> None:
    """Ctrl-C / cancel: wake every request still waiting for a slot (it was never sent)."""
    while not finished.is_set():
        if cancel.wait(POLL_SECONDS):
            pacer.cancel()
            return
