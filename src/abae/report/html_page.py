"""A self-contained HTML report (the PNG embedded as base64, tables inline)."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from abae.engine.result import QueryResult, proxy_summary


def write_html(result: QueryResult, png_path: str | Path, path: str | Path) -> Path:
    """Write the HTML report for ``result`` at ``path`` embedding the figure at ``png_path``."""
    path = Path(path)
    image = base64.b64encode(Path(png_path).read_bytes()).decode()
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_fmt(v))}</td>"
            for v in (
                a.name,
                "" if a.group is None else a.group,
                a.estimate,
                a.ci_low,
                a.ci_high,
                a.labels_used,
            )
        )
        + "</tr>"
        for a in result.aggregates
    )
    strata_head = "".join(
        f"<th>{html.escape(k)}</th>" for k in (result.strata[0] if result.strata else {})
    )
    strata_rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row.values()) + "</tr>"
        for row in result.strata
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings) or "<li>none</li>"
    proxies = "".join(
        f"<li>{html.escape(line)}</li>" for p in result.proxies if (line := proxy_summary(p))
    )
    pilot = f"pilot {result.pilot_records_charged}, " if result.pilot_records_charged else ""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>abae query {result.query_id}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}pre{{background:#f4f4f4;padding:1em}}</style>
</head><body>
<h1>abae query {result.query_id}</h1>
<pre>{html.escape(result.sql)}</pre>
<p>{result.population} records, proxy <code>{html.escape(result.proxy)}</code>;
records charged to ORACLE LIMIT: {result.calls_spent} this run, {result.calls_spent_total} of
{result.budget} in all ({pilot}census and sampling {result.sampling_records_charged});
oracle calls (labels bought) {result.fresh_labels}; {result.labels_reused} labels reused from
the ledger; census {result.census_labels} (pilot labels reused); cost {result.money_spent_total:.4g};
{result.retries} retries; {len(result.left_out)} records left out; {result.wall_time_s:.2f} s.</p>
{f"<ul>{proxies}</ul>" if proxies else ""}
<h2>Estimates ({result.confidence:.0%} intervals, {html.escape(result.ci_method)})</h2>
<table><tr><th>aggregate</th><th>group</th><th>estimate</th><th>low</th><th>high</th><th>labels</th></tr>{rows}</table>
<h2>Figure</h2>
<img alt="proxy scores per stratum, allocation and estimates" src="data:image/png;base64,{image}" style="max-width:100%">
<h2>Strata</h2>
<table><tr>{strata_head}</tr>{strata_rows}</table>
<h2>Warnings</h2><ul>{warnings}</ul>
</body></html>
"""
    path.write_text(page)
    return path


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "undefined" if not math.isfinite(value) else f"{value:.6g}"
    return str(value)
