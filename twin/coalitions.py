r"""The value of cooperation: a cost game among the dataset's countries (analysis=coalitions).

**Stand-alone rule.** A coalition S of countries plans alone: its regions, their demand,
supply and sites, and the links whose both ends lie in S (so border crossings among its
members); every region of another country and every link touching one are left out, also
as transit. Countries named in `analysis.coalitions.fixed_outside` are in every coalition's
network (as transit and as markets: their demand, supply and sites too) but are no players:
the game is among the others. A coalition's plan costs its total discounted cost, unmet
demand at its penalty; the game's cost is :math:`v(S) = c(S \cup F) - c(F)`, what S adds to
the fixed countries F planning alone (without F, v = c and v(empty) = 0). Each coalition
is the plan `twin run analysis.countries=[...]` makes (`only_countries`); per-country
settings of the scenario (budget shares, carbon caps) follow their country, and joint caps
(a budget, a carbon cap) are refused: they have no stand-alone share.

**Allocations.** With n players and N the grand coalition:

.. math::

    \phi_i = \sum_{S \subseteq N \setminus \{i\}} \frac{|S|!\,(n - |S| - 1)!}{n!}
    \big(c(S \cup \{i\}) - c(S)\big)

(Shapley). The core: allocations x with :math:`x(N) = c(N)` and :math:`x(S) \le c(S)` for
every S (no coalition pays more than alone). The least core: the least :math:`\varepsilon`
with :math:`x(S) \le c(S) + \varepsilon` for every proper S; the core is empty when
:math:`\varepsilon^* > 0`. The nucleolus: the allocation that minimises the largest excess
:math:`x(S) - c(S)`, then the next largest, and so on (a sequence of LPs, each settling the
coalitions tight in every optimum of the last); with no bound :math:`x_i \le c(\{i\})`
it is the prenucleolus, the nucleolus itself whenever the core is not empty. The core test
and the least core use the plans' costs, not their bounds. The value of cooperation is
:math:`\sum_i c(\{i\}) - c(N)`.

**Gaps.** c(S) is a MIP's plan, within its gap: the true cost lies in [bound, cost]. The
Shapley value is linear in c, so it is off by at most the larger of
:math:`\sum_{S \ni i} w_{iS}\,(cost_S - bound_S)` and
:math:`\sum_{S \not\ni i} w_{iS}\,(cost_S - bound_S)` (`shapley_error_bound`), with
:math:`w_{iS}` the formula's weight of c(S) in :math:`\phi_i` (lower costs of coalitions
with i lower :math:`\phi_i`, of coalitions without i raise it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from twin.data import Dataset
from twin.data.subset import only_countries
from twin.parallel import ParallelOptions, run_tasks
from twin.plan import PlanRun, optimise
from twin.scenario import Scenario
from twin.whatif import horizon_total

MAX_PLAYERS = 10  # 2^10 - 1 = 1,023 plans
TOLERANCE = 1e-7  # relative to the grand coalition's cost: LP noise, not a complaint


class CoalitionError(ValueError):
    """A game that cannot be played on this dataset (too many players, unknown country)."""


def players(ds: Dataset, fixed_outside: list[str]) -> list[str]:
    countries = sorted(set(ds.regions["country"]))
    unknown = sorted(set(fixed_outside) - set(countries))
    if unknown:
        raise CoalitionError(
            f"analysis.coalitions.fixed_outside: not countries of the dataset: {unknown}"
        )
    out = [c for c in countries if c not in fixed_outside]
    if not 2 <= len(out) <= MAX_PLAYERS:
        raise CoalitionError(
            f"a game needs 2 to {MAX_PLAYERS} players (2^n - 1 plans), not {len(out)}"
        )
    return out


def coalition_name(members: tuple[str, ...]) -> str:
    return "+".join(sorted(members))


def plan_row(run: PlanRun) -> dict:
    """A coalition's row of coalitions.parquet from its plan: cost, bound and gap, the
    solver's message, unmet demand and emissions."""
    solved = run.solved
    row = {"status": solved.status, "cost": solved.objective, "bound": solved.bound}
    row |= {"gap": solved.gap, "message": solved.message}
    if run.results is not None:
        row["unmet_value"] = horizon_total(run, "unmet_demand")
        row["emissions_t"] = run.results.emissions_t
    return row


def _plan_alone(task: tuple) -> dict:
    """One coalition's plan, as its row."""
    ds, scenario, members, fixed = task
    present = set(members) | set(fixed)
    own, alone = only_countries(ds, present), scenario.for_countries(present)
    return plan_row(optimise(own, alone, coalition_name(members) or "fixed_outside"))


@dataclass
class Game:
    players: list[str]
    coalitions: pd.DataFrame  # one row per nonempty coalition (the grand one included)
    fixed: dict | None = None  # the plan of the fixed-outside countries alone, if any

    def _base(self) -> tuple[float, float]:
        """c(F) and its slack: what every coalition's cost holds for the fixed countries."""
        if self.fixed is None:
            return 0.0, 0.0
        cost, bound = self.fixed["cost"], self.fixed["bound"]
        return cost, max(cost - bound, 0.0)

    def cost(self) -> dict[frozenset, float]:
        """v(S) = c(S + F) - c(F), the game among the players."""
        frame, (base, _) = self.coalitions, self._base()
        return {
            frozenset(m): c - base for m, c in zip(frame["members"], frame["cost"], strict=True)
        }

    def slack(self) -> dict[frozenset, float]:
        """How far v(S) may be from its true value: the gaps of c(S + F) and of c(F)."""
        frame, (_, base) = self.coalitions, self._base()
        slack = (frame["cost"] - frame["bound"]).clip(lower=0).fillna(0.0) + base
        return {frozenset(m): s for m, s in zip(frame["members"], slack, strict=True)}

    def complete(self) -> bool:
        fixed_ok = self.fixed is None or self.fixed.get("cost") is not None
        return bool(self.coalitions["cost"].notna().all()) and fixed_ok


def play(
    ds: Dataset,
    scenario: Scenario,
    fixed_outside: list[str],
    parallel: ParallelOptions,
    grand: dict,
) -> Game:
    """c(S) of every proper coalition (and of the fixed countries alone), in parallel;
    `grand` is the grand coalition's row (its plan is the run's main plan)."""
    names = players(ds, fixed_outside)
    proper = [
        members for size in range(1, len(names)) for members in itertools.combinations(names, size)
    ]
    asked = proper + ([()] if fixed_outside else [])
    tasks = [(ds, scenario, members, tuple(fixed_outside)) for members in asked]
    rows = []
    outcomes = run_tasks(_plan_alone, tasks, parallel, label="coalitions")
    for members, outcome in zip(asked, outcomes, strict=True):
        row = outcome.value if outcome.ok else {"status": "error", "message": outcome.error}
        rows.append({"members": members, **row})
    fixed = rows.pop() if fixed_outside else None
    rows.append({"members": tuple(names), **grand})
    frame = pd.DataFrame(rows)
    frame.insert(0, "coalition", frame["members"].map(coalition_name))
    frame.insert(2, "size", frame["members"].map(len))
    return Game(names, frame, fixed)


def shapley(names: list[str], cost: dict[frozenset, float], slack: dict[frozenset, float]):
    """Shapley values, and the bound the coalitions' gaps put on each: the true costs lie
    in [cost - slack, cost], and lowering c(S) lowers phi_i when i is in S, raises it when
    not, so the error is at most the larger of the two weighted slack sums."""
    n = len(names)
    value = dict.fromkeys(names, 0.0)
    error = {}
    for i in names:
        others = [j for j in names if j != i]
        down = up = 0.0  # how far phi_i can fall (c(S + i) lower) or rise (c(S) lower)
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                before = frozenset(subset)
                after = before | {i}
                value[i] += weight * (cost[after] - cost.get(before, 0.0))
                down += weight * slack[after]
                up += weight * slack.get(before, 0.0)
        error[i] = max(down, up)
    return value, error


def _incidence(names: list[str], members: frozenset) -> list[float]:
    return [1.0 if name in members else 0.0 for name in names]


def _min_excess(names, cost, fixed: dict[frozenset, float], active: list[frozenset], cap=None):
    """The LP: min eps s.t. x(S) - c(S) <= eps (active), = e_S (fixed), x(N) = c(N)
    (costs already scaled); with `cap` = (S, eps*): min x(S) instead, with eps <= eps*."""
    n = len(names)
    grand = frozenset(names)
    upper = [[*_incidence(names, s), -1.0] for s in active]
    upper_b = [cost[s] for s in active]
    objective = np.r_[np.zeros(n), 1.0]
    if cap is not None:
        probe, epsilon = cap
        upper.append([*np.zeros(n), 1.0])
        upper_b.append(epsilon)
        objective = np.r_[_incidence(names, probe), 0.0]
    equal = [[*_incidence(names, grand), 0.0]] + [[*_incidence(names, s), 0.0] for s in fixed]
    equal_b = [cost[grand]] + [cost[s] + e for s, e in fixed.items()]
    result = linprog(
        objective,
        np.array(upper).reshape(-1, n + 1) if upper else None,
        np.array(upper_b) if upper else None,
        np.array(equal),
        np.array(equal_b),
        bounds=[(None, None)] * (n + 1),
        method="highs",
    )
    if not result.success:
        raise CoalitionError(f"an allocation LP failed: {result.message}")
    return result


def least_core(names: list[str], cost: dict[frozenset, float]) -> tuple[float, dict[str, float]]:
    """The least core's epsilon and one of its allocations."""
    scale = max(1.0, abs(cost[frozenset(names)]))
    scaled = {s: c / scale for s, c in cost.items()}
    proper = [s for s in cost if len(s) < len(names)]
    result = _min_excess(names, scaled, {}, proper)
    x = (result.x[:-1] * scale).tolist()
    return float(result.x[-1] * scale), dict(zip(names, x, strict=True))


def nucleolus(names: list[str], cost: dict[frozenset, float]) -> dict[str, float]:
    """The (pre)nucleolus by sequential LPs (Maschler, Peleg and Shapley): minimise the
    largest excess among the coalitions not yet settled; settle those whose excess is that
    large in every optimum; drop the coalitions whose excess the settled ones determine;
    until the allocation is unique. Costs are scaled by the grand coalition's."""
    n = len(names)
    scale = max(1.0, abs(cost[frozenset(names)]))
    scaled = {s: c / scale for s, c in cost.items()}
    basis = [_incidence(names, frozenset(names))]  # the settled rows: x(N) and fixed S
    fixed: dict[frozenset, float] = {}
    active = [s for s in scaled if len(s) < n]
    tolerance = 1e-9
    x = None
    while active and np.linalg.matrix_rank(np.array(basis)) < n:
        result = _min_excess(names, scaled, fixed, active)
        epsilon, x = float(result.x[-1]), result.x[:-1]
        settled = []
        for s in active:
            low = _min_excess(names, scaled, fixed, active, cap=(s, epsilon + tolerance))
            if low.fun - scaled[s] >= epsilon - 10 * tolerance:
                settled.append(s)
        if not settled:
            raise CoalitionError("the nucleolus LPs settled no coalition: numerical trouble")
        for s in settled:
            active.remove(s)
            row = _incidence(names, s)
            if np.linalg.matrix_rank(np.array([*basis, row])) > len(basis):
                basis.append(row)
                fixed[s] = epsilon
        active = [  # a coalition in the span of the settled ones has a determined excess
            s
            for s in active
            if np.linalg.matrix_rank(np.array([*basis, _incidence(names, s)])) > len(basis)
        ]
    if x is None:  # no proper coalition: one player pays all
        x = np.array([scaled[frozenset(names)]])
    return dict(zip(names, (np.asarray(x) * scale).tolist(), strict=True))


def allocation_table(game: Game) -> tuple[pd.DataFrame, dict]:
    """allocation.parquet's rows and run.json's `coalitions` object (None where a
    coalition has no plan: no allocation is claimed from an incomplete game). Costs are
    those of the game: each coalition's plan less the fixed countries' own (`fixed_cost`)."""
    names, frame = game.players, game.coalitions
    grand = frozenset(names)
    complete = game.complete()
    grand_cost = frame.loc[frame["size"] == len(names), "cost"].iloc[0]
    record = {
        "players": names,
        "coalitions": len(frame),
        "coalitions_without_plan": int(frame["cost"].isna().sum()),
        "grand_cost": None if pd.isna(grand_cost) else float(grand_cost),
        "fixed_cost": None if game.fixed is None else game.fixed.get("cost"),
    }
    if not complete:
        empty = pd.DataFrame({"country": names})
        return empty, record | dict.fromkeys(
            ("value_of_cooperation", "core_empty", "least_core_epsilon")
        )
    cost, slack = game.cost(), game.slack()
    value, error = shapley(names, cost, slack)
    epsilon, _ = least_core(names, cost)
    fair = nucleolus(names, cost)
    alone = {i: cost[frozenset({i})] for i in names}
    table = pd.DataFrame(
        {
            "country": names,
            "standalone_cost": [alone[i] for i in names],
            "shapley": [value[i] for i in names],
            "shapley_error_bound": [error[i] for i in names],
            "nucleolus": [fair[i] for i in names],
        }
    )
    table["saving"] = table["standalone_cost"] - table["shapley"]
    table["saving_pct"] = (
        100 * table["saving"] / table["standalone_cost"].where(table["standalone_cost"] != 0)
    )
    scale = max(1.0, abs(cost[grand]))
    record |= {
        "value_of_cooperation": float(sum(alone.values()) - cost[grand]),
        "least_core_epsilon": epsilon,
        "core_empty": bool(epsilon > TOLERANCE * scale),
    }
    return table, record
