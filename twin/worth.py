r"""What a stochastic plan is worth (run.json `stochastic`; Birge and Louveaux).

- rp: the expected cost of the stochastic plan, :math:`\sum_f \pi_f c_f` with :math:`c_f`
  its cost in future f;
- ws, wait and see: the expected cost of each future's own optimal plan,
  :math:`\sum_f \pi_f w_f` (one MILP each, in parallel on `twin.parallel`);
- eev: the expected cost of the plan made for the mean future (expected demand and price
  factors and carbon price; capacity kept on average, a closure as the share of periods it
  lasts), operated in every future (`twin.stress`);
- evpi = rp - ws (what knowing the future would be worth), vss = eev - rp (what planning
  for all futures saves over planning for the average one). ws <= rp <= eev holds for
  exact solves; each term carries its MIP gap (`evpi_low`, `evpi_high`). Both compare
  least-expected-cost plans, so they are given for w = 0 only.

**Sampled wait and see.** ws needs a MILP per future, each as hard as a plan: 24 of the
500 futures of `combined` on the reference data took 5.5 to 120 s each on one core, so all
500 would take hours. Each future's LP relaxation :math:`l_f \le w_f` takes a tenth of a
second. With more futures than `analysis.worth_futures` (n), every future's LP relaxation
is solved, and its own optimum only for n futures :math:`J_1 \dots J_n` drawn with
replacement by their probabilities:

.. math::

    \widehat{ws} = \sum_f \pi_f l_f + \frac{1}{n} \sum_{j=1}^{n} (w_{J_j} - l_{J_j}),
    \qquad se = \frac{s}{\sqrt n}

with :math:`s` the sample standard deviation of the drawn futures' root gaps
:math:`w_J - l_J` (`ws_se`, the standard error of ws and of evpi = rp - ws alike). The
estimate is unbiased, since :math:`E[w_J - l_J] = \sum_f \pi_f (w_f - l_f)`, and it pays
only for the spread of the root gaps, which is far smaller than that of the optima
themselves (the LP relaxation is a control variate). ws's bound is estimated the same way,
from each drawn future's MILP bound (or its relaxation, where that is higher), so with a
sample `ws_bound`, `evpi_low` and `evpi_high` are estimates too, with about the same
standard error; `ws_relaxed`, :math:`\sum_f \pi_f l_f`, is a certain lower bound on ws
(so rp - ws_relaxed is a certain upper bound on evpi). Where the true evpi is within a
standard error or two of 0, its estimate may fall below 0. A future drawn twice counts
twice and is solved once; draws that all fall on one future, or whose root gaps are all
equal, leave no spread to measure, and no standard error. Draws are taken with
replacement, which suits any probabilities; a sample is meant to be much smaller than the
set (where it is not, `analysis.worth_futures=0` solves every future exactly).

On the reference data (the first 24 futures of `combined`, each solved to 0.2 %) the
futures' own optima spread with a standard deviation of 4.53 bn USD, their root gaps
:math:`w_f - l_f` with 0.049 bn (0.25 to 0.45 bn). So 10 draws, the default, leave a
standard error of about 0.016 bn, a tenth of the range the 0.2 % gaps leave on ws's side
(0.13 bn), where averaging 10 optima would leave 1.4 bn, and pairing each with the
stochastic plan's cost in it (its regret, standard deviation 0.79 bn) 0.25 bn.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from twin.data import Dataset
from twin.parallel import ParallelOptions, chunks, run_tasks
from twin.plan import PlanRun, optimise
from twin.scenario import Scenario
from twin.solve import HighsModel, solve, status_name
from twin.stochastic import Risk, StochasticPlan, future_model
from twin.stress import StressError, stress
from twin.uncertainty import Future, closed_link_periods, cut_assets, multipliers


def _own_optimum(task: tuple) -> dict:
    """A future's own optimal plan (wait and see): objective and bound."""
    ds, scenario, future = task
    built = future_model(ds, scenario, future)
    solved, _ = solve(built.model, scenario.solver)
    return {"status": solved.status, "objective": solved.objective, "bound": solved.bound}


def drawn_futures(probabilities: np.ndarray, most: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The futures whose own optimum is solved, as (future, weight) per draw: every future
    at its probability where there are at most `most` (0: no limit), else `most` draws by
    probability, with replacement, each weighing 1 / `most`."""
    count = len(probabilities)
    if most == 0 or count <= most:
        return np.arange(count), probabilities
    rng = np.random.default_rng(seed)
    drawn = rng.choice(count, size=most, p=probabilities / probabilities.sum())
    return drawn, np.full(most, 1.0 / most)


def _relaxed(task: tuple) -> list[tuple[str, float | None]]:
    """Each future of a chunk: its LP relaxation's status and optimum (None without one)."""
    ds, scenario, futures = task
    relaxations = []
    for future in futures:
        highs = HighsModel(future_model(ds, scenario, future).model, relax=True).highs
        highs.run()
        status = status_name(highs.getModelStatus())
        value = highs.getInfo().objective_function_value if status == "optimal" else None
        relaxations.append((status, value))
    return relaxations


def relaxed_bounds(
    ds: Dataset, scenario: Scenario, futures: list[Future], parallel: ParallelOptions
) -> tuple[np.ndarray, list[str]]:
    """Every future's LP relaxation optimum, a bound on its own optimum, in one chunk of
    futures per worker: NaN where there is none, each such future named in the problems."""
    groups = chunks(futures, parallel.worker_count())
    tasks = [(ds, scenario, group) for group in groups]
    outcomes = run_tasks(_relaxed, tasks, parallel, label="LP relaxations, in chunks")
    values, problems = [], []
    for group, outcome in zip(groups, outcomes, strict=True):
        if not outcome.ok:
            reason = outcome.error.strip().splitlines()[-1]
            problems.append(f"futures {group[0].name} to {group[-1].name}: {reason}")
            values += [np.nan] * len(group)
            continue
        for future, (status, value) in zip(group, outcome.value, strict=True):
            if value is None:
                problems.append(f"future {future.name}: {status}")
            values.append(np.nan if value is None else value)
    return np.array(values), problems


def wait_and_see(
    ds: Dataset,
    scenario: Scenario,
    futures: list[Future],
    parallel: ParallelOptions,
    most: int = 0,
    seed: int = 0,
) -> dict:
    """ws, its bound and standard error (0 where every future is solved, None where it
    cannot be told), each future planned as if it were certain, in parallel; beyond `most`
    futures, estimated from a sample and every future's LP relaxation (module docstring)."""
    p = np.array([future.probability for future in futures])
    p = p / p.sum()  # as drawn
    drawn, weights = drawn_futures(p, most, seed)
    exact = len(drawn) == len(p)  # every future, at its probability (a sample is smaller)
    solved = np.unique(drawn)
    record = {
        "ws": None,
        "ws_bound": None,
        "ws_se": None,
        "ws_draws": len(drawn),
        "ws_futures": len(solved),
        "ws_statuses": [],
    }
    if not exact:
        relaxed, problems = relaxed_bounds(ds, scenario, futures, parallel)
        record["ws_relaxed"] = None if problems else float(p @ relaxed)
        if problems:  # no estimate without every relaxation: say which failed
            return record | {"ws_note": "no LP relaxation for " + "; ".join(problems[:3])}
    tasks = [(ds, scenario, futures[i]) for i in solved]
    outcomes = run_tasks(_own_optimum, tasks, parallel, label="wait and see")
    own = {
        i: o.value if o.ok else {"status": "error", "objective": None, "bound": None}
        for i, o in zip(solved, outcomes, strict=True)
    }
    record["ws_statuses"] = sorted({value["status"] for value in own.values()})
    if any(value["objective"] is None for value in own.values()):
        return record
    objective = np.array([own[i]["objective"] for i in drawn])
    bound = np.array([own[i]["bound"] for i in drawn])
    if exact:
        return record | {"ws": float(p @ objective), "ws_bound": float(p @ bound), "ws_se": 0.0}
    base, gaps = record["ws_relaxed"], objective - relaxed[drawn]
    best = np.maximum(bound, relaxed[drawn])  # both bound the optimum: the higher holds
    spread = np.ptp(gaps) > 0  # draws on one future, or equal gaps: no spread to measure
    return record | {
        "ws": base + float(weights @ gaps),
        "ws_bound": base + float(weights @ (best - relaxed[drawn])),
        "ws_se": float(gaps.std(ddof=1) / np.sqrt(len(drawn))) if spread else None,
    }


def _kept(ds: Dataset, future: Future) -> dict[str, float]:
    """Share of capacity one future keeps per asset over the horizon: its cuts, and of a
    closed link the share of periods it stays open."""
    periods = set(ds.periods["period"].astype(int))
    closed: dict[str, set[int]] = {}
    for link, period in closed_link_periods(ds, future):
        closed.setdefault(link, set()).update(periods if period is None else {period})
    shares = cut_assets(ds, future)
    for link, shut in closed.items():
        shares[link] = shares.get(link, 1.0) * (1.0 - len(shut) / len(periods))
    return shares


def mean_future_inputs(
    ds: Dataset, scenario: Scenario, futures: list[Future]
) -> tuple[Dataset, Scenario]:
    """The expected-value future: demand and supply costs scaled by their expected factors,
    the expected carbon price, each asset's capacity scaled by its expected share kept (a
    closure counts as the share of periods it lasts)."""
    p = np.array([f.probability for f in futures])
    demand, supply = ds.demand.copy(), ds.supply.copy()
    demand["quantity"] = demand["quantity"] * sum(
        pi * multipliers(demand, f.demand, ds) for pi, f in zip(p, futures, strict=True)
    )
    supply["cost_per_unit"] = supply["cost_per_unit"] * sum(
        pi * multipliers(supply, f.price, ds) for pi, f in zip(p, futures, strict=True)
    )
    kept: dict[str, float] = {}  # expected share of capacity kept, per asset
    for pi, future in zip(p, futures, strict=True):
        for asset, share in _kept(ds, future).items():
            kept[asset] = kept.get(asset, 0.0) + pi * (share - 1.0)
    availability = dict(scenario.availability)
    for asset, change in kept.items():
        availability[asset] = availability.get(asset, 1.0) * (1.0 + change)
    prices = [scenario.carbon_price if f.carbon_price is None else f.carbon_price for f in futures]
    mean = replace(scenario, availability=availability, carbon_price=float(p @ prices))
    return replace(ds, tables={**ds.tables, "demand": demand, "supply": supply}), mean


def mean_future_plan(
    ds: Dataset, scenario: Scenario, futures: list[Future], run_id: str
) -> PlanRun:
    """The least-cost plan for the mean future (module docstring, eev)."""
    mean_ds, mean_scenario = mean_future_inputs(ds, scenario, futures)
    return optimise(mean_ds, mean_scenario, f"{run_id}:mean_future")


def expected_value_of_mean_plan(
    ds: Dataset,
    scenario: Scenario,
    futures: list[Future],
    parallel: ParallelOptions,
    run_id: str,
    mean_plan: PlanRun | None = None,
) -> dict:
    """eev: the mean future's plan (solved here unless given), operated in every future."""
    if mean_plan is None:
        mean_plan = mean_future_plan(ds, scenario, futures, run_id)
    if mean_plan.results is None:
        return {"eev": None, "mean_plan_status": mean_plan.solved.status}
    investments = mean_plan.results.tables["investments"]
    try:
        frame = stress(ds, scenario, investments, futures, parallel)
    except StressError as error:  # the mean plan cannot operate undisrupted: no eev
        return {"eev": None, "mean_plan_status": mean_plan.solved.status, "eev_note": str(error)}
    solved = (frame["status"] == "optimal").all()
    eev = float(frame["probability"] @ frame["cost"]) if solved else None
    return {
        "eev": eev,
        "mean_plan_status": mean_plan.solved.status,
        "mean_plan_gap": mean_plan.solved.gap,
    }


def worth(plan: StochasticPlan, ws: dict, eev: dict, risk: Risk) -> dict:
    """rp, ws, eev, evpi, vss (None where a term has no value), and the range the MIP gaps
    leave the evpi in; vss is a lower bound of its true value (rp is an upper bound of the
    stochastic optimum). evpi and vss compare expected costs of least-expected-cost plans:
    under mean-CVaR (weight > 0) the plan is risk-averse on purpose, so they are not given."""
    rp = plan.expected_cost
    out = {"rp": rp, **ws, **eev, "evpi": None, "vss": None}
    if risk.weight > 0:
        return out | {"worth_note": "evpi and vss are defined for the expected-cost objective"}
    if rp is not None and ws["ws"] is not None:
        out["evpi"] = rp - ws["ws"]
        # the MIP gaps bound the true evpi: rp's bound less ws, to rp less ws's bound (the
        # bound never above rp, whose plan is one: HiGHS's and Pyomo's sums differ by ulps)
        out["evpi_low"] = min(plan.solved.bound, rp) - ws["ws"]
        out["evpi_high"] = rp - ws["ws_bound"]
    if rp is not None and eev["eev"] is not None:
        out["vss"] = eev["eev"] - rp
    return out


def sampling_note(record: dict, currency: str) -> str:
    """How ws (and evpi, where given) were found, for the terminal and the report: '' where
    every future's own plan was solved, or ws has no value."""
    draws, futures = record.get("ws_draws"), record["futures"]
    if record.get("ws") is None:
        return f"no ws: {record['ws_note']}" if record.get("ws_note") else ""
    if draws is None or draws >= futures:  # a sample is fewer
        return ""
    estimated = "ws and evpi are" if record.get("evpi") is not None else "ws is"
    se = record["ws_se"]
    error = "unknown (no spread among the draws)" if se is None else f"{se:,.0f} {currency}"
    return (
        f"{estimated} estimated from the LP relaxations of all {futures} futures and the "
        f"own plans of {draws} drawn by probability ({record['ws_futures']} distinct; "
        f"analysis.worth_futures): standard error {error}"
    )
