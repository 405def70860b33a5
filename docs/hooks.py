"""MkDocs hooks and a griffe extension for the documentation site (see mkdocs.yml).

- Files from outside docs/ that pages show: the benchmark plots, and MathJax from the
  installed `django-static-mathjax` wheel, so the maths renders with no network.
- `RstMath`: the model's docstrings write maths as RST; the API reference shows it as the
  Markdown maths of docs/model.md, through the same converter.
"""

from __future__ import annotations

from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent

# Repository files shown on a page, at the same path under the site: the benchmark plots.
REPO_FILES = tuple(
    path.relative_to(ROOT).as_posix() for path in sorted(ROOT.glob("benchmarks/results/**/*.png"))
)

# The parts of MathJax's es5 bundle that tex-mml-chtml.js loads: itself, its fonts and the
# TeX extensions it autoloads.
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")


def on_files(files, config):
    """Add the repository files and MathJax to the site."""
    from mkdocs.structure.files import File

    for uri in REPO_FILES:
        files.append(File.generated(config, uri, abs_src_path=str(ROOT / uri)))
    import mathjax  # the django-static-mathjax wheel: static files only

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    for part in MATHJAX_PARTS:
        paths = [es5 / part] if (es5 / part).is_file() else sorted((es5 / part).rglob("*.*"))
        for path in paths:
            uri = f"assets/mathjax/{path.relative_to(es5).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


class RstMath(griffe.Extension):
    """Docstrings' `.. math::` and :math:`x` as $$ blocks and $x$ for arithmatex."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None and "math:" in obj.docstring.value:
            from twin.model.docs import rst_math_to_markdown

            obj.docstring.value = rst_math_to_markdown(obj.docstring.value)
