"""The health page as one self-contained HTML document: one stylesheet and inline SVG, no
script, no network. The plugin serves it; ``sparkify report`` writes it to a file.

Every grid cell is an element with ``data-partition`` (the hour's key), ``data-dag`` and
``data-state``; a cell with a run links to it in Airflow's UI.

Text on the page comes from the warehouse (check names, values, reject reasons, which
derive from source data) and from whoever triggers runs (run ids): every attribute is
quoted and every text escaped (``_attr``, ``escape``). Behind that, the page carries
``CONTENT_SECURITY_POLICY`` in a ``<meta>`` element (so the report file has it too) and the
app sends it as a header: no script runs at all, and the one stylesheet runs only because
its hash is listed. So the stylesheet is a constant; the grid's cell width is a class
(``w2`` .. ``w14``), never a ``style`` attribute, which the policy would refuse.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote

from sparkify.health.model import DATASET_DAGS, GRID_DAGS, STATES, Health
from sparkify.pipeline import partitions

COLOURS = {
    "success": "#2e9e44",
    "failed": "#d03b3b",
    "running": "#3b7dd8",
    "queued": "#9aa6b2",
    "missing": "#eceff2",
}
CHART_W, CHART_H = 900, 120

CELL_WIDTHS = range(2, 15)  # pixels per hour cell: 2 for a year, 14 for a day

_CSS = (
    """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1d2733}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:20px 0 6px}
.muted{color:#66717d} table{border-collapse:collapse} td,th{padding:2px 8px;text-align:right}
th{background:#f4f6f8} td.l,th.l{text-align:left} tr:nth-child(even) td{background:#fafbfc}
.grid{display:grid;grid-template-columns:110px 1fr;gap:4px;align-items:center}
.row{display:flex;flex-wrap:nowrap;overflow-x:auto}
.row a,.row span{flex:0 0 auto;height:18px;margin-right:1px;display:block}
.key{display:inline-block;width:10px;height:10px}
figure{margin:0 0 10px} svg.chart{background:#fafbfc;border:1px solid #e3e7eb}
"""
    + "".join(f".w{w} .row a,.w{w} .row span{{width:{w}px}}" for w in CELL_WIDTHS)
    + "".join(
        f'.row [data-state="{state}"],.key[data-state="{state}"]{{background:{colour}}}'
        for state, colour in COLOURS.items()
    )
)


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# No script, no plugin, no frame inside, nothing fetched; the one stylesheet by its hash;
# the range picker submits to the page itself. ``frame-ancestors`` (header only: a <meta>
# cannot carry it) lets Airflow's UI, on the same origin, embed the page.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_sha256(_CSS)}'; img-src data:; "
    "form-action 'self'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _attr(value: object) -> str:
    """An attribute's value, quoted and escaped (``&``, ``<``, ``>``, both quotes)."""
    return f'"{escape(str(value), quote=True)}"'


def render(
    health: Health,
    *,
    run_link: Callable[[str, str], str],
    form_action: str | None = None,
    title: str = "Sparkify partition health",
) -> str:
    """The page for ``health``. ``run_link(dag_id, run_id)`` is a run's URL in Airflow's UI;
    ``form_action`` (the page's own URL) adds the range picker."""
    hours = health.hour_list()
    width = max(CELL_WIDTHS[0], min(CELL_WIDTHS[-1], 1100 // max(1, len(hours))))
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content={_attr(CONTENT_SECURITY_POLICY)}>',
        '<meta name="referrer" content="same-origin">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">{_key(health.first)} .. {_key(health.last)} UTC, {len(hours)} hours; '
        f"generated {health.generated_at:%Y-%m-%d %H:%M:%S} UTC</p>",
    ]
    if form_action is not None:
        parts.append(_picker(health, form_action))
    if health.dags != GRID_DAGS:
        hidden = ", ".join(d for d in GRID_DAGS if d not in health.dags)
        parts.append(
            f'<p class="muted" id="access">Shown: what you may read. Hidden: {hidden}, '
            "and the figures they produce.</p>"
        )
    parts.append(_freshness(health))
    parts.append(_grid(health, hours, width, run_link))
    parts.append(_charts(health, hours))
    parts.append(_failed_checks(health))
    parts.append(_hour_table(health, hours))
    parts.append("</body></html>")
    return "".join(parts)


_KEYS: dict[datetime, str] = {}


def _key(hour: datetime) -> str:
    """The hour's partition key, formatted once per process (a year is 8,760 of them)."""
    key = _KEYS.get(hour)
    if key is None:
        if len(_KEYS) > 200_000:  # bounded: a long-running api-server renders many ranges
            _KEYS.clear()
        key = _KEYS[hour] = partitions.format_key(hour)
    return key


def _picker(health: Health, action: str) -> str:
    return (
        f'<form method="get" action={_attr(action)}>range '
        f'<input name="from" value="{health.first:%Y-%m-%dT%H}" size="13"> to '
        f'<input name="to" value="{health.last:%Y-%m-%dT%H}" size="13"> '
        '<button>show</button> <span class="muted">days YYYY-MM-DD or hours YYYY-MM-DDTHH, UTC; '
        "at most a year</span></form>"
    )


def _freshness(health: Health) -> str:
    age = health.freshness_hours()
    if DATASET_DAGS["events"] not in health.dags:
        return '<p id="freshness">Freshness: hidden (it is stage_events\' figure).</p>'
    if age is None:
        return (
            '<p id="freshness">Freshness: no hour with staged events at or before the end '
            "of this range. To load some, land event logs under the bucket's events prefix "
            "and run <code>sparkify backfill --from YYYY-MM-DD --to YYYY-MM-DD</code> (on a "
            "laptop, <code>make demo</code> does it all with generated data).</p>"
        )
    return (
        f'<p id="freshness">Freshness: the newest hour with staged events is '
        f"<b>{_key(health.newest_with_events)}</b>, {age:.1f} hours before this page.</p>"
    )


def _grid(health: Health, hours: Sequence[datetime], width: int, run_link) -> str:
    # A year is 35,040 cells: one pass per row, keys formatted once, no escaping of what
    # cannot hold markup (keys formatted from datetimes, the fixed states, our DAG ids;
    # links escaped by ``run_link``), but every attribute quoted.
    keys = [_key(hour) for hour in hours]
    out = [f'<h2>Partitions</h2><div class="grid w{width}" id="grid">']
    for dag_id in health.dags:
        runs = health.runs.get(dag_id, {})
        counts = dict.fromkeys(STATES, 0)
        cells = []
        for hour, key in zip(hours, keys, strict=True):
            run = runs.get(hour)
            if run is None:
                counts["missing"] += 1
                cells.append(
                    f'<span data-dag="{dag_id}" data-partition="{key}" data-state="missing"></span>'
                )
            else:
                counts[run.state] += 1
                cells.append(
                    f'<a href="{run_link(dag_id, run.run_id)}" data-dag="{dag_id}" '
                    f'data-partition="{key}" data-state="{run.state}"></a>'
                )
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        out.append(
            f'<div title="{summary}"><b>{dag_id}</b></div>'
            f'<div class="row" data-dag-row="{dag_id}">{"".join(cells)}</div>'
        )
    out.append('</div><p class="muted">')
    out.append(" ".join(f'<span class="key" data-state="{s}"></span> {s}' for s in STATES))
    out.append('</p><p class="muted">One cell an hour (UTC); a cell with a run opens it.</p>')
    return "".join(out)


def _series(health: Health, hours: Sequence[datetime], value) -> list[float | None]:
    out = []
    for hour in hours:
        stats = health.hours.get(hour)
        out.append(value(stats) if stats is not None else None)
    return out


def _chart(name: str, values: Sequence[float | None], *, percent: bool = False) -> str:
    known = [v for v in values if v is not None]
    top = max(known, default=0) or 1
    n = max(1, len(values) - 1)
    points = " ".join(
        f"{i * CHART_W / n:.1f},{CHART_H - (v / top) * (CHART_H - 4):.1f}"
        for i, v in enumerate(values)
        if v is not None
    )
    label = f"{top:.0%}" if percent else f"{top:,.0f}"
    return (
        f"<figure data-chart={_attr(name)}>"
        f'<figcaption>{escape(name)} <span class="muted">(max {label})</span></figcaption>'
        f'<svg class="chart" width="{CHART_W}" height="{CHART_H}" '
        f'viewBox="0 0 {CHART_W} {CHART_H}"><polyline fill="none" stroke="#3b7dd8" '
        f'stroke-width="1.5" points="{points}"/></svg></figure>'
    )


def _charts(health: Health, hours: Sequence[datetime]) -> str:
    charts = []
    if health.shows("lines"):
        charts.append(_chart("rows staged per hour", _series(health, hours, lambda s: s.staged)))
        charts.append(
            _chart("reject rate", _series(health, hours, lambda s: s.reject_rate), percent=True)
        )
    if health.shows("plays"):
        share = _series(health, hours, lambda s: s.matched_share)
        charts.append(_chart("plays matched to a song", share, percent=True))
    if health.shows("checks"):
        failed = _series(health, hours, lambda s: s.checks_failed)
        charts.append(_chart("failed check outcomes", failed))
    return "<h2>Over time</h2>" + "".join(charts)


def _failed_checks(health: Health) -> str:
    if not health.shows("checks"):
        return ""
    if not health.failed_checks:
        return '<h2>Failed checks</h2><p id="failed-checks">None in this range.</p>'
    rows = "".join(
        f'<tr data-check={_attr(c.check)}><td class="l">{escape(c.table)}</td>'
        f'<td class="l">{escape(c.check)}</td>'
        f'<td class="l">{_key(c.hour) if c.hour else ""}</td>'
        f'<td class="l value">{escape(c.value or "")}</td>'
        f'<td class="l">{c.checked_at:%Y-%m-%d %H:%M:%S}</td></tr>'
        for c in health.failed_checks
    )
    return (
        '<h2>Failed checks</h2><table id="failed-checks"><tr><th class="l">table</th>'
        '<th class="l">check</th><th class="l">partition</th><th class="l">value found</th>'
        f'<th class="l">when (UTC)</th></tr>{rows}</table>'
    )


def _hour_table(health: Health, hours: Sequence[datetime]) -> str:
    lines, plays = health.shows("lines"), health.shows("plays")
    head = '<th class="l">hour</th>'
    if lines:
        head += "<th>read</th><th>staged</th><th>rejected</th><th>duplicate</th><th>coerced</th>"
    if plays:
        head += "<th>plays</th><th>matched</th>"
    if lines:
        head += '<th class="l">commonest reject reasons</th>'
    rows = []
    for hour in hours:
        s = health.hours.get(hour)
        if s is None:
            continue
        row = f'<tr data-partition="{_key(hour)}"><td class="l">{_key(hour)}</td>'
        if lines:
            row += (
                f"<td>{s.read}</td><td>{s.staged}</td><td>{s.rejected}</td>"
                f"<td>{s.duplicate}</td><td>{s.coerced}</td>"
            )
        if plays:
            share = f"{s.matched_share:.0%}" if s.matched_share is not None else ""
            row += f"<td>{s.plays}</td><td>{share}</td>"
        if lines:
            reasons = "; ".join(f"{escape(r)} ({n})" for r, n in s.reasons)
            row += f'<td class="l">{reasons}</td>'
        rows.append(row + "</tr>")
    return f'<h2>Per hour</h2><table id="hours"><tr>{head}</tr>{"".join(rows)}</table>'


# Percent-encoding of a run id for a URL path segment, as ``quote(run_id, safe="")`` does,
# without its per-call cost (35,040 links for a year): ASCII by a translation table, the
# rest through ``quote``.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_ENCODE = str.maketrans({chr(c): f"%{c:02X}" for c in range(128) if chr(c) not in _UNRESERVED})


def _segment(text: str) -> str:
    return text.translate(_ENCODE) if text.isascii() else quote(text, safe="")


def ui_run_link(base_url: str) -> Callable[[str, str], str]:
    """Links into Airflow 3's UI: ``<base>/dags/<dag_id>/runs/<run_id>``, HTML-safe."""
    base = escape(base_url.rstrip("/"))
    dag_paths: dict[str, str] = {}  # four DAGs, thousands of runs each

    def link(dag_id: str, run_id: str) -> str:
        path = dag_paths.get(dag_id)
        if path is None:
            path = dag_paths[dag_id] = f"{base}/dags/{_segment(dag_id)}/runs/"
        return path + _segment(run_id)

    return link
