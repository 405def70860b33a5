"""Structured configs of the Hydra app, and their translation into a Dataset and Scenario.

The dataclasses live in this importable module (not in the entry script) so that launchers
that pickle them (joblib, Ray, submitit) can rebuild them. Hydra checks types and unknown
keys against them before any work, `twin.config_checks` the values; `to_run_inputs` checks
what only the dataset can tell (a corridor, crossing, country or bloc that does not exist)
and names the config key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from twin.data import Dataset, load_dataset
from twin.data.subset import only_countries
from twin.scenario import FAMILIES, STRENGTHENING, Scenario, SolverOptions

REPO = Path(__file__).resolve().parents[1]
MAX_DIRNAME = 200  # bytes of a sweep run's directory name (file systems allow 255)


class ConfigError(ValueError):
    """A config value that the dataset or the model cannot accept; names the key."""


@dataclass
class DatasetConfig:
    name: str = MISSING
    path: str = MISSING  # dataset directory, relative to the repository or absolute


@dataclass
class CorridorConfig:
    """Which cross-border corridors are open and what crossing them costs."""

    name: str = "all"
    open: list[str] = field(default_factory=lambda: ["all"])  # corridor ids, or ["all"]
    crossing_capacity: dict[str, float] = field(default_factory=dict)  # unit per year
    tariff: dict[str, float] = field(default_factory=dict)  # corridor -> currency per unit
    border_delay_cost: dict[str, float] = field(default_factory=dict)  # corridor -> per unit


@dataclass
class RiskConfig:
    """Mean-CVaR objective of analysis=stochastic: (1 - weight) E[cost] + weight CVaR."""

    alpha: float = 0.95  # CVaR of the worst 1 - alpha of probability
    weight: float = 0.0  # 0: expected cost


@dataclass
class ScenarioConfig:
    """The numeric knobs a planner sweeps; money in the dataset's currency."""

    name: str = "to_be"
    objective: str = "cost"  # cost / carbon / weighted
    compare_as_is: bool = True  # also solve as-is and report the changes
    allow_investment: bool = True
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    carbon_price: float = 0.0  # currency per tCO2e
    carbon_cap: float | None = None  # tCO2e per year, every period
    carbon_cap_pct: float | None = None  # % of as-is emissions, every period
    carbon_weight: float = 0.0  # currency per tCO2e (weighted objective)
    budget: float | None = None  # currency of overnight capex per period
    budget_shares: dict[str, float] = field(default_factory=dict)  # country -> share
    budget_shares_from: str | None = None  # a coalitions run: its Shapley shares of the cost
    discount_rate: float = 0.08  # per year
    green_rate: float = 0.04  # per year, low-carbon technologies
    max_import_share: float | None = None  # of critical commodities used in the bloc
    bloc: str = "EAEU"
    demand_growth: float = 1.0  # multiplier on every demand quantity
    pareto_points: int = 7  # points of the cost-carbon frontier (analysis=pareto), at most
    pareto_method: str = "weighted"  # between its ends: weighted (carbon prices) / epsilon
    risk: RiskConfig = field(default_factory=RiskConfig)  # analysis=stochastic


@dataclass
class CoalitionsConfig:
    """analysis=coalitions: countries always present as transit and markets, not players."""

    fixed_outside: list[str] = field(default_factory=list)


@dataclass
class AnalysisConfig:
    """What the run answers: plan (default), disruption, n1, pareto, stress, stochastic,
    coalitions or alternatives (`twin.analysis.ANALYSES`)."""

    name: str = "plan"
    plan_dir: str | None = None  # a previous run directory whose plan the what-ifs take
    n1_corridor: str | None = None  # n1 over this corridor's links instead of the crossings
    worth: bool = True  # stochastic: also ws and eev (a MILP per future, one for the mean)
    worth_futures: int = 10  # stochastic: own plans of this many futures drawn (0: every one)
    countries: list[str] = field(default_factory=list)  # plan for these countries alone
    slack: float = 0.05  # alternatives: cost at most (1 + slack) x the least cost
    directions: int = 4  # alternatives: random directions besides countries, chains, emissions
    seed: int = 0  # of the alternatives' random directions and the futures drawn for ws
    coalitions: CoalitionsConfig = field(default_factory=CoalitionsConfig)


@dataclass
class DisruptionConfig:
    """What goes wrong in analysis=disruption (ids of the dataset)."""

    name: str = "none"
    close_links: list[str] = field(default_factory=list)
    close_corridors: list[str] = field(default_factory=list)
    close_crossings: list[str] = field(default_factory=list)
    capacity_cut: dict[str, float] = field(default_factory=dict)  # site/link/crossing -> share
    demand_factor: float = 1.0  # multiplier on demand quantities
    demand_commodities: list[str] = field(default_factory=list)  # [] = every commodity
    price_factor: dict[str, float] = field(default_factory=dict)  # commodity -> supply cost x


@dataclass
class ScopeConfig:
    """A factor on demand or supply prices of one chain, country, commodity and period."""

    factor: float = 1.0
    chain: str | None = None
    country: str | None = None
    commodity: str | None = None
    period: int | None = None


@dataclass
class FutureConfig:
    """One named future of an uncertainty set (twin.uncertainty)."""

    name: str = MISSING
    probability: float = MISSING
    demand: list[ScopeConfig] = field(default_factory=list)
    price: list[ScopeConfig] = field(default_factory=list)
    close_links: list[str] = field(default_factory=list)
    close_corridors: list[str] = field(default_factory=list)
    close_crossings: list[str] = field(default_factory=list)
    periods: list[int] = field(default_factory=list)  # closures only in these; [] = all
    capacity_cut: dict[str, float] = field(default_factory=dict)  # asset/corridor -> share
    carbon_price: float | None = None


@dataclass
class DistributionConfig:
    """A sampled factor (or carbon price): normal (mean, sd), triangular (low, mode, high)
    or uniform (low, high), on the rows of its scope."""

    distribution: str = "normal"
    mean: float = 1.0
    sd: float = 0.0
    low: float | None = None
    mode: float | None = None
    high: float | None = None
    chain: str | None = None
    country: str | None = None
    commodity: str | None = None
    period: int | None = None


@dataclass
class ClosureRiskConfig:
    """A link, corridor or crossing closed in each period with this probability."""

    link: str | None = None
    corridor: str | None = None
    crossing: str | None = None
    probability: float = 0.0


@dataclass
class SampleConfig:
    count: int = 0  # equiprobable futures drawn; 0: the futures are listed instead
    seed: int = 0
    demand: list[DistributionConfig] = field(default_factory=list)
    price: list[DistributionConfig] = field(default_factory=list)
    closures: list[ClosureRiskConfig] = field(default_factory=list)
    carbon_price: DistributionConfig | None = None


@dataclass
class UncertaintyConfig:
    """The futures a plan is stress-tested in or planned for (analysis=stress/stochastic)."""

    name: str = "none"
    futures: list[FutureConfig] = field(default_factory=list)
    sample: SampleConfig = field(default_factory=SampleConfig)


@dataclass
class ParallelConfig:
    """Where many solves run (twin.parallel): serial, joblib (local cores) or ray."""

    backend: str = "joblib"
    workers: int = 0  # 0: every core (of this machine, or of a local Ray)
    address: str | None = None  # a Ray cluster's address (auto: the running one)


@dataclass
class SolverConfig:
    name: str = "highs"
    time_limit: float = 120.0  # seconds
    mip_gap: float = 0.002  # relative
    threads: int = 0  # 0: HiGHS decides; Benders's subproblems use this process's cores
    seed: int = 0
    # rows and bounds that tighten the model without changing its optimum (docs/model.md)
    strengthen: list[str] = field(default_factory=lambda: list(STRENGTHENING))
    # auto: Benders (investments in a master, operations per period) where the operations
    # split, else one branch and bound; or monolithic, or benders
    method: str = "auto"
    # RENS on a spare core hands plans to a large branch and bound (twin.rens); off for
    # runs that must repeat to the last digit
    rens: bool = True
    # how a branch and bound solves its root LP: simplex, or ipm (interior point and
    # crossover), faster where the root LP is most of the solve and simplex slow on it
    # (OR-Library capa at 10,000 and 14,000: 0.5-0.6 of the time; slower on capb, capc and
    # synthetic_30; benchmarks/README.md, round 29)
    root_lp: str = "simplex"
    # Benders also cuts at the neighbours of its MILP masters' plans from this master on
    # (twin.decompose): for gaps tighter than the default and hard runs; 0: never
    neighbours_from: int = 0
    # Benders keeps the operations of one period (the one whose rows hold the most
    # investments) whole in its master from this MILP master on, priced exactly there
    # (partial Benders); 0: never
    keep_period_from: int = 1
    # Benders searches the whole model, operations priced exactly, where its MILP master's
    # plans disagree, for a better plan (twin.crossover), while its gap is open
    crossover: bool = True


@dataclass
class TwinConfig:
    dataset: DatasetConfig = MISSING
    corridor: CorridorConfig = MISSING
    scenario: ScenarioConfig = MISSING
    solver: SolverConfig = MISSING
    analysis: AnalysisConfig = MISSING
    disruption: DisruptionConfig = MISSING
    uncertainty: UncertaintyConfig = MISSING
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    resume: bool = True  # skip a run whose run.json is finished for the same config and data
    report: bool = False  # also write report.html (twin report) into the run or sweep directory


# keys of TwinConfig that say how to run, not what: no part of a run's identity or results
BOOKKEEPING = ("resume", "report", "parallel")


def safe_dirname(override_dirname: str) -> str:
    """A sweep run's sub-directory name from its overrides: one level, however the values
    are spelt ('/' of a path-valued override and '%' are percent-encoded, so names stay
    distinct), and within the 255 bytes a file name may have (a long one ends in a hash)."""
    name = quote(override_dirname, safe="=,+-_.:@[]{}'\" ") or "default"
    if len(name.encode()) > MAX_DIRNAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"{name[: MAX_DIRNAME - 17]}~{digest}"
    return name


def register() -> None:
    if not OmegaConf.has_resolver("twin_dirname"):
        OmegaConf.register_new_resolver("twin_dirname", safe_dirname)
    store = ConfigStore.instance()
    store.store(name="twin_schema", node=TwinConfig)
    store.store(group="dataset", name="dataset_schema", node=DatasetConfig)
    store.store(group="corridor", name="corridor_schema", node=CorridorConfig)
    store.store(group="scenario", name="scenario_schema", node=ScenarioConfig)
    store.store(group="solver", name="solver_schema", node=SolverConfig)
    store.store(group="analysis", name="analysis_schema", node=AnalysisConfig)
    store.store(group="disruption", name="disruption_schema", node=DisruptionConfig)
    store.store(group="uncertainty", name="uncertainty_schema", node=UncertaintyConfig)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config `twin run <overrides>` would run, composed without running it (for
    notebooks, tests and benchmarks)."""
    register()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        return compose(config_name="config", overrides=overrides)


def dataset_path(cfg: DatasetConfig) -> Path:
    path = Path(cfg.path)
    return path if path.is_absolute() else REPO / path


def to_run_inputs(cfg: TwinConfig, ds: Dataset | None = None) -> tuple[Dataset, Scenario]:
    """The dataset (with corridor overrides applied) and the scenario a config describes."""
    ds = ds or load_dataset(dataset_path(cfg.dataset))
    scenario_cfg = cfg.scenario
    problems = _dataset_problems(scenario_cfg, ds, list(cfg.analysis.countries))
    if problems:
        raise ConfigError("\n".join(problems))
    ds, closed = apply_corridor(ds, cfg.corridor)
    shares = budget_shares(scenario_cfg)
    outside = sorted(set(shares) - set(ds.regions["country"]))
    if outside and scenario_cfg.budget_shares_from:
        raise ConfigError(f"scenario.budget_shares_from: countries not in the dataset: {outside}")
    scenario = Scenario(
        name=scenario_cfg.name,
        objective=scenario_cfg.objective,  # type: ignore[arg-type]
        families=tuple(scenario_cfg.families),
        allow_investment=scenario_cfg.allow_investment,
        closed_links=closed,
        discount_rate=scenario_cfg.discount_rate,
        green_rate=scenario_cfg.green_rate,
        budget=scenario_cfg.budget,
        budget_shares=shares,
        carbon_price=scenario_cfg.carbon_price,
        carbon_cap=scenario_cfg.carbon_cap,
        carbon_cap_pct=scenario_cfg.carbon_cap_pct,
        carbon_weight=scenario_cfg.carbon_weight,
        bloc=scenario_cfg.bloc,
        max_import_share=scenario_cfg.max_import_share,
        demand_growth=scenario_cfg.demand_growth,
        solver=SolverOptions(
            time_limit=cfg.solver.time_limit,
            mip_gap=cfg.solver.mip_gap,
            threads=cfg.solver.threads,
            seed=cfg.solver.seed,
            strengthen=tuple(cfg.solver.strengthen),
            method=cfg.solver.method,
            rens=cfg.solver.rens,
            root_lp=cfg.solver.root_lp,
            neighbours_from=cfg.solver.neighbours_from,
            keep_period_from=cfg.solver.keep_period_from,
            crossover=cfg.solver.crossover,
        ),
    )
    if cfg.analysis.countries:  # a plan of these countries alone
        countries = set(cfg.analysis.countries)
        return only_countries(ds, countries), scenario.for_countries(countries)
    return ds, scenario


def budget_shares(scenario: ScenarioConfig) -> dict[str, float]:
    """The shares of the joint fund per country: given, or each country's Shapley share
    of the grand coalition's cost in a coalitions run (`scenario.budget_shares_from`),
    taken as its cap on the share of the budget spent on its territory: a negotiated split
    of the cost read as a split of the fund, which the run then tests."""
    if not scenario.budget_shares_from:
        return dict(scenario.budget_shares)
    if scenario.budget_shares:
        raise ConfigError("give scenario.budget_shares or scenario.budget_shares_from, not both")
    if scenario.budget is None:
        raise ConfigError(
            "scenario.budget_shares_from caps each country's share of scenario.budget: give "
            "the budget too (currency of overnight capex per period)"
        )
    import json

    import pandas as pd  # only this option reads a table

    run = Path(scenario.budget_shares_from)
    try:
        status = json.loads((run / "run.json").read_text()).get("status")
    except (OSError, ValueError):
        status = None
    if status not in ("optimal", "time_limit"):
        raise ConfigError(
            f"scenario.budget_shares_from: {run} holds no finished run (status {status})"
        )
    file = run / "results" / "allocation.parquet"
    try:
        allocation = pd.read_parquet(file, columns=["country", "shapley"])
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"scenario.budget_shares_from: no allocation of a coalitions run in {file}: {error}"
        ) from error
    total = float(allocation["shapley"].sum())
    if allocation["shapley"].isna().any() or (allocation["shapley"] <= 0).any() or total <= 0:
        raise ConfigError(
            f"scenario.budget_shares_from: {file} has Shapley values that are not all "
            "positive: they are no shares of a fund"
        )
    return dict(zip(allocation["country"], allocation["shapley"] / total, strict=True))


def _dataset_problems(
    scenario: ScenarioConfig, ds: Dataset, countries_asked: list[str]
) -> list[str]:
    """Scenario values that name what the dataset does not have (countries, blocs)."""
    countries = sorted(set(ds.regions["country"]))
    problems = [
        f"analysis.countries: {country!r} is not a country of the dataset "
        f"(known: {', '.join(countries)})"
        for country in countries_asked
        if country not in countries
    ]
    problems += [
        f"scenario.budget_shares.{country}={share!r}: not a country of the dataset "
        f"(known: {', '.join(countries)})"
        for country, share in scenario.budget_shares.items()
        if country not in countries
    ]
    blocs = set(ds.blocs())
    if scenario.bloc not in blocs and (blocs or scenario.max_import_share is not None):
        problems.append(
            f"scenario.bloc={scenario.bloc!r}: no region of the dataset is in this bloc; "
            f"known: {sorted(blocs)}"
        )
    return problems


def apply_corridor(ds: Dataset, corridor: CorridorConfig) -> tuple[Dataset, frozenset[str]]:
    """The dataset with the corridor's overrides, and the links of closed corridors."""
    corridors = ds.corridors.copy()
    crossings = ds.border_crossings.copy()
    known = set(corridors["corridor_id"])
    open_ids = known if list(corridor.open) == ["all"] else set(corridor.open)
    for key, names in (
        ("open", open_ids),
        ("tariff", corridor.tariff),
        ("border_delay_cost", corridor.border_delay_cost),
    ):
        missing = sorted(set(names) - known)
        if missing:
            raise ConfigError(
                f"corridor.{key} names corridors not in the dataset: {missing}; "
                f"known: {sorted(known)}"
            )
    missing = sorted(set(corridor.crossing_capacity) - set(crossings["crossing_id"]))
    if missing:
        raise ConfigError(
            f"corridor.crossing_capacity names crossings not in the dataset: "
            f"{missing}; known: {sorted(crossings['crossing_id'])}"
        )
    for crossing, capacity in corridor.crossing_capacity.items():
        crossings.loc[crossings["crossing_id"] == crossing, "capacity"] = float(capacity)
    for column, overrides in (
        ("tariff_per_unit", corridor.tariff),
        ("border_delay_cost_per_unit", corridor.border_delay_cost),
    ):
        for corridor_id, value in overrides.items():
            corridors.loc[corridors["corridor_id"] == corridor_id, column] = float(value)
    closed = frozenset(corridors.loc[~corridors["corridor_id"].isin(open_ids), "link_id"])
    tables = {**ds.tables, "corridors": corridors, "border_crossings": crossings}
    return replace(ds, tables=tables), closed
