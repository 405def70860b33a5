r"""Plans near the optimum: modelling to generate alternatives (analysis=alternatives).

With :math:`C^*` the least cost (the run's main plan), every alternative is a whole plan
within a slack :math:`\sigma` of it, :math:`cost \le (1 + \sigma) C^*` (`analysis.slack`,
constraint `cost_cap`), that goes as far as it can in one direction:

- the investment share of each country and of each chain, up and down. With :math:`K_X`
  the overnight capex placed in X, :math:`K` all of it and :math:`s^*_X` the optimum's
  share, the objective :math:`K_X - s^*_X K` (max or min) is linear and is 0 at the
  optimum, which is within the slack: so a "max share" plan gives X at least the optimum's
  share, a "min share" plan at most (the first step of Dinkelbach's method for the ratio);
- the emissions over the horizon, down and up;
- `analysis.directions` random directions: a normal weight on each asset's capex, from
  `analysis.seed`.

Capex here is overnight capex before agglomeration savings; a site's belongs to its region's
country and its chain, a link expansion to its origin's country, a crossing expansion to its
first country (`country_a`), both to logistics. It counts in full in the period built,
while the cost counts only the annuities paid within the horizon (about a fifth of a last
period's capex on the reference data), so a share pushed up is mostly last-period
investment. Each alternative starts from the optimum's
plan (a MIP start that satisfies the slack) and is solved to the solver's gap in its own
objective, by Benders with the cost cap in its master for a capex direction under `auto`
(`twin.decompose`; an emissions direction by one branch and bound); alternatives run in
parallel (`twin.parallel`).

Each row carries how far its plan goes (`reach`: the direction's objective at the plan, in
currency or tCO2e) and the most any plan within the slack can go (`reach_bound`: the
solve's bound, the least for a "min" direction), with the solve's `gap`. An alternative
left at the time limit is a plan, not the furthest one: its direction lies between the two,
and the run warns which (each direction fills the cost slack like a knapsack; on the
reference data with `solver=fast`, 18 of 26 are proven within the 60 s limit and the rest
stop 1.2-3.2 % short, where one branch and bound each proved 11 with gaps up to 7.3 %:
benchmarks/README.md, rounds 26 and 27).

What this is not: the alternatives span the near-optimal region in the directions asked,
not every plan in it; a range read off them ("KAZ can hold 12 to 31 % of the investment")
is an inner estimate of the true range, exact at its ends only when every solve is optimal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from twin.data import Dataset
from twin.model import BuiltModel
from twin.model.finance import capex_terms
from twin.parallel import ParallelOptions, run_tasks
from twin.plan import PlanError, PlanRun, optimise
from twin.scenario import Scenario


@dataclass(frozen=True)
class Direction:
    name: str  # country:KAZ, chain:agrotech, emissions, random:3
    sense: str  # max / min


def directions(countries: list[str], chains: list[str], random: int) -> list[Direction]:
    out = []
    for kind, names in (("country", countries), ("chain", chains)):
        for name in names:
            out += [Direction(f"{kind}:{name}", "max"), Direction(f"{kind}:{name}", "min")]
    out += [Direction("emissions", "min"), Direction("emissions", "max")]
    out += [Direction(f"random:{i}", "min") for i in range(random)]
    return out


def _owner(term, built: BuiltModel) -> tuple[str, str]:
    """(country, chain) a capex term counts for."""
    data = built.data
    if term.asset_type == "site":
        return term.country, data.sites[term.asset_id].chain
    return term.country, "logistics"


def capex_by(built: BuiltModel) -> tuple[dict[str, list], dict[str, list], list]:
    """(coefficient, variable) pairs of overnight capex per country, per chain, in all."""
    countries: dict[str, list] = {}
    chains: dict[str, list] = {}
    every = []
    for term in capex_terms(built.model, built.data):
        country, chain = _owner(term, built)
        pair = (term.coefficient, term.var)
        countries.setdefault(country, []).append(pair)
        chains.setdefault(chain, []).append(pair)
        every.append(pair)
    return countries, chains, every


def _sum(pairs: list) -> object:
    return pyo.quicksum(c * v for c, v in pairs) if pairs else 0.0


def capex_values(built: BuiltModel) -> tuple[dict[str, float], dict[str, float]]:
    """Overnight capex of the solved plan per country and per chain."""
    countries, chains, _ = capex_by(built)

    def total(pairs: list) -> float:
        return float(sum(c * (v.value or 0.0) for c, v in pairs))

    return (
        {name: total(pairs) for name, pairs in countries.items()},
        {name: total(pairs) for name, pairs in chains.items()},
    )


def objective(built: BuiltModel, direction: Direction, shares: dict[str, float], seed: int):
    """The linear objective of a direction (module docstring)."""
    kind, _, name = direction.name.partition(":")
    if kind == "emissions":
        return built.model.total_emissions
    countries, chains, every = capex_by(built)
    if kind == "random":
        rng = np.random.default_rng([seed, int(name)])
        weights = rng.normal(size=len(every))
        return pyo.quicksum(w * c * v for w, (c, v) in zip(weights, every, strict=True))
    owned = (countries if kind == "country" else chains).get(name, [])
    return _sum(owned) - shares.get(direction.name, 0.0) * _sum(every)


def _alternative(task: tuple) -> dict:
    """One alternative: the plan furthest in its direction within the cost cap."""
    ds, scenario, number, direction, shares, seed, start = task

    def aim(built: BuiltModel) -> None:
        m = built.model
        m.objective.deactivate()
        sense = pyo.maximize if direction.sense == "max" else pyo.minimize
        m.direction = pyo.Objective(expr=objective(built, direction, shares, seed), sense=sense)

    run = optimise(ds, scenario, f"alternative_{number}", adjust=aim, start=start)
    solved = run.solved
    row = {"alternative": number, "direction": direction.name, "sense": direction.sense}
    row |= {"status": solved.status, "message": solved.message}
    if run.results is None:
        return {"row": row, "investments": None}
    sign = -1.0 if direction.sense == "max" else 1.0  # HiGHS minimises: a max is negated
    row["reach"] = sign * solved.objective + 0.0  # no -0.0
    row["reach_bound"] = None if solved.bound is None else sign * solved.bound + 0.0
    row["gap"] = reach_gap(row["reach"], row["reach_bound"])
    countries, chains = capex_values(run.built)
    row |= {"cost": run.results.cost, "emissions_t": run.results.emissions_t}
    row |= {f"capex_{country}": value for country, value in countries.items()}
    row |= {f"chain_capex_{chain}": value for chain, value in chains.items()}
    return {"row": row, "investments": run.results.tables["investments"]}


def reach_gap(reach: float, bound: float | None) -> float | None:
    """How much further than `reach` a plan within the slack may go, relative to the larger
    of the two. HiGHS's gap is relative to the plan's objective, and a share direction's is
    0 at the least-cost plan it starts from: an alternative stopped there reported a gap of
    1.2e17 %, where this says 100 %."""
    if bound is None:
        return None
    scale = max(abs(reach), abs(bound))
    return abs(bound - reach) / scale if scale > 0 else 0.0


def unproven(frame: pd.DataFrame) -> list[str]:
    """A warning where alternatives stopped at the time limit: their reach is a plan's, and
    the furthest plan lies up to their bound."""
    late = frame[frame["status"] == "time_limit"]
    if late.empty:
        return []
    text = f"{len(late)} of {len(frame)} alternatives stopped at the time limit"
    if late["gap"].notna().any():
        widest = late.loc[late["gap"].idxmax()]
        text += f"; widest gap {widest['gap']:.1%} ({widest['direction']} {widest['sense']})"
    return [f"{text}: each goes at least as far as its reach and at most as far as its reach_bound"]


def reference_shares(optimum: PlanRun) -> dict[str, float]:
    """The optimum's share of overnight capex of each country and chain."""
    countries, chains = capex_values(optimum.built)
    total = sum(countries.values())
    shares = {}
    for kind, values in (("country", countries), ("chain", chains)):
        for name, value in values.items():
            shares[f"{kind}:{name}"] = value / total if total > 0 else 0.0
    return shares


def alternatives(
    ds: Dataset,
    scenario: Scenario,
    optimum: PlanRun,
    slack: float,
    random: int,
    seed: int,
    parallel: ParallelOptions,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per alternative, the investments of each with an `alternative` column)."""
    if optimum.results is None:
        raise PlanError("alternatives need the least-cost plan, which has no solution")
    least = optimum.results.cost
    capped = replace(scenario, cost_cap=least + slack * abs(least))
    countries = sorted(set(ds.regions["country"]))
    chains = sorted(set(ds.commodities["chain"]))
    shares = reference_shares(optimum)
    start = optimum.highs.values()
    asked = directions(countries, chains, random)
    tasks = [(ds, capped, i + 1, d, shares, seed, start) for i, d in enumerate(asked)]
    rows, built = [], []
    for (_, _, number, direction, *_), outcome in zip(
        tasks, run_tasks(_alternative, tasks, parallel, label="alternatives"), strict=True
    ):
        if not outcome.ok:
            failed = {"alternative": number, "direction": direction.name, "status": "error"}
            reason = outcome.error.splitlines()[-1] if outcome.error else "no answer"
            rows.append(failed | {"sense": direction.sense, "message": reason})
            continue
        rows.append(outcome.value["row"])
        if outcome.value["investments"] is not None:
            built.append(outcome.value["investments"].assign(alternative=number))
    frame = pd.DataFrame(rows)
    cost = frame["cost"] if "cost" in frame else pd.Series(np.nan, index=frame.index)
    frame["cost_increase_pct"] = 100 * (cost - least) / abs(least)
    for column in ("reach", "reach_bound", "gap"):  # absent where no alternative has a plan
        if column not in frame:
            frame[column] = np.nan
    investments = pd.concat(built, ignore_index=True) if built else pd.DataFrame()
    return frame, investments
