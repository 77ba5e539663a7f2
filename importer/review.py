"""Notebook helpers: show a validated sheet, its course outlines, the unlock timeline, a plan.

The review notebook calls these and nothing else, so what a person sees in Jupyter is
built by the same tested code as the CLI's reports. Pure functions of the library's frames;
only `notebook_progress` and `report_links` know about Jupyter.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from importer.codes import DONE_STATUSES, NEEDS_FIX_STATUSES, RowStatus, Severity
from importer.columns import IMMEDIATE, SEQUENTIAL, TIMED, UNLOCK_TYPES
from importer.local_sandbox import sandbox_ledger_scope  # noqa: F401 - the notebook uses review.*

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pandas.io.formats.style import Styler

    from importer.engine.job import JobResult
    from importer.engine.progress import ProgressEvent
    from importer.validate import ValidationResult

ERROR_STYLE = "background-color: #f8d0d0; color: #7a0000"
WARNING_STYLE = "background-color: #fde9b8; color: #6b4a00"
PROBLEMS_COLUMN = "Problems"

#: Marker per unlock type in the timeline (Immediate, Sequential, Timed).
MARKERS: dict[int, str] = {IMMEDIATE: "o", SEQUENTIAL: ">", TIMED: "s"}


def unlock_in_words(unlock_type: object, days: object = None) -> str:
    """'on enrolment', 'after the previous section' or 'day 14' (what a member experiences)."""
    if unlock_type is None or pd.isna(unlock_type):  # type: ignore[call-overload]
        return "unknown (invalid unlock type)"
    code = int(unlock_type)  # type: ignore[call-overload]
    if code == IMMEDIATE:
        return "on enrolment"
    if code == SEQUENTIAL:
        return "after the previous section"
    if code == TIMED:
        missing = days is None or pd.isna(days)  # type: ignore[call-overload]
        return "day ? (days missing)" if missing else f"day {int(days)}"  # type: ignore[call-overload]
    return f"unknown ({code})"


# --------------------------------------------------------------------------- the sheet


def _row_problems(findings: pd.DataFrame) -> dict[int, list[tuple[str, str]]]:
    """source_row -> [(severity, message)], errors first (findings are sorted that way)."""
    out: dict[int, list[tuple[str, str]]] = {}
    rows = findings[findings["source_row"].notna()]
    for row, severity, message in zip(
        rows["source_row"], rows["severity"], rows["message"], strict=True
    ):
        out.setdefault(int(row), []).append((str(severity), str(message)))
    return out


def highlight_sheet(result: ValidationResult) -> Styler:
    """The sheet as typed, failing cells red (errors) or amber (warnings), plus a Problems
    column with each row's messages. Header problems (missing columns...) are the caption."""
    raw = result.sheet.raw
    frame = raw.set_index("source_row").rename_axis("Row")
    problems = _row_problems(result.findings)
    frame[PROBLEMS_COLUMN] = [
        "\n".join(
            ("✖ " if sev == Severity.ERROR else "⚠ ") + msg
            for sev, msg in problems.get(int(row), [])
        )
        for row in frame.index
    ]
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for row, column, severity in zip(
        result.findings["source_row"],
        result.findings["column"],
        result.findings["severity"],
        strict=True,
    ):
        if pd.isna(row) or int(row) not in styles.index:
            continue
        style = ERROR_STYLE if severity == Severity.ERROR else WARNING_STYLE
        targets = [PROBLEMS_COLUMN]
        if isinstance(column, str) and column in styles.columns:
            targets.append(column)
        for target in targets:
            if styles.at[int(row), target] != ERROR_STYLE:  # an error is never downgraded
                styles.at[int(row), target] = style
    header = result.findings[result.findings["source_row"].isna()]
    caption = f"{result.errors} error(s), {result.warnings} warning(s)"
    if len(header):
        caption += " — " + "; ".join(str(m) for m in header["message"])
    return (
        frame.style.format(escape="html", na_rep="")  # cells shown as typed, never as HTML
        .apply(lambda _: styles, axis=None)
        .set_properties(
            subset=[PROBLEMS_COLUMN], **{"white-space": "pre-wrap", "text-align": "left"}
        )
        .set_caption(caption)
    )


def course_outline(result: ValidationResult) -> pd.DataFrame:
    """Per course, its sections in display order with the unlock rule in words.

    Columns: course_id, display_order, title, unlock, source_row, valid. Rows whose course or
    order could not be read come last (valid False).
    """
    table = result.table
    outline = pd.DataFrame(
        {
            "course_id": table["CourseId"].astype("Int64"),
            "display_order": table["DisplayOrder"].astype("Int64"),
            "title": table["Title"],
            "unlock": [
                unlock_in_words(t, d)
                for t, d in zip(table["UnlockType"], table["UnlockAfterDays"], strict=True)
            ],
            "unlock_type": table["UnlockType"].astype("Int64"),
            "unlock_after_days": table["UnlockAfterDays"].astype("Int64"),
            "source_row": table["source_row"].astype("int64"),
            "valid": ~table["source_row"].isin(result.invalid_rows),
        }
    )
    return outline.sort_values(
        ["course_id", "display_order", "source_row"], na_position="last", kind="stable"
    ).reset_index(drop=True)


# --------------------------------------------------------------------------- timeline


def _unlock_days(group: pd.DataFrame) -> list[float]:
    """Earliest day each section can open: Sequential ones open no earlier than the previous.

    An invalid row's days are not trusted (e.g. 5000, out of range, would squash the whole
    axis): it is placed like a Sequential one, right where the previous section opens.
    """
    days: list[float] = []
    for unlock, after, valid in zip(
        group["unlock_type"], group["unlock_after_days"], group["valid"], strict=True
    ):
        if not valid:
            days.append(days[-1] if days else 0.0)
        elif pd.notna(unlock) and int(unlock) == TIMED:
            days.append(float(after) if pd.notna(after) else 0.0)
        elif pd.notna(unlock) and int(unlock) == SEQUENTIAL:
            days.append(days[-1] if days else 0.0)
        else:
            days.append(0.0)
    return days


def unlock_timeline(result: ValidationResult) -> Figure:
    """Days after enrolment (x) for every section, one line per course in display order.

    Markers show the unlock type; a Sequential section is drawn with an arrow from the
    section it waits for, so chains are visible. Only rows with a course, order and unlock
    type are drawn.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    outline = course_outline(result)
    outline = outline.dropna(subset=["course_id", "display_order", "unlock_type"])
    height = min(2.0 + 0.32 * max(len(outline), 1), 30.0)
    fig, ax = plt.subplots(figsize=(10, height))
    labels: list[str] = []
    y = 0
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (course, group) in enumerate(outline.groupby("course_id", sort=True)):
        if index:  # a blank line between courses
            y += 1
            labels.append("")
        colour = colours[index % len(colours)]
        days = _unlock_days(group)
        ys = list(range(y, y + len(group)))
        ax.plot(days, ys, color=colour, alpha=0.4, drawstyle="steps-pre", label=f"course {course}")
        for i, (unlock, title, order, valid) in enumerate(
            zip(
                group["unlock_type"],
                group["title"],
                group["display_order"],
                group["valid"],
                strict=True,
            )
        ):
            ax.plot(
                days[i],
                ys[i],
                marker=MARKERS.get(int(unlock), "x"),
                color=colour,
                markerfacecolor=colour if valid else "white",  # hollow: the row has errors
                markersize=9,
                linestyle="none",
            )
            if int(unlock) == SEQUENTIAL and i > 0:
                ax.annotate(
                    "",
                    xy=(days[i], ys[i]),
                    xytext=(days[i - 1], ys[i - 1]),
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5},
                )
            text = str(title) if pd.notna(title) else "(no title)"
            labels.append(f"{course} · {order}  {text[:40]}" + ("" if valid else "  (invalid)"))
        y += len(group)
    shown = [i for i, label in enumerate(labels) if label]  # no tick on the gaps
    ax.set_yticks(shown, labels=[labels[i] for i in shown], fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.8)
    ax.set_xlabel("days after enrolment")
    ax.set_title("When each section unlocks")
    ax.grid(axis="x", alpha=0.3)
    right = max(ax.get_xlim()[1], 7.0)  # at least a week, even when all open on day 0
    ax.set_xlim(-max(1.0, 0.03 * right), right)  # markers at day 0 stay whole
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole days
    kinds = [
        Line2D(
            [], [], marker=MARKERS[code], linestyle="none", color="grey", label=UNLOCK_TYPES[code]
        )
        for code in (IMMEDIATE, SEQUENTIAL, TIMED)
    ]
    course_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*course_handles, *kinds], loc="best", fontsize=8)
    fig.tight_layout()
    plt.close(fig)  # the caller displays it; avoid a second copy from pyplot's auto-show
    return fig


# --------------------------------------------------------------------------- plan


def plan_of(result: JobResult) -> pd.DataFrame:
    """The plan frame of a dry run; when the run stopped before planning (invalid input),
    its results frame with `status` as the action, so the counts still show every row."""
    if result.plan is not None:
        return result.plan
    return result.results.rename(columns={"status": "action"})


#: Background of a status label in styled tables (as in report.html: done green, to do
#: blue, unfinished grey or amber, needs a person red).
_LABEL_COLOURS = {
    **{str(s): "#1e7e34" for s in DONE_STATUSES},
    str(RowStatus.CREATE): "#1f5fa8",
    str(RowStatus.UPDATE): "#1f5fa8",
    str(RowStatus.PENDING): "#6c757d",
    str(RowStatus.AMBIGUOUS): "#b36b00",
    **{str(s): "#b02a37" for s in NEEDS_FIX_STATUSES},
}


def styled_rows(frame: pd.DataFrame, course_names: dict[str, str] | None = None) -> Styler:
    """A plan or results frame for people: the spreadsheet row as the index, blanks instead
    of <NA>, the status (or action) as a coloured label, course names beside their Ids."""
    shown = frame.copy()
    if course_names and "course_id" in shown:
        shown.insert(
            list(shown.columns).index("course_id") + 1,
            "course",
            [course_names.get(str(c), "") if pd.notna(c) else "" for c in shown["course_id"]],
        )
    shown = shown.set_index("source_row").rename_axis("Row")
    status = "status" if "status" in shown else "action"

    def label(value: object) -> str:
        colour = _LABEL_COLOURS.get(str(value), "#495057")
        return f"background-color:{colour};color:white;border-radius:.5rem"

    return (
        shown.style.format(escape="html", na_rep="")
        .map(label, subset=[status])
        .set_properties(subset=[status], **{"text-align": "center"})
    )


def plan_changes(plan: pd.DataFrame) -> pd.DataFrame:
    """The rows an `--update` plan changes, with the change of each field (the diff table)."""
    if "changes" not in plan:
        return pd.DataFrame(columns=["course_id", "title", "changes"]).rename_axis("Row")
    changed = plan[plan["changes"].fillna("").astype(str) != ""]
    return changed.set_index("source_row")[["course_id", "title", "changes"]].rename_axis("Row")


def plan_counts(plan: pd.DataFrame) -> pd.DataFrame:
    """Rows per planned action (RowStatus order) and course, with a total column.

    Rows whose course could not be read are counted under the column "?".
    """
    if plan is None or plan.empty:
        return pd.DataFrame(columns=["total"]).rename_axis("action")
    ids = plan["course_id"].astype("Int64")
    courses = pd.Series([str(c) if pd.notna(c) else "?" for c in ids], index=plan.index)
    counts = pd.crosstab(plan["action"].astype(str), courses)
    counts.columns = [str(c) for c in counts.columns]
    counts["total"] = counts.sum(axis=1)
    order = [s.value for s in RowStatus if s.value in counts.index]
    order += [a for a in counts.index if a not in order]
    return counts.loc[order].rename_axis("action").rename_axis(None, axis=1)


# --------------------------------------------------------------------------- Jupyter


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _label(event: ProgressEvent) -> str:
    parts = [f"{event.phase} {event.done}/{event.total}"]
    parts += [f"{status} {n}" for status, n in sorted(event.counts.items()) if n]
    if event.write_rate:
        parts.append(f"{event.write_rate:.0f} writes/min")
    if event.eta_seconds:
        parts.append(f"about {event.eta_seconds:.0f} s left")
    return " · ".join(parts)


def _html_bar(event: ProgressEvent) -> str:
    total = max(event.total, 1)
    return (
        f'<div><progress value="{event.done}" max="{total}" style="width:60%"></progress> '
        f"<span>{html.escape(_label(event))}</span></div>"
    )


def notebook_progress(min_interval: float = 0.25) -> Callable[[ProgressEvent], None]:
    """A `progress=` callback for run_job that draws one live bar.

    In Jupyter: a tqdm widget when ipywidgets is installed, else an HTML <progress> bar
    updated in place through a display handle (no extra package). Outside Jupyter: tqdm on
    stderr. Updates are throttled to one per `min_interval` seconds (and every phase end).
    """
    if _in_kernel():
        try:
            import ipywidgets  # noqa: F401  (tqdm.auto needs it for the widget bar)
        except ImportError:
            return _display_handle_progress(min_interval)
    return _tqdm_progress()


def _display_handle_progress(min_interval: float) -> Callable[[ProgressEvent], None]:
    from IPython.display import HTML, display

    handle: dict[str, Any] = {}
    last = [0.0]

    def update(event: ProgressEvent) -> None:
        now = time.monotonic()
        final = event.done >= event.total or event.phase == "done"
        if "h" in handle and not final and now - last[0] < min_interval:
            return
        last[0] = now
        if "h" not in handle:
            handle["h"] = display(HTML(_html_bar(event)), display_id=True)  # type: ignore[no-untyped-call]
        else:
            handle["h"].update(HTML(_html_bar(event)))  # type: ignore[no-untyped-call]

    return update


def _tqdm_progress() -> Callable[[ProgressEvent], None]:
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def update(event: ProgressEvent) -> None:
        bar = bars.get(event.phase)
        if bar is None:
            for old in bars.values():
                old.close()
            bars.clear()
            bar = bars[event.phase] = tqdm(total=event.total, desc=event.phase, unit="row")
        bar.total = event.total
        bar.n = event.done
        bar.set_postfix_str(_label(event), refresh=False)
        bar.refresh()
        if event.phase == "done":
            bar.close()

    return update


def report_links(report_dir: str | Path | None) -> Any:
    """The report folder's absolute path (true wherever the executed notebook is saved),
    then clickable links to its files (relative to the notebook, for JupyterLab)."""
    from IPython.display import HTML, FileLinks, Markdown

    if report_dir is None or not Path(report_dir).is_dir():
        return Markdown("_No report folder was written._")  # type: ignore[no-untyped-call]
    folder = Path(report_dir).resolve()
    try:
        shown = os.path.relpath(folder, Path.cwd())
    except ValueError:  # another drive on Windows
        shown = str(folder)
    links = FileLinks(shown)._repr_html_()  # type: ignore[no-untyped-call]
    return HTML(f"<p>Report folder: <code>{html.escape(str(folder))}</code></p>{links}")  # type: ignore[no-untyped-call]


def start_sandbox(db_path: str | Path | None = None) -> tuple[Any, Any]:
    """Start the built-in sandbox for a notebook: (running SandboxServer, its Credentials).

    `db_path` keeps the sandbox's data in that SQLite file, so two notebook runs (or a run
    and a later check) see the same server; None uses a temporary file. Call `.stop()` on the
    server when done (the kernel exiting stops it too).
    """
    from importer.local_sandbox import sandbox_credentials
    from importer.local_sandbox import start_sandbox as start

    return start(db_path, control=True), sandbox_credentials()
