"""What to optimise: the scenario a model is built for.

A plain dataclass so that notebooks and tests can build one directly; the Hydra app fills it
from configs. Money is in the dataset's currency, emissions in tCO2e.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

FAMILIES = ("capacity", "transport", "carbon", "finance", "sovereignty", "agglomeration")
OBJECTIVES = ("cost", "carbon", "weighted")


# families of twin.model that tighten the model and keep an optimum
STRENGTHENING = ("flow_bounds", "linking", "symmetry", "cover")
# one branch and bound, twin.decompose, or the decomposition where the operations split
METHODS = ("auto", "monolithic", "benders")
# how a branch and bound solves its root LP (HiGHS's `mip_lp_solver`); simplex is HiGHS's
# own choice, and interior point no faster on most large models (benchmarks, round 29)
ROOT_LPS = ("simplex", "ipm")


@dataclass
class SolverOptions:
    """Options handed to HiGHS, and the strengthening families the model is built with."""

    time_limit: float = 300.0  # seconds
    mip_gap: float = 1e-4  # relative
    threads: int = 0  # 0: HiGHS decides; Benders's subproblems: `twin.parallel.thread_share`
    seed: int = 0
    log_to_console: bool = False
    strengthen: tuple[str, ...] = STRENGTHENING
    method: str = "auto"
    rens: bool = True  # RENS beside a large branch and bound, on a spare core (twin.rens)
    root_lp: str = "simplex"  # the branch and bound's root LP: simplex or ipm (ROOT_LPS)
    neighbours_from: int = (
        0  # Benders cuts at its masters' neighbours from this master on; 0: never
    )
    keep_period_from: int = 1  # Benders keeps a period whole in its master from this one; 0: never
    crossover: bool = True  # Benders searches the whole model around its masters' plans


@dataclass
class Scenario:
    """Levers of one run. Families listed in `families` are added to the model; the commodity
    balance is always there (without it there is no model)."""

    name: str = "to_be"
    objective: Literal["cost", "carbon", "weighted"] = "cost"
    families: tuple[str, ...] = FAMILIES
    allow_investment: bool = True  # False = as-is: existing assets only
    closed_links: frozenset[str] = frozenset()
    # finance
    discount_rate: float = 0.08  # per year, social discounting and ordinary capital
    green_rate: float = 0.04  # per year, capital of low-carbon technologies
    budget: float | None = None  # currency of overnight capex per period
    budget_shares: dict[str, float] = field(default_factory=dict)  # country -> max share
    # carbon
    carbon_price: float = 0.0  # currency per tCO2e
    carbon_cap: float | None = None  # tCO2e per year, every period
    carbon_cap_by_country: dict[str, float] = field(default_factory=dict)  # tCO2e per year
    carbon_cap_pct: float | None = None  # % of as-is emissions, every period (needs as-is)
    carbon_cap_by_period: dict[int, float] = field(default_factory=dict)  # tCO2e per year
    carbon_weight: float = 0.0  # currency per tCO2e, weighted objective only
    cost_weight: float = 0.0  # tCO2e per currency, carbon objective only (a tie-break)
    carbon_reference_price: float = 100.0  # currency per tCO2e: values unmet demand in tonnes
    emissions_budget: float | None = None  # tCO2e over the whole horizon (epsilon-constraint)
    cost_cap: float | None = None  # discounted currency: the cost objective's ceiling
    # sovereignty
    bloc: str = "EAEU"
    max_import_share: float | None = None  # of critical commodities used inside the bloc
    critical_commodities: tuple[str, ...] | None = None  # None = those flagged critical
    # demand
    demand_growth: float = 1.0  # multiplier on every demand quantity
    allow_unmet: bool = True  # False: every demand must be served (else the plan is infeasible)
    # what-if: share of capacity available per site, link or border crossing id (default 1)
    availability: dict[str, float] = field(default_factory=dict)
    solver: SolverOptions = field(default_factory=SolverOptions)

    def has(self, family: str) -> bool:
        return family in self.families

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown constraint families {sorted(unknown)}; known: {FAMILIES}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be cost, carbon or weighted, not {self.objective!r}")
        self.closed_links = frozenset(self.closed_links)

    def as_is(self) -> Scenario:
        """The same scenario without new investment: what the existing network can do."""
        return replace(self, name=f"{self.name}:as_is", allow_investment=False)

    def for_countries(self, countries: set[str]) -> Scenario:
        """The same scenario for these countries alone: the per-country settings (fund
        shares, carbon caps) of the others dropped, as their regions are."""
        return replace(
            self,
            budget_shares={c: v for c, v in self.budget_shares.items() if c in countries},
            carbon_cap_by_country={
                c: v for c, v in self.carbon_cap_by_country.items() if c in countries
            },
        )
