"""`twin report DIR`: one self-contained HTML page of a run or a sweep, for planners.

load (the run's or sweep's files) -> prep (tables of what is shown) -> figures (plotly) ->
page (HTML with plotly.js and the base map inline, so it works offline; the pages of a sweep
share one copy of them: `twin.report.scripts`).
"""

from __future__ import annotations

import os
from pathlib import Path

from twin.report.load import ReportError, RunData, load
from twin.report.page import run_page, sweep_page
from twin.report.scripts import shared_scripts

__all__ = ["ReportError", "write_report"]


def write_report(
    directory: str | Path, out: str | Path | None = None, shared: str | Path | None = None
) -> Path:
    """Write the report of the run or sweep in `directory` to `out` (default
    `directory/report.html`), atomically; return its path. With `shared` (a sweep's root),
    plotly.js and the base map are files there that the page links to, not inline."""
    data = load(directory)
    target = Path(out) if out else data.directory / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    scripts = None if shared is None else shared_scripts(target.parent, Path(shared))
    page = run_page if isinstance(data, RunData) else sweep_page
    html = page(data, scripts)
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, target)
    except BaseException:  # a full disk, a directory in the way, Ctrl-C: leave no debris
        temporary.unlink(missing_ok=True)
        raise
    return target
