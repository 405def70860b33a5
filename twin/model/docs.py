"""Render docs/model.md, the formulation, from the docstrings of the model's modules.

Each family module opens with the maths it adds; this page strings them together so the
documentation cannot drift from the code. `python -m twin.model.docs > docs/model.md`.
"""

from __future__ import annotations

import importlib
import re

SECTIONS = (
    ("Decision variables", "twin.model.variables"),
    ("Commodity balance", "twin.model.balance"),
    ("Capacity and fixed charge", "twin.model.capacity"),
    ("Transport and borders", "twin.model.transport"),
    ("Carbon", "twin.model.carbon"),
    ("Finance: budget, country shares, green rate", "twin.model.finance"),
    ("Sovereignty", "twin.model.sovereignty"),
    ("Agglomeration (MAR)", "twin.model.agglomeration"),
    ("Strengthening: bounds from the data", "twin.model.bounds"),
    ("Strengthening: linking rows", "twin.model.linking"),
    ("Strengthening: identical sites", "twin.model.symmetry"),
    ("Strengthening: cover rows", "twin.model.cover"),
    ("Objective", "twin.model.objective"),
    ("Discounting", "twin.model.discounting"),
    ("Rows stored as arrays", "twin.model.array_constraint"),
    ("Benders decomposition (solver.method=benders)", "twin.decompose"),
    ("Crossovers of the Benders masters' plans (solver.crossover)", "twin.crossover"),
    ("RENS beside a branch and bound (solver.rens)", "twin.rens"),
    ("What-ifs: disruptions and N-1 on a fixed plan", "twin.whatif"),
    ("The cost-carbon frontier", "twin.pareto"),
    ("Uncertainty: futures", "twin.uncertainty"),
    ("Stress test of a plan", "twin.stress"),
    ("Two-stage stochastic plan", "twin.stochastic"),
    ("What a stochastic plan is worth", "twin.worth"),
    ("Many solves in parallel", "twin.parallel"),
    ("The value of cooperation: a cost game", "twin.coalitions"),
    ("Plans near the optimum (MGA)", "twin.alternatives"),
)

INTRO = """# Model formulation

twin optimises a multi-echelon network of four coupled value chains (agrotech, hydrogen,
logistics, digital) as a mixed-integer linear programme, built in Pyomo and solved by HiGHS.
Each constraint family is one module of `twin/model/`, added by `build_model` when the
scenario lists it in `families` (the balance is always there). Component names follow one
scheme, `family[index]`, so a solver message or a dual traces back to its family and index.

This page is generated from the modules' docstrings by `python -m twin.model.docs`.

Strengthening families (`solver.strengthen`, all on by default) add bounds and rows that
keep an optimal plan (flow bounds, linking and cover rows hold for every plan, symmetry
rows for one of each set of swapped plans), so they tighten the model without changing the
optimum; switching them off gives the plain formulation (tests check that both have the
same optimum on random instances).

Notation: r region, k commodity, p period (its year), s site, l link, x border crossing,
c country, g (region, chain) group. Sparse index sets (`twin.network.derive_sets`): a
variable exists only where it can be non-zero — a flow only for a commodity available at the
link's origin and useful at its end, a site-period only where the site can hold modules, its
inputs are available and its outputs have a use.
"""


def rst_math_to_markdown(docstring: str) -> str:
    """RST maths of the docstrings as Markdown maths ($$ blocks, $inline$)."""
    text = re.sub(r":math:`([^`]*)`", r"$\1$", docstring)

    def block(match: re.Match) -> str:
        body = "\n".join(line.strip() for line in match.group(1).strip("\n").splitlines())
        return f"$$\n{body}\n$$\n\n"

    return re.sub(r"\.\. math::\n\n((?:    .*\n|\n)+?)(?=\S|\Z)", block, text + "\n").strip()


def render() -> str:
    parts = [INTRO.rstrip()]
    for title, module in SECTIONS:
        doc = importlib.import_module(module).__doc__ or ""
        parts += ["", f"## {title}", "", f"`{module}`", "", rst_math_to_markdown(doc)]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
