"""Benchmark cases: what to build and solve, with its known objective where there is one."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.peers import textbook_cflp
from benchmarks.synthetic import write_synthetic
from twin.config import compose_config, to_run_inputs
from twin.data import Dataset, load_dataset
from twin.mcnd import MCND_DIR, MCND_SCENARIO, known_optimum, read_mcnd
from twin.mcnd import to_dataset as mcnd_dataset
from twin.orlib import ORLIB_DIR, ORLIB_SCENARIO, instance_name, published_optimum, read_cflp
from twin.orlib import to_dataset as orlib_dataset
from twin.scenario import Scenario, SolverOptions


@dataclass(frozen=True)
class Case:
    name: str
    tiers: tuple[str, ...]
    kind: str  # orlib / mcnd / config / pareto / alternatives / synthetic / stress / stochastic
    source: str  # instance file, `twin run` overrides (dataset, scenario), or synthetic scale
    relax: bool = False  # solve the LP relaxation
    time_limit: float = 120.0
    mip_gap: float = 1e-4
    capacity: float | None = None
    alone: bool = True  # also solve its MPS file by highspy alone (the overhead ratio)
    method: str = "monolithic"  # or benders (twin.decompose), as solver.method
    root_lp: str = "simplex"  # or ipm, as solver.root_lp

    def peer(self, time_limit: float) -> dict:
        """The textbook model of the instance solved by highspy alone, where there is one."""
        if self.kind != "orlib":
            return {}
        instance = read_cflp(ORLIB_DIR / self.source, self.capacity)
        return textbook_cflp(instance, time_limit, 1e-9)

    def inputs(self, workdir: Path) -> tuple[Dataset, Scenario, float | None]:
        """Dataset, scenario and published optimum (None when there is none)."""
        options = SolverOptions(
            time_limit=self.time_limit,
            mip_gap=self.mip_gap,
            method=self.method,
            root_lp=self.root_lp,
        )
        if self.kind == "orlib":
            path = ORLIB_DIR / self.source
            instance = read_cflp(path, self.capacity)
            ds = orlib_dataset(instance, workdir / instance.name)
            scenario = replace(ORLIB_SCENARIO, solver=replace(options, mip_gap=1e-9))
            return ds, scenario, published_optimum(instance_name(path, self.capacity))
        if self.kind == "mcnd":
            instance = read_mcnd(MCND_DIR / self.source)
            ds = mcnd_dataset(instance, workdir / instance.name)
            known = known_optimum(instance.name) or {}
            optimum = float(known["objective"]) if known.get("status") == "optimal" else None
            return ds, replace(MCND_SCENARIO, solver=replace(options, mip_gap=1e-7)), optimum
        if self.kind in ("config", "pareto", "alternatives", "stress", "stochastic"):  # twin run
            ds, scenario = to_run_inputs(compose_config(self.source.split()))
            return ds, replace(scenario, solver=options), None
        ds = load_dataset(write_synthetic(workdir / f"synthetic_{self.source}", int(self.source)))
        return ds, Scenario(solver=options), None


SMOKE, FULL = ("smoke", "full"), ("full",)
AS_RUN = {"alone": False, "method": "auto"}  # a case that stands for a whole `twin run`
CAPACITIES = {  # OR-Library capopt: the capacities each of capa, capb, capc stands for
    "capa": (8000, 10000, 12000, 14000),
    "capb": (5000, 6000, 7000, 8000),
    "capc": (5000, 5750, 6500, 7250),
}
MCND = sorted(path.name for path in MCND_DIR.glob("*.dow"))
MCND_SMOKE = "r01.6.dow"
REFERENCE_SCENARIOS = ("smart_agro_2030", "green_hydrogen", "high_carbon_price")


def _capopt(name: str, capacity: int, suffix: str = "", **changes) -> Case:
    """OR-Library's 100 x 1000 instance `name` at `capacity`, 600 s, with the textbook peer."""
    label = f"orlib_{name}_{capacity}{suffix}"
    return Case(
        label,
        FULL,
        "orlib",
        f"{name}.txt",
        capacity=capacity,
        time_limit=600,
        alone=False,
        **changes,
    )


def _mcnd(file: str, tiers: tuple[str, ...], **changes) -> Case:
    """A Canad R network design instance (`data/mcnd_canad_r/`)."""
    return Case(f"mcnd_{file.removesuffix('.dow')}", tiers, "mcnd", file, **changes)


CASES = (
    Case("orlib_cap41", SMOKE, "orlib", "cap41.txt"),
    Case("orlib_cap131", SMOKE, "orlib", "cap131.txt"),
    *(_capopt(name, c) for name, capacities in CAPACITIES.items() for c in capacities),
    # its root LP is its whole solve, and interior point the faster on it (round 29)
    _capopt("capa", 14000, "_ipm", root_lp="ipm"),
    _mcnd(MCND_SMOKE, SMOKE, time_limit=60),
    *(  # the smoke instance is in the full tier already, as every smoke case is
        _mcnd(file, FULL, time_limit=300, alone=False) for file in MCND if file != MCND_SMOKE
    ),
    Case("toy", SMOKE, "config", "dataset=toy"),
    Case("eaeu_china", SMOKE, "config", "scenario=to_be", mip_gap=0.01),
    Case("eaeu_china_tight", FULL, "config", "scenario=to_be", mip_gap=0.001),
    Case("eaeu_china_tight_0.2", FULL, "config", "scenario=to_be", mip_gap=0.002),
    *(
        Case(f"eaeu_china_{name}", FULL, "config", f"scenario={name}", mip_gap=0.001)
        for name in REFERENCE_SCENARIOS
    ),
    *(
        Case(f"{name}_benders", FULL, "config", source, mip_gap=gap, alone=False, method="benders")
        for name, source, gap in (
            ("eaeu_china_tight", "scenario=to_be", 0.001),
            ("eaeu_china_tight_0.2", "scenario=to_be", 0.002),
            *((f"eaeu_china_{n}", f"scenario={n}", 0.001) for n in REFERENCE_SCENARIOS),
        )
    ),
    # analyses as a planner runs them: the solver options of `twin run <source>`, Benders
    # where it splits the model (`auto`), as the app's
    Case("eaeu_china_pareto", FULL, "pareto", "analysis=pareto", **AS_RUN, mip_gap=0.002),
    Case(  # the same frontier by emission budgets: dents found, but a branch and bound each
        "eaeu_china_pareto_epsilon",
        FULL,
        "pareto",
        "analysis=pareto scenario.pareto_method=epsilon",
        **AS_RUN,
        mip_gap=0.002,
    ),
    Case(  # the plans near the optimum as the README runs them
        "eaeu_china_alternatives",
        FULL,
        "alternatives",
        "analysis=alternatives solver=fast",
        **AS_RUN,
        mip_gap=0.01,
        time_limit=60,
    ),
    Case("synthetic_2_lp", SMOKE, "synthetic", "2", relax=True),
    Case("synthetic_2", SMOKE, "synthetic", "2", time_limit=30, mip_gap=0.01),
    *(
        Case(f"synthetic_{s}_lp", FULL, "synthetic", str(s), relax=True, time_limit=600)
        for s in (5, 10, 20, 30, 40, 50)
    ),
    *(
        Case(f"synthetic_{s}", FULL, "synthetic", str(s), time_limit=120, mip_gap=0.005)
        for s in (10, 30)
    ),
    *(  # the default method, where Benders stalls and hands over to one branch and bound
        Case(f"synthetic_{s}_auto", FULL, "synthetic", str(s), mip_gap=0.005, method="auto")
        for s in (2, 5)
    ),
    *(  # the reference plan (1 % gap) in 1,000 sampled futures, on each backend
        Case(
            f"stress_1000_{backend}",
            FULL,
            "stress",
            f"uncertainty=combined uncertainty.sample.count=1000 parallel.backend={backend}",
            mip_gap=0.01,
        )
        for backend in ("serial", "joblib", "ray")
    ),
    *(  # one plan for n sampled futures: extensive form against Benders
        Case(
            f"stochastic_{n}_{method}",
            FULL,
            "stochastic",
            f"uncertainty=combined uncertainty.sample.count={n} solver.method={method}",
            mip_gap=0.01,
            time_limit=600,
        )
        for n in (4, 16, 64, 256)
        for method in ("monolithic", "benders")
    ),
)


def select(tier: str, name: str | None = None) -> list[Case]:
    cases = [c for c in CASES if tier in c.tiers and (name is None or c.name == name)]
    if not cases:
        raise SystemExit(f"no case {name!r} in tier {tier!r}")
    return cases


def frontier_settings(case: Case) -> tuple[int, str]:
    """The points of the frontier `twin run <source>` draws, and its method between the ends
    (scenario.pareto_points, scenario.pareto_method)."""
    settings = compose_config(case.source.split()).scenario
    return int(settings.pareto_points), str(settings.pareto_method)


def scratch() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="twin-bench-")
