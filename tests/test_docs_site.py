"""The documentation site builds in strict mode (any warning fails), with every page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from twin.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("", "getting-started", "guide", "model", "data", "results", "benchmarks")
API_PAGES = ("api", "api/data", "api/model", "api/results", "api/runs")


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text()


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: make test installs it")
    """One build (a few seconds), then its pages, includes, maths and API reference."""
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr

    for name in PAGES + API_PAGES:
        assert (site / name / "index.html").is_file(), name
        assert "{%" not in page(site, name), f"{name}: an include was not expanded"

    doc = re.sub(r"`([^`]*)`", r"<code>\1</code>", load_dataset.__doc__.splitlines()[0])
    assert doc in page(site, "api/data")
    assert ".. math::" not in page(site, "api/model"), "RST maths left in the API reference"

    assert "make test" in page(site, "getting-started")  # from the README
    assert "hydra/launcher=ray" in page(site, "guide")  # the README's Ray paragraph
    assert 'src="results/full/scaling.png"' in page(site, "benchmarks")
    assert (site / "benchmarks/results/full/scaling.png").is_file()
    assert 'class="arithmatex"' in page(site, "model")
    assert (site / "assets/mathjax/tex-mml-chtml.js").is_file()  # served locally: offline
