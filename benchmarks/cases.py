"""Benchmark cases: what to build and solve, with its known objective where there is one."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.synthetic import write_synthetic
from twin.config import compose_config, to_run_inputs
from twin.data import Dataset, load_dataset
from twin.orlib import ORLIB_DIR, ORLIB_SCENARIO, instance_name, published_optimum, read_cflp
from twin.orlib import to_dataset as orlib_dataset
from twin.scenario import Scenario, SolverOptions


@dataclass(frozen=True)
class Case:
    name: str
    tiers: tuple[str, ...]
    kind: str  # orlib / config / synthetic
    source: str  # instance file, `twin run` overrides (dataset, scenario), or synthetic scale
    relax: bool = False  # solve the LP relaxation
    time_limit: float = 120.0
    mip_gap: float = 1e-4
    capacity: float | None = None

    def inputs(self, workdir: Path) -> tuple[Dataset, Scenario, float | None]:
        """Dataset, scenario and published optimum (None when there is none)."""
        options = SolverOptions(time_limit=self.time_limit, mip_gap=self.mip_gap)
        if self.kind == "orlib":
            path = ORLIB_DIR / self.source
            instance = read_cflp(path, self.capacity)
            ds = orlib_dataset(instance, workdir / instance.name)
            scenario = replace(ORLIB_SCENARIO, solver=replace(options, mip_gap=1e-9))
            return ds, scenario, published_optimum(instance_name(path, self.capacity))
        if self.kind == "config":  # the dataset and scenario `twin run <source>` would solve
            ds, scenario = to_run_inputs(compose_config(self.source.split()))
            return ds, replace(scenario, solver=options), None
        ds = load_dataset(write_synthetic(workdir / f"synthetic_{self.source}", int(self.source)))
        return ds, Scenario(solver=options), None


SMOKE, FULL = ("smoke", "full"), ("full",)
CASES = (
    Case("orlib_cap41", SMOKE, "orlib", "cap41.txt"),
    Case("orlib_cap131", SMOKE, "orlib", "cap131.txt"),
    Case("orlib_capa_14000", FULL, "orlib", "capa.txt", capacity=14000, time_limit=180),
    Case("toy", SMOKE, "config", "dataset=toy"),
    Case("eaeu_china", SMOKE, "config", "scenario=to_be", mip_gap=0.01),
    Case("eaeu_china_tight", FULL, "config", "scenario=to_be", mip_gap=0.002),
    *(
        Case(f"eaeu_china_{name}", FULL, "config", f"scenario={name}", mip_gap=0.002)
        for name in ("smart_agro_2030", "green_hydrogen", "high_carbon_price")
    ),
    Case("synthetic_2_lp", SMOKE, "synthetic", "2", relax=True),
    Case("synthetic_2", SMOKE, "synthetic", "2", time_limit=30, mip_gap=0.01),
    *(
        Case(f"synthetic_{s}_lp", FULL, "synthetic", str(s), relax=True, time_limit=600)
        for s in (5, 10, 20, 30, 40, 50)
    ),
    *(
        Case(f"synthetic_{s}", FULL, "synthetic", str(s), time_limit=120, mip_gap=0.01)
        for s in (10, 30)
    ),
)


def select(tier: str, name: str | None = None) -> list[Case]:
    cases = [c for c in CASES if tier in c.tiers and (name is None or c.name == name)]
    if not cases:
        raise SystemExit(f"no case {name!r} in tier {tier!r}")
    return cases


def scratch() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="twin-bench-")
