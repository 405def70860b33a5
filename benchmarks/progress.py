"""Solve power from a HiGHS log: how fast a MIP finds a plan and proves it.

HiGHS prints a line per event of its branch and bound (`Src Proc. InQueue | Leaves Expl. |
BestBound BestSol Gap | Cuts InLp Confl. | LpIters Time`). From those lines: the root gap
(the best plan found against the bound at the end of the root node, node 0 or 1), and the
seconds to the first incumbent, to a 1 % gap and to the target gap. A figure that was never
reached is NaN.
"""

from __future__ import annotations

import math
import re

_LINE = re.compile(
    r"^\s*[A-Za-z]?\s+(?P<proc>\d+)\s+\d+\s+\d+\s+[\d.]+%\s+(?P<bound>\S+)\s+(?P<sol>\S+)\s+"
    r"(?P<gap>\S+)\s+\d+\s+\d+\s+\d+\s+\d+\s+(?P<time>[\d.]+)s\s*$"
)

_MASTER = re.compile(  # twin.decompose: "master N  bound B  plan P  best S  gap G%  plans K
    # neighbours M  T s" (logs before round 21 without "neighbours M")
    r"^master\s+(?P<proc>\d+)\s+bound\s+(?P<bound>\S+)\s+plan\s+\S+\s+best\s+(?P<sol>\S+)\s+"
    r"gap\s+(?P<gap>\S+)\s+plans\s+\d+\s+(?:neighbours\s+\d+\s+)?(?P<time>[\d.]+) s$"
)


def _number(text: str) -> float:
    """A column of the log: a number, or inf / -inf / Large."""
    try:
        return float(text.rstrip("%"))
    except ValueError:
        return -math.inf if text.startswith("-") else math.inf


def _gap(solution: float, bound: float) -> float:
    """HiGHS's relative gap at full precision (its Gap column has two decimals)."""
    if not (math.isfinite(solution) and math.isfinite(bound)):
        return math.inf
    return max(solution - bound, 0.0) / max(abs(solution), 1e-9)


def progress(log: str, target_gap: float) -> dict[str, float]:
    """root_gap, first_incumbent_s, to_1pct_s, to_target_s (seconds of HiGHS's clock, or of
    the decomposition's: its MILP masters stand for nodes, the first for the root)."""
    nan = float("nan")
    result = {"root_gap": nan, "first_incumbent_s": nan, "to_1pct_s": nan, "to_target_s": nan}
    lines = [m.groupdict() for m in map(_LINE.match, log.splitlines()) if m]
    lines += [m.groupdict() for m in map(_MASTER.match, log.splitlines()) if m]
    for line in lines:
        solution, seconds = _number(line["sol"]), float(line["time"])
        gap = _gap(solution, _number(line["bound"]))
        if math.isfinite(solution) and math.isnan(result["first_incumbent_s"]):
            result["first_incumbent_s"] = seconds
        if gap <= 0.01 and math.isnan(result["to_1pct_s"]):
            result["to_1pct_s"] = seconds
        if gap <= target_gap and math.isnan(result["to_target_s"]):
            result["to_target_s"] = seconds
    best = min((_number(line["sol"]) for line in lines), default=math.inf)
    root = max((_number(line["bound"]) for line in lines if int(line["proc"]) <= 1), default=nan)
    if math.isfinite(best) and math.isfinite(root):
        result["root_gap"] = _gap(best, root)
    return result
