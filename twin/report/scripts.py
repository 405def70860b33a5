"""The page's scripts: plotly.js and the base map, inline or shared by the pages of a sweep.

A lone page carries both inline, so it opens offline from anywhere. The pages of a sweep
(its own and each run's) would carry the same 5 MB each: they share one copy instead, in
`report-assets/` at the sweep's root, linked by relative paths, so the sweep directory
still opens offline as a whole.
"""

from __future__ import annotations

import os
from html import escape
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

from plotly.offline import get_plotlyjs

from twin.report.basemap import geo_assets_script

SHARED_DIR = "report-assets"


def _sources() -> dict[str, str]:
    """File name -> content; plotly.js named by its version, so a newer one never mixes
    with pages made by an older."""
    return {
        "base_map.js": geo_assets_script(),
        f"plotly-{version('plotly')}.min.js": get_plotlyjs(),
    }


def inline_scripts() -> str:
    return "\n".join(f"<script>{source}</script>" for source in _sources().values())


def shared_scripts(page_dir: Path, root: Path) -> str:
    """Script tags for a page in `page_dir` that load the files from `root/report-assets`,
    written there first if they are not there yet (atomically: pages written in parallel
    may race for them)."""
    shared = root / SHARED_DIR
    shared.mkdir(parents=True, exist_ok=True)
    tags = []
    for name, source in _sources().items():
        file = shared / name
        if not file.exists() or file.stat().st_size != len(source.encode()):
            temporary = file.with_name(f".{name}.tmp-{os.getpid()}")
            try:
                temporary.write_text(source, encoding="utf-8")
                os.replace(temporary, file)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        link = Path(os.path.relpath(file.resolve(), page_dir.resolve()))
        tags.append(f"<script src='{escape(quote(link.as_posix()))}'></script>")
    return "\n".join(tags)
