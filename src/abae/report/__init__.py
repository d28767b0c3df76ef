"""Query reports: a PNG figure and a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from abae.engine.result import QueryResult
from abae.report.figure import write_figure
from abae.report.html_page import write_html


def write_report(result: QueryResult, directory: str | Path) -> tuple[Path, Path]:
    """Write ``query-<id>.png`` and ``query-<id>.html`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png = write_figure(result, directory / f"query-{result.query_id}.png")
    page = write_html(result, png, directory / f"query-{result.query_id}.html")
    return png, page


__all__ = ["write_figure", "write_html", "write_report"]
