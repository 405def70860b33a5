r"""The value of cooperation: a cost game among the dataset's countries (analysis=coalitions).

**Stand-alone rule.** A coalition S of countries plans alone: its regions, their demand,
supply and sites, and the links whose both ends lie in S (so border crossings among its
members); every region of another country and every link touching one are left out, also
as transit. Countries named in `analysis.coalitions.fixed_outside` are in every coalition's
network (as transit and as markets: their demand, supply and sites too) but are no players:
the game is among the others, and what the fixed countries cost is in every c(S). The cost
c(S) is the plan's total discounted cost, unmet demand at its penalty; c(empty) = 0. Each
coalition is the plan `twin run analysis.countries=[...]` makes (`only_countries`).

**Allocations.** With n players and N the grand coalition:

.. math::

    \phi_i = \sum_{S \subseteq N \setminus \{i\}} \frac{|S|!\,(n - |S| - 1)!}{n!}
    \big(c(S \cup \{i\}) - c(S)\big)

(Shapley). The core: allocations x with :math:`x(N) = c(N)` and :math:`x(S) \le c(S)` for
every S (no coalition pays more than alone). The least core: the least :math:`\varepsilon`
with :math:`x(S) \le c(S) + \varepsilon` for every proper S; the core is empty when
:math:`\varepsilon^* > 0`. The nucleolus: the allocation that minimises the largest excess
:math:`x(S) - c(S)`, then the next largest, and so on (a sequence of LPs, each fixing the
coalitions tight in every optimum of the last). The value of cooperation is
:math:`\sum_i c(\{i\}) - c(N)`.

**Gaps.** c(S) is a MIP's plan, within its gap: the true cost lies in [bound, cost]. The
Shapley value is linear in c, so it is off by at most :math:`\sum_S |w_{iS}|\,(cost_S -
bound_S)` (`shapley_error_bound`), with :math:`w_{iS}` the formula's weight of c(S) in
:math:`\phi_i`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from twin.data import Dataset
from twin.data.subset import only_countries
from twin.parallel import ParallelOptions, run_tasks
from twin.plan import optimise
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


def _plan_alone(task: tuple) -> dict:
    """One coalition's plan: its cost, bound and gap, unmet demand and emissions."""
    ds, scenario, members, fixed = task
    own = only_countries(ds, set(members) | set(fixed))
    shares = {c: s for c, s in scenario.budget_shares.items() if c in members or c in fixed}
    run = optimise(own, replace(scenario, budget_shares=shares), coalition_name(members))
    solved = run.solved
    row = {"status": solved.status, "cost": solved.objective, "bound": solved.bound}
    row["gap"] = solved.gap
    if run.results is not None:
        row["unmet_value"] = horizon_total(run, "unmet_demand")
        row["emissions_t"] = run.results.emissions_t
    return row


@dataclass
class Game:
    players: list[str]
    coalitions: pd.DataFrame  # one row per nonempty coalition (the grand one included)

    def cost(self) -> dict[frozenset, float]:
        frame = self.coalitions
        return {frozenset(m): c for m, c in zip(frame["members"], frame["cost"], strict=True)}

    def slack(self) -> dict[frozenset, float]:
        """cost - bound of each coalition: how far the MIP may be from its optimum."""
        frame = self.coalitions
        slack = (frame["cost"] - frame["bound"]).clip(lower=0).fillna(0.0)
        return {frozenset(m): s for m, s in zip(frame["members"], slack, strict=True)}


def play(
    ds: Dataset,
    scenario: Scenario,
    fixed_outside: list[str],
    parallel: ParallelOptions,
    grand: dict,
) -> Game:
    """c(S) of every proper coalition, in parallel; `grand` is the grand coalition's row
    (its plan is the run's main plan, solved by the caller)."""
    names = players(ds, fixed_outside)
    proper = [
        members for size in range(1, len(names)) for members in itertools.combinations(names, size)
    ]
    tasks = [(ds, scenario, members, tuple(fixed_outside)) for members in proper]
    rows = []
    for members, outcome in zip(proper, run_tasks(_plan_alone, tasks, parallel), strict=True):
        row = outcome.value if outcome.ok else {"status": "error", "message": outcome.error}
        rows.append({"members": members, **row})
    rows.append({"members": tuple(names), **grand})
    frame = pd.DataFrame(rows)
    frame.insert(0, "coalition", frame["members"].map(coalition_name))
    frame.insert(2, "size", frame["members"].map(len))
    return Game(names, frame)


def shapley(names: list[str], cost: dict[frozenset, float], slack: dict[frozenset, float]):
    """Shapley values and the bound the coalitions' gaps put on each."""
    n = len(names)
    value, error = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    for i in names:
        others = [j for j in names if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                before = frozenset(subset)
                after = before | {i}
                value[i] += weight * (cost[after] - cost.get(before, 0.0))
                error[i] += weight * (slack[after] + slack.get(before, 0.0))
    return value, error


def _excess_lp(names, cost, fixed: dict[frozenset, float], active: list[frozenset]):
    """min eps s.t. x(S) - c(S) <= eps (active S), x(S) - c(S) = e_S (fixed), x(N) = c(N)."""
    n = len(names)
    grand = frozenset(names)

    def row(members: frozenset) -> list[float]:
        return [1.0 if name in members else 0.0 for name in names]

    upper = [[*row(s), -1.0] for s in active]
    upper_b = [cost[s] for s in active]
    equal = [[*row(grand), 0.0]] + [[*row(s), 0.0] for s in fixed]
    equal_b = [cost[grand]] + [cost[s] + e for s, e in fixed.items()]
    return (
        np.array(upper).reshape(-1, n + 1),
        np.array(upper_b),
        np.array(equal),
        np.array(equal_b),
    )


def least_core(names: list[str], cost: dict[frozenset, float]) -> tuple[float, dict[str, float]]:
    """The least core's epsilon and one of its allocations."""
    proper = [s for s in cost if len(s) < len(names)]
    a, b, a_eq, b_eq = _excess_lp(names, cost, {}, proper)
    objective = np.r_[np.zeros(len(names)), 1.0]
    bounds = [(None, None)] * (len(names) + 1)
    result = linprog(objective, a, b, a_eq, b_eq, bounds=bounds, method="highs")
    if not result.success:
        raise CoalitionError(f"the least-core LP failed: {result.message}")
    return float(result.x[-1]), dict(zip(names, result.x[:-1].tolist(), strict=True))


def nucleolus(names: list[str], cost: dict[frozenset, float]) -> dict[str, float]:
    """The nucleolus by sequential LPs: minimise the largest excess, fix the coalitions
    tight in every optimum, repeat with the rest until the allocation is unique."""
    n = len(names)
    scale = max(1.0, abs(cost[frozenset(names)]))
    active = [s for s in cost if len(s) < n]
    fixed: dict[frozenset, float] = {}
    bounds = [(None, None)] * (n + 1)
    x = None
    while True:
        a, b, a_eq, b_eq = _excess_lp(names, cost, fixed, active)
        objective = np.r_[np.zeros(n), 1.0]
        result = linprog(
            objective,
            a if len(active) else None,
            b if len(active) else None,
            a_eq,
            b_eq,
            bounds=bounds,
            method="highs",
        )
        if not result.success:
            raise CoalitionError(f"a nucleolus LP failed: {result.message}")
        epsilon, x = float(result.x[-1]), result.x[:-1]
        incidence = np.array([[1.0 if p in s else 0.0 for p in names] for s in [*fixed]])
        rank = np.linalg.matrix_rank(np.vstack([np.ones(n), *incidence])) if len(fixed) else 1
        if rank == n or not active:
            break
        tight = []
        for s in active:  # tight in every optimum: its excess cannot fall below epsilon
            members = np.array([1.0 if p in s else 0.0 for p in names])
            a_fix = np.vstack([a, np.r_[np.zeros(n), 1.0]]) if len(a) else None
            b_fix = np.r_[b, epsilon + TOLERANCE * scale] if len(a) else None
            probe = linprog(
                np.r_[members, 0.0], a_fix, b_fix, a_eq, b_eq, bounds=bounds, method="highs"
            )
            if probe.success and probe.fun - cost[s] >= epsilon - TOLERANCE * scale:
                tight.append(s)
        if not tight:  # numerically no progress: the current optimum is the answer
            break
        for s in tight:
            fixed[s] = epsilon
            active.remove(s)
    return dict(zip(names, x.tolist(), strict=True))


def allocation_table(game: Game) -> tuple[pd.DataFrame, dict]:
    """allocation.parquet's rows and run.json's `coalitions` object (None where a
    coalition has no plan: no allocation is claimed from an incomplete game)."""
    names, frame = game.players, game.coalitions
    grand = frozenset(names)
    complete = frame["cost"].notna().all()
    record = {
        "players": names,
        "coalitions": len(frame),
        "coalitions_without_plan": int(frame["cost"].isna().sum()),
        "grand_cost": float(frame.loc[frame["size"] == len(names), "cost"].iloc[0])
        if complete
        else None,
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
