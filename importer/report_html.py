"""report.html: one self-contained page (inline CSS, no scripts, no external assets).

Every value shown comes from the person's sheet or the engine, so each one is neutralised
(formula injection, in case the page is pasted into a spreadsheet) and HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from importer.codes import (
    DONE_STATUSES,
    NEEDS_FIX_STATUSES,
    UNFINISHED_STATUSES,
    ExitCode,
    RowStatus,
    exit_meaning,
)
from importer.read import Sheet
from importer.safe_io import neutralise
from importer.status_text import NEXT_STEPS

#: Statuses with their own colour in _CSS (.s-<status>); the rest are .s-fix or .s-other.
_STYLED = DONE_STATUSES | UNFINISHED_STATUSES | {RowStatus.CREATE}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#212529}
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:2rem}
.meta{color:#6c757d;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #dee2e6;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}td.n{text-align:right}
table.kv th{width:14rem}
tr.fix td{background:#ffc7ce}
.counts{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5rem}
.counts li{padding:.3rem .7rem;border-radius:1rem;color:#fff}
.st{display:inline-block;padding:0 .5rem;border-radius:.6rem;color:#fff;font-size:.85rem}
.s-created,.s-exists{background:#1e7e34}.s-create{background:#1f5fa8}
.s-pending{background:#6c757d}.s-ambiguous{background:#b36b00}
.s-fix{background:#b02a37}.s-other{background:#495057}
.exit{font-weight:600;padding:.5rem .8rem;border-radius:.4rem;display:inline-block}
.exit-ok{background:#d4edda}.exit-bad{background:#f8d7da}.exit-warn{background:#fff3cd}
"""


def _h(value: object) -> str:
    """Escaped, neutralised text of one value for the page."""
    return html.escape(neutralise(value), quote=True)


def _status_class(status: str) -> str:
    if status in NEEDS_FIX_STATUSES:  # StrEnum members compare equal to their text
        return "s-fix"
    return f"s-{status}" if status in _STYLED else "s-other"


def _table(headers: list[str], rows: list[str], css: str = "") -> str:
    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _by_kind(counts: object) -> object:
    """{"get": 3, "post": 2} as "5 (get 3, post 2)"; anything else as it is."""
    if not isinstance(counts, dict):
        return counts
    parts = [f"{k} {v}" for k, v in sorted(counts.items())]
    total = sum(v for v in counts.values() if isinstance(v, int))
    return f"{total} ({', '.join(parts)})" if parts else "0"


def _summary_rows(summary: dict[str, Any]) -> list[str]:
    writes = summary.get("writes_used")
    if writes is not None and summary.get("max_writes") is not None:
        writes = f"{writes} of {summary['max_writes']}"
    facts = [
        ("API base URL", summary.get("api_url")),
        ("Dry run", {True: "yes", False: "no"}.get(summary.get("dry_run"))),  # type: ignore[arg-type]
        ("Started", summary.get("started_at")),
        ("Finished", summary.get("finished_at")),
        ("Stopped because", summary.get("stop_reason")),
        ("Rows", summary.get("rows")),
        ("Write rate (per minute)", summary.get("write_rate_per_minute")),
        ("Writes used", writes),
        ("Requests", _by_kind(summary.get("requests"))),
        ("HTTP responses", _by_kind(summary.get("statuses"))),
        ("Throttled (HTTP 409)", summary.get("throttled_409s")),
        ("Unclear answers (checked against the server)", summary.get("unclear_answers")),
        ("Sheet", summary.get("sheet_name")),
        ("Tool version", summary.get("tool_version")),
        ("Input SHA-256", summary.get("input_sha256")),
    ]
    return [f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in facts if v is not None]


def _exit_line(summary: dict[str, Any]) -> str:
    try:
        code = ExitCode(int(summary["exit_code"]))
    except (KeyError, TypeError, ValueError):
        return ""
    css = {ExitCode.OK: "exit-ok", ExitCode.RESUMABLE: "exit-warn"}.get(code, "exit-bad")
    meaning = exit_meaning(code, dry_run=bool(summary.get("dry_run")))
    return f'<p class="exit {css}">Exit code {int(code)}: {_h(meaning)}</p>'


def _next_steps(summary: dict[str, Any], results: pd.DataFrame, limit: int = 30) -> str:
    """ "What to do next": per status needing a step, how many rows, which, and the step."""
    files = set(summary.get("files", []))
    items = []
    for status, step in NEXT_STEPS.items():
        rows = [
            str(r) for r, s in zip(results.index, results["status"], strict=True) if s == status
        ]
        if not rows:
            continue
        shown = ", ".join(rows[:limit]) + (
            f" and {len(rows) - limit} more" if len(rows) > limit else ""
        )
        items.append(
            f'<li><span class="st {_status_class(str(status))}">{_h(status)}</span> '
            f"<b>{len(rows)}</b> (rows {_h(shown)}): {_h(step)}</li>"
        )
    links = [
        f'<a href="{name}">{name}</a>' for name in ("errors.csv", "results.xlsx") if name in files
    ]
    if not items:
        return "<h2>What to do next</h2><p>Nothing: every valid row is on the server.</p>"
    where = f"<p>The rows to fix: {' and '.join(links)}.</p>" if links else ""
    return f"<h2>What to do next</h2><ul>{''.join(items)}</ul>{where}"


def _course_label(course: str, names: dict[str, str]) -> str:
    name = names.get(course)
    return f"{course} ({name})" if name else course


def _course_table(summary: dict[str, Any]) -> str:
    names: dict[str, str] = summary.get("course_names") or {}
    by_course: dict[str, dict[str, int]] = summary.get("counts_by_course", {})
    present = {s for counts in by_course.values() for s in counts}
    statuses = [str(s) for s in RowStatus if str(s) in present]
    statuses += sorted(present - set(statuses))
    rows = []
    for course, counts in by_course.items():
        cells = "".join(f'<td class="n">{counts.get(s, 0) or ""}</td>' for s in statuses)
        rows.append(
            f"<tr><td>{_h(_course_label(course, names))}</td>{cells}"
            f'<td class="n">{sum(counts.values())}</td></tr>'
        )
    return _table(["Course", *statuses, "Total"], rows, "courses")


def _rows_table(
    sheet: Sheet, raw: pd.DataFrame, results: pd.DataFrame, needs_fix: pd.Series
) -> str:
    shown = (("course_id", "CourseId"), ("display_order", "DisplayOrder"), ("title", "Title"))
    rows = []
    for (row, item), fix in zip(results.iterrows(), needs_fix.to_numpy(), strict=True):
        cells = [f'<td class="n">{_h(row)}</td>']
        for column, field in shown:
            value = item.get(column)
            if (value is None or pd.isna(value)) and sheet.columns.get(field) in raw.columns:
                value = raw.at[row, sheet.columns[field]]
            cells.append(f"<td>{_h(value)}</td>")
        status = "" if pd.isna(item["status"]) else str(item["status"])
        cells.append(f'<td><span class="st {_status_class(status)}">{_h(status)}</span></td>')
        for column in ("section_id", "http_status", "attempts"):
            cells.append(f'<td class="n">{_h(item[column])}</td>')
        cells.append(f"<td>{_h(item['errors'])}</td>")
        cells.append(f"<td>{_h(item.get('changes'))}</td>")
        css = ' class="fix"' if fix else ""
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    headers = [
        "Row",
        "Course ID",
        "Display order",
        "Title",
        "Status",
        "Section Id",
        "HTTP",
        "Attempts",
        "Error",
        "Changes",
    ]
    return _table(headers, rows, "rows")


def _findings_table(findings: pd.DataFrame | None, limit: int = 2000) -> str:
    if findings is None or not len(findings):
        return ""
    rows = []
    for item in findings.head(limit).itertuples(index=False):
        values = [
            getattr(item, c, None) for c in ("source_row", "column", "severity", "rule", "message")
        ]
        rows.append("<tr>" + "".join(f"<td>{_h(v)}</td>" for v in values) + "</tr>")
    more = len(findings) - limit
    note = f"<p>{more} more not shown; see the validation output.</p>" if more > 0 else ""
    return (
        "<h2>Findings in the file</h2>"
        + _table(["Row", "Column", "Severity", "Rule", "Message"], rows, "findings")
        + note
    )


def render_html(
    *,
    sheet: Sheet,
    raw: pd.DataFrame,
    results: pd.DataFrame,
    needs_fix: pd.Series,
    findings: pd.DataFrame | None,
    summary: dict[str, Any],
) -> str:
    """The page. `raw` and `results` are aligned and indexed by source_row (report._aligned);
    `summary` is the sanitised summary.json content (counts, files, engine facts)."""
    name = sheet.path.name
    kind = "Plan" if summary.get("dry_run") else "Import"  # a plan sent nothing
    when = summary.get("started_at") or summary.get("report_written_at")
    counts = [
        f'<li class="{_status_class(status)}">{_h(status)} <b>{n}</b></li>'
        for status, n in summary["counts_by_status"].items()
        if n
    ]
    message = summary.get("message")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{kind} report: {_h(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{kind} report: {_h(name)}</h1>",
        f'<p class="meta">Run at {_h(when)} (UTC)</p>',
        _exit_line(summary),
        f"<p>{_h(message)}</p>" if message else "",
        _next_steps(summary, results),
        "<h2>Summary</h2>",
        f'<ul class="counts">{"".join(counts)}</ul>',
        _table(["", ""], _summary_rows(summary), "kv").replace(
            "<thead><tr><th></th><th></th></tr></thead>", ""
        ),
        "<h2>By course</h2>",
        _course_table(summary),
        f"<h2>Rows ({len(results)})</h2>",
        _rows_table(sheet, raw, results, needs_fix),
        _findings_table(findings),
        f'<p class="meta">Files: {_h(", ".join(summary["files"]))}</p>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
