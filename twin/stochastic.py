r"""Plan for many futures at once: a two-stage stochastic programme (analysis=stochastic).

Investments (modules, openings, expansions, agglomeration segments) are decided here and
now, one plan for every future; operations (flows, activity, purchases, unmet demand) are
decided in each future f, with probability :math:`\pi_f`, once it is known. The extensive
form holds one whole twin model per future, built from that future's data
(`twin.uncertainty.future_inputs`), each with its own copy of the investment columns tied
to the first future's by non-anticipativity rows :math:`y_f = y_1` (HiGHS's presolve
substitutes them). With :math:`C_f` a future's total discounted cost:

.. math::

    \min\ (1 - w) \sum_f \pi_f C_f + w \Big( \eta + \frac{1}{1 - \alpha}
    \sum_f \pi_f s_f \Big) \quad \text{s.t.} \quad s_f \ge C_f - \eta,\ s_f \ge 0

the mean-CVaR objective (`scenario.risk.weight` w, `scenario.risk.alpha` :math:`\alpha`);
at its optimum :math:`\eta` is the value at risk and the bracket the CVaR, the expected
cost of the worst :math:`1 - \alpha` of probability (Rockafellar and Uryasev's
linearisation). With w = 0 it is the expected cost.

`solver.method=benders` solves the same extensive form by `twin.decompose`: the master
holds the investment columns of every future (tied by the non-anticipativity rows), and the
operations split into one LP per future and period. Under mean-CVaR (w > 0) the value-at-risk
column couples every future's cost, so the operations form one subproblem: correct, not
faster. :math:`\eta` is bounded below by the least cost any future can have (its variables'
bounds), which keeps every optimum (below it the objective only falls as :math:`\eta` rises)
and the subproblem's cost bounded below, as the decomposition needs.

The plan made for the mean future (below, eev) is the solve's first plan: its investments
keep every future's investment rows, and with unmet demand allowed every future can operate
them, so the decomposition has an upper bound from its first iteration and a solve stopped
by the clock still has a plan (on the reference data, 500 sampled futures of `combined`
ended without any plan after 120 s before this; benchmarks/README.md, round 14).

Each future's results are those of its block of the solved extensive form, audited against
its own cost once, with the run's tables before they are written (`twin.results.audit`:
auditing each future here as well cost the 500 futures of `combined` 14 s more); its
commodity prices are the balance rows' duals divided by its probability,
and are left out under mean-CVaR, where a future's weight depends on the tail. The weight
must stay below 1: at 1, futures outside the tail would carry no cost at all.

What the plan is worth (ws, eev, evpi, vss): `twin.worth`.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.repn import generate_standard_repn

from twin.data import Dataset
from twin.decompose import INVESTMENTS
from twin.kpis import compute_kpis
from twin.model import BuiltModel, build_model
from twin.plan import PlanError, PlanRun
from twin.results import Results, extract_results
from twin.scenario import Scenario
from twin.solve import HighsModel, SolveResult, solve
from twin.uncertainty import (
    Future,
    closed_link_periods,
    future_inputs,
)
from twin.whatif import horizon_total

OPERATIONAL = ("flows", "production", "conversion", "balance", "emissions", "objective")


@dataclass(frozen=True)
class Risk:
    alpha: float = 0.95  # CVaR of the worst 1 - alpha of probability
    weight: float = 0.0  # 0: expected cost; 1: CVaR alone


def future_model(ds: Dataset, scenario: Scenario, future: Future) -> BuiltModel:
    """The whole twin model of one future: its data, and its closures' flows at zero."""
    ds, scenario = future_inputs(ds, scenario, future)
    built = build_model(ds, scenario)
    closed = closed_link_periods(ds, future)
    for (link, _, period), flow in built.model.flow.items():
        if any(link == c and p in (None, period) for c, p in closed):
            flow.fix(0.0)
    return built


def _tie(ef: pyo.ConcreteModel, blocks: list[BuiltModel], futures: list[Future]) -> None:
    """Non-anticipativity: every future's investment columns equal the first future's."""
    first = blocks[0].model
    pairs = []
    for name in sorted(INVESTMENTS):
        lead = getattr(first, name, None)
        for built, future in zip(blocks[1:], futures[1:], strict=True):
            other = getattr(built.model, name, None)
            if (lead is None) != (other is None) or (lead is not None and set(lead) != set(other)):
                raise PlanError(
                    f"future {future.name} has other investment decisions ({name}) than "
                    f"{futures[0].name}: its data removes a site, link or crossing"
                )
            if lead is not None:
                pairs += [(other[index], lead[index]) for index in lead]
    ef.non_anticipativity = pyo.Constraint(
        range(len(pairs)), rule=lambda _, i: pairs[i][0] - pairs[i][1] == 0
    )


def extensive_form(
    ds: Dataset, scenario: Scenario, futures: list[Future], risk: Risk
) -> tuple[pyo.ConcreteModel, list[BuiltModel]]:
    """One model of every future, tied by non-anticipativity, with the mean-CVaR objective."""
    if not 0 <= risk.weight < 1 or not 0 <= risk.alpha < 1:
        raise PlanError(
            f"risk weight {risk.weight} and alpha {risk.alpha} must lie in [0, 1): with weight "
            "1 the futures outside the tail would carry no cost at all"
        )
    if scenario.objective != "cost":
        raise PlanError("a stochastic plan minimises cost: scenario.objective must be cost")
    if any(future.probability <= 0 for future in futures):
        raise PlanError("every future of a stochastic plan needs a probability above 0")
    ef = pyo.ConcreteModel(name="extensive_form")
    blocks = []
    for i, future in enumerate(futures):
        built = future_model(ds, scenario, future)
        built.model.objective.deactivate()
        ef.add_component(f"future_{i}", built.model)
        blocks.append(built)
    _tie(ef, blocks, futures)
    p = [future.probability for future in futures]
    costs = [built.model.total_cost for built in blocks]
    expected = pyo.quicksum(pi * cost for pi, cost in zip(p, costs, strict=True))
    objective = expected
    if risk.weight > 0:
        count = range(len(futures))
        ef.value_at_risk = pyo.Var(bounds=(_least(costs), None))
        ef.excess = pyo.Var(count, domain=pyo.NonNegativeReals)
        ef.excess_above = pyo.Constraint(
            count, rule=lambda m, f: m.excess[f] >= costs[f] - m.value_at_risk
        )
        tail = pyo.quicksum(p[f] * ef.excess[f] for f in count) / (1 - risk.alpha)
        ef.cvar = pyo.Expression(expr=ef.value_at_risk + tail)
        objective = (1 - risk.weight) * expected + risk.weight * ef.cvar
    ef.expected_cost = pyo.Expression(expr=expected)
    ef.objective = pyo.Objective(expr=objective, sense=pyo.minimize)
    return ef, blocks


def _least(costs: list) -> float | None:
    """The least any of `costs` (linear expressions) can be within its variables' bounds,
    None if one is unbounded below. The value at risk is at least that: below the least
    cost of every future the CVaR term falls as it rises. Left free, it made a Benders
    decomposition refuse the model (its operations cost unbounded below)."""
    least = math.inf
    for cost in costs:
        terms = generate_standard_repn(cost, quadratic=False)
        floor = terms.constant
        for coefficient, variable in zip(terms.linear_coefs, terms.linear_vars, strict=True):
            bound = variable.lb if coefficient >= 0 else variable.ub
            if bound is None:
                return None
            floor += coefficient * bound
        least = min(least, floor)
    return least


@dataclass
class StochasticPlan:
    solved: SolveResult
    highs: HighsModel | None
    futures: list[Future]
    runs: list[PlanRun]  # one per future: the shared investments, that future's operations
    expected_cost: float | None
    seconds: float


def _future_prices(solved: SolveResult, probability: float, risk: Risk, own: dict) -> SolveResult:
    """The solve seen from one future: its rows' duals (`own`, from `_duals_by_block`) per
    unit of its own cost (divided by its probability), which is exact for the expected-cost
    objective only: under mean-CVaR a future's weight depends on the tail, and no prices
    are given."""
    if risk.weight > 0:
        note = "no prices under a mean-CVaR objective (a future's weight depends on the tail)"
        return replace(solved, duals={}, duals_note=note)
    return replace(solved, duals={row: dual / probability for row, dual in own.items()})


def _duals_by_block(duals: dict) -> dict[int, dict]:
    """The rows' duals grouped by the id of their block, in one pass: one filter of all
    rows per future took 5 minutes with 500 futures."""
    grouped = defaultdict(dict)
    for row, dual in duals.items():
        grouped[id(row.parent_block())][row] = dual
    return grouped


def solve_stochastic(
    ds: Dataset,
    scenario: Scenario,
    futures: list[Future],
    risk: Risk,
    run_id: str,
    start: dict[str, float] | None = None,
    log_file: Path | None = None,
) -> StochasticPlan:
    """Build and solve the extensive form, from `start` if given (a plan's values by
    variable name, `HighsModel.values`: its investments become every future's), the
    solver's log in `log_file`; each future's results when there is a plan."""
    began = time.perf_counter()
    ef, blocks = extensive_form(ds, scenario, futures, risk)
    first = None if start is None else _every_future(start, len(futures))
    solved, highs = solve(ef, scenario.solver, log_file, first)
    runs, duals = [], _duals_by_block(solved.duals)
    for future, built in zip(futures, blocks, strict=True):
        run = PlanRun(built.data.scenario, built, solved, highs)
        if solved.ok:
            rows = duals.get(id(built.model), {})
            own = _future_prices(solved, future.probability, risk, rows)
            run.results = extract_results(built, own, run_id)
            run.solved = replace(own, objective=run.results.cost)  # the future's own cost
            run.kpis = compute_kpis(run.results, built.data, plan=scenario.name)
        runs.append(run)
    expected = None  # E[cost] from each future's, not another walk of 500 cost expressions
    if solved.ok:
        pairs = zip(futures, runs, strict=True)
        expected = sum(future.probability * run.results.cost for future, run in pairs)
    return StochasticPlan(solved, highs, futures, runs, expected, time.perf_counter() - began)


def _every_future(values: dict[str, float], count: int) -> dict[str, float]:
    """A deterministic plan's investments as every future block's (`future_<i>.<name>`);
    its operations are left out: they belong to its own data, not a future's."""
    invested = {
        name: value for name, value in values.items() if name.split("[", 1)[0] in INVESTMENTS
    }
    return {f"future_{i}.{name}": value for i in range(count) for name, value in invested.items()}


def combined_results(plan: StochasticPlan, run_id: str) -> tuple[Results, pd.DataFrame]:
    """One set of results tables: the operational ones (and the KPIs) with a `future`
    column, the investments once (every future's are the same plan)."""
    runs = plan.runs
    tables = {"investments": runs[0].results.tables["investments"]}
    for name in OPERATIONAL:
        tables[name] = pd.concat(
            [
                run.results.tables[name].assign(future=future.name)
                for run, future in zip(runs, plan.futures, strict=True)
            ],
            ignore_index=True,
        ).astype({"future": "string"})
    kpis = pd.concat(
        [run.kpis.assign(future=f.name) for run, f in zip(runs, plan.futures, strict=True)],
        ignore_index=True,
    ).astype({"future": "string"})
    p = np.array([f.probability for f in plan.futures])
    results = Results(
        run_id=run_id,
        tables=tables,
        objective=float(plan.solved.objective),
        cost=float(p @ [run.results.cost for run in runs]),
        emissions_t=float(p @ [run.results.emissions_t for run in runs]),
        future_costs={f.name: run.results.cost for f, run in zip(plan.futures, runs, strict=True)},
    )
    return results, kpis


def futures_table(plan: StochasticPlan) -> pd.DataFrame:
    """results/stochastic.parquet's rows (without run_id)."""
    rows = []
    for future, run in zip(plan.futures, plan.runs, strict=True):
        row = {"future": future.name, "probability": future.probability}
        row["status"] = run.solved.status
        if run.results is not None:
            row |= {
                "cost": run.results.cost,
                "unmet_value": horizon_total(run, "unmet_demand"),
                "emissions_t": run.results.emissions_t,
                "value_added": horizon_total(run, "value_added"),
            }
        rows.append(row)
    return pd.DataFrame(rows)
