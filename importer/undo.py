"""`sections undo REPORT_DIR`: take back what one import run wrote.

The report folder names the run (summary.json's `run_id` and `state_dir`); the run journal in
that state folder (importer.engine.journal) lists the sections it created (deleted now) and
updated (put back to their before-image). A section changed on the server after the run
(values other than what the run wrote, or an `UpdatedOn` later than this tool's last write to
it) is left alone and reported `edited_since`, unless `force`. The deletes and restores are
actions (importer.engine.actions) sent by the same Sender as an import: paced, retried,
exactly once, resumable (a killed undo is finished by running it again). A run whose every
write is undone is marked undone: a second undo has nothing to do.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from importer.clock import parse_api_time, utc_iso, utc_words
from importer.codes import ExitCode, RowStatus
from importer.engine.actions import Action, ActionKind, undo_action
from importer.engine.budget import WriteBudget, open_daily, write_gate
from importer.engine.connect import connect
from importer.engine.diff import changes
from importer.engine.journal import UNDO_DONE, Journal, RunWrite, UndoLedger
from importer.engine.ledger import LEDGER_FILENAME, Ledger
from importer.engine.locks import account_lock, state_lock
from importer.engine.match import ServerSection
from importer.engine.plan import fetch_server_state
from importer.engine.progress import ProgressCallback, ProgressTracker
from importer.engine.rows import RowState, results_frame
from importer.engine.send import Sender, SendItem, SendResult
from importer.engine.settings import JobSettings
from importer.errors import ConfigError, InputError
from importer.findings import findings_frame
from importer.read import Sheet
from importer.report import REPORT_FOLDER_NAME, RunReport, write_report

#: Clock difference allowed between this machine and the server when comparing UpdatedOn.
UPDATED_ON_SLACK = 120.0


@dataclass
class UndoResult:
    exit_code: ExitCode
    message: str
    report_dir: Path | None
    results: pd.DataFrame


@dataclass(frozen=True)
class UndoTarget:
    """What a report folder says about its run."""

    run_id: str
    state_dir: Path
    input: Path
    report_dir: Path


def read_target(report_dir: Path, state_dir: Path | None = None) -> UndoTarget:
    """The run a report folder names; InputError (exit 2) when it names none."""
    folder = Path(report_dir)
    summary_path = folder / "summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        if (
            folder.is_dir()
            and REPORT_FOLDER_NAME.fullmatch(folder.name)
            and not summary_path.exists()
        ):
            raise InputError(
                f"{report_dir} is an unfinished report: its run was stopped before it wrote "
                "summary.json, and its writes passed to the next run of the same file; undo "
                "that run's report"
            ) from None
        raise InputError(
            f"{report_dir} is not the report folder of an import run (no readable summary.json)"
        ) from None
    run_id = summary.get("run_id") if isinstance(summary, dict) else None
    if not run_id:
        raise InputError(
            f"{report_dir} is the report of a plan or of a run that wrote nothing: "
            "there is nothing to undo"
        )
    folder = state_dir or Path(str(summary.get("state_dir") or ""))
    return UndoTarget(str(run_id), folder, Path(str(summary.get("input"))), Path(report_dir))


def undo_run(
    target: UndoTarget,
    settings: JobSettings,
    *,
    dry_run: bool = False,
    force: bool = False,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> UndoResult:
    """Plan (and unless dry_run, send) the undo of one run; write its report folder.
    `progress` gets ProgressEvents as an import's callback does."""
    if not (target.state_dir / LEDGER_FILENAME).is_file():
        raise ConfigError(
            f"the state folder {target.state_dir} of run {target.run_id} is gone: undo needs "
            "the ledger that run kept (--state-dir if it was moved)"
        )
    holder = f"undo {target.run_id}"
    account = account_lock(
        settings.scope,
        lock_dir=settings.target.lock_dir,
        wait=settings.target.wait_lock,
        holder=holder,
    )
    with (
        state_lock(target.state_dir, holder=holder),
        account,
        Ledger.open(target.state_dir) as ledger,
    ):
        journal = Journal(ledger)
        run = journal.run(target.run_id)
        if run is None:
            raise ConfigError(
                f"the ledger in {target.state_dir} has no record of run {target.run_id} "
                "(was the state folder replaced?): it cannot be undone from here"
            )
        if run.undone_at is not None:
            return UndoResult(
                ExitCode.OK,
                f"run {target.run_id} was undone already ({utc_words(run.undone_at)}); "
                "nothing to do",
                None,
                results_frame([]),
            )
        return _Undo(target, settings, journal, force, dry_run).run(cancel, progress)


class _Undo:
    def __init__(
        self,
        target: UndoTarget,
        settings: JobSettings,
        journal: Journal,
        force: bool,
        dry_run: bool,
    ) -> None:
        self.target = target
        self.settings = settings
        self.journal = journal
        self.force = force
        self.dry_run = dry_run
        self.writes = journal.writes(target.run_id)
        self.rows: dict[int, RowState] = {}

    def run(self, cancel: threading.Event | None, progress: ProgressCallback | None) -> UndoResult:
        s = self.settings
        connection = connect(s)
        pacer, policy = connection.pacer, connection.policy
        send: SendResult | None = None
        with connection.client as client:
            courses = {w.course_id for w in self.writes}
            server = fetch_server_state(client, courses, full=True)
            listed = {sec.id: sec for secs in server.sections.values() for sec in secs or ()}
            actions = self._decide(listed, self.journal.last_written())
            tracker = ProgressTracker(progress, len(self.rows), s.pacing.writes_per_minute)
            planned = {RowStatus.DELETE, RowStatus.RESTORE}  # still to send
            tracker.counts.update(
                str(r.status) for r in self.rows.values() if r.status not in planned
            )
            if actions and not self.dry_run:
                tracker.to_send = len(actions)
                tracker.emit("send")
                daily = open_daily(s)
                sender = Sender(
                    client=client,
                    ledger=UndoLedger(self.journal, self.target.run_id),
                    ledger_scope=s.scope,
                    source_file=str(self.target.report_dir),
                    policy=policy,
                    settings=s.send,
                    take_write=write_gate(WriteBudget(s.send.max_writes), daily),
                    cancel=cancel,
                    on_stop=pacer.cancel,
                    on_outcome=lambda o: tracker.settled(o.status.value, sent=o.attempts > 0),
                )
                attempts = {w.section_id: w.undo_attempts for w in self.writes}
                items = [SendItem(a, attempts=attempts.get(a.key[1], 0)) for a in actions]
                try:
                    send = sender.run(items)
                finally:
                    daily.close()
                for outcome in send.outcomes.values():
                    state = self.rows[outcome.source_row]
                    state.status = outcome.status
                    state.http_status = outcome.http_status
                    state.attempts = outcome.attempts
                    state.errors = outcome.errors
            tracker.counts = Counter(str(r.status) for r in self.rows.values())
            tracker.emit("done")
        return self._finish(send)

    def _decide(self, listed: dict[int, ServerSection], ours: dict[int, float]) -> list[Action]:
        actions: list[Action] = []
        for number, write in enumerate(self.writes, start=1):
            section = listed.get(write.section_id)
            kind = ActionKind.DELETE if write.kind == "create" else ActionKind.RESTORE
            state = RowState(
                number,
                write.course_id,
                None if section is None else section.display_order,
                write.title,
                RowStatus(kind.value),
                section_id=write.section_id,
            )
            self.rows[number] = state
            status, why = self._judge(write, section, ours)
            if status is not None:
                state.status, state.errors = status, why
                if not self.dry_run and status in (RowStatus.DELETED, RowStatus.RESTORED):
                    self.journal.undo_mark(write.run_id, write.section_id, UNDO_DONE)
                continue
            before = write.before or {}
            if kind is ActionKind.RESTORE and section is not None:
                state.changes = "; ".join(
                    f"{k}: back to {v!r}" for k, (_, v) in changes(section.record, before).items()
                )
            actions.append(
                undo_action(kind, number, write.course_id, write.section_id, write.title, before)
            )
        return actions

    def _judge(
        self, write: RunWrite, section: ServerSection | None, ours: dict[int, float]
    ) -> tuple[RowStatus | None, str]:
        """A status when nothing is to be sent (done, or left alone), else (None, "")."""
        done = RowStatus.DELETED if write.kind == "create" else RowStatus.RESTORED
        if write.undo_state == UNDO_DONE:
            return done, "undone by an earlier undo"
        if section is None:
            if write.kind == "create":
                return RowStatus.DELETED, "already gone from the server"
            return RowStatus.EDITED_SINCE, "deleted on the server after the run: nothing to restore"
        if write.kind == "update" and not changes(section.record, write.before or {}):
            return RowStatus.RESTORED, "already holds its values from before the run"
        if self.force:
            return None, ""
        edited = changes(section.record, write.after or {})
        updated = parse_api_time(section.record.get("UpdatedOn"))
        last = max(write.written_at, ours.get(write.section_id, 0.0))
        if edited:
            fields = ", ".join(edited)
            if ours.get(write.section_id, 0.0) > write.written_at + 1:  # one of our later runs
                return RowStatus.EDITED_SINCE, (
                    f"changed by a later run of this tool ({fields}): undo that run first, or "
                    "use --force"
                )
            return RowStatus.EDITED_SINCE, f"changed on the server after the run ({fields}); " + (
                "use --force to undo it anyway"
            )
        if updated is not None and updated.timestamp() > last + UPDATED_ON_SLACK:
            return RowStatus.EDITED_SINCE, (
                "saved on the server after the run (UpdatedOn); use --force to undo it anyway"
            )
        return None, ""

    def _finish(self, send: SendResult | None) -> UndoResult:
        results = results_frame(self.rows.values())
        counts = Counter(str(v) for v in results["status"])
        statuses = {RowStatus(v) for v in counts}
        if send is not None and send.stop is not None:
            code = send.stop.exit_code
        elif statuses & {RowStatus.EDITED_SINCE, RowStatus.FAILED}:
            code = ExitCode.ROWS_FAILED
        elif statuses & {RowStatus.PENDING, RowStatus.AMBIGUOUS}:
            code = ExitCode.RESUMABLE
        else:
            code = ExitCode.OK
        finished = statuses <= {RowStatus.DELETED, RowStatus.RESTORED}
        if finished and not self.dry_run:
            self.journal.mark_undone(self.target.run_id)
        what = "undo plan" if self.dry_run else "undo finished"
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
        message = f"{what}: {parts}" + (f" ({send.message})" if send and send.message else "")
        summary: dict[str, object] = {
            "undo_of": self.target.run_id,
            "undone_report": str(self.target.report_dir),
            "dry_run": self.dry_run,
            "force": self.force,
            "exit_code": int(code),
            "message": message,
            "writes": send.posts if send else 0,
            "finished_at": utc_iso(),
            "api_url": self.settings.target.api_url,
        }
        report_dir = write_report(
            RunReport(
                sheet=_sheet_of(self.target, results),
                results=results,
                findings=findings_frame(),
                summary=summary,
            ),  # fmt: skip
            self.settings.resolved_report_dir(),
        )
        return UndoResult(code, message, report_dir, results)


def _sheet_of(target: UndoTarget, results: pd.DataFrame) -> Sheet:
    """The undo's rows as a sheet, so the report is written like an import's."""
    raw = pd.DataFrame(
        {
            "source_row": results["source_row"].astype("int64"),
            "Course ID": results["course_id"].astype("string").fillna(""),
            "Section title": results["title"].astype("string").fillna(""),
        }
    )
    name = Path(f"undo-{target.report_dir.name}.csv")
    return Sheet(raw=raw, columns={}, unknown=[], findings=[], path=name, format="csv")
