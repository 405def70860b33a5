"""Assemble the model: variables, the balance, the switched-on families, the objective."""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass

import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from twin.data import Dataset
from twin.model.agglomeration import add_agglomeration
from twin.model.balance import add_balance
from twin.model.bounds import flow_bounds
from twin.model.capacity import add_capacity
from twin.model.carbon import add_carbon, add_emissions
from twin.model.cover import add_cover
from twin.model.data import ModelData, prepare
from twin.model.finance import add_finance, add_overnight_capex
from twin.model.linking import add_linking
from twin.model.objective import add_objective
from twin.model.sovereignty import add_sovereignty
from twin.model.symmetry import add_symmetry
from twin.model.transport import add_transport
from twin.model.variables import add_variables
from twin.scenario import Scenario

# Order matters only where a family uses another's expressions: agglomeration savings feed
# the overnight capex of the finance family, emissions feed the carbon family.
FAMILY_BUILDERS = (
    ("capacity", add_capacity),
    ("transport", add_transport),
    ("agglomeration", add_agglomeration),
    ("carbon", add_carbon),
    ("finance", add_finance),
    ("sovereignty", add_sovereignty),
)


FULL_PASS_OBJECTS = 300_000  # objects made by a build beyond which it ends in a full pass


@dataclass
class BuiltModel:
    """A Pyomo model with the data it was built from and how long building took."""

    model: pyo.ConcreteModel
    data: ModelData
    build_seconds: float


def build_model(ds: Dataset, scenario: Scenario) -> BuiltModel:
    """Build the hypercluster MILP of `ds` under `scenario`."""
    start = time.perf_counter()
    with PauseGC():  # the build makes millions of objects the collector need not scan one by one
        data = prepare(ds, scenario)
        m = pyo.ConcreteModel(name=f"twin:{ds.name}:{scenario.name}")
        add_variables(m, data)
        add_balance(m, data)
        add_emissions(m, data)
        for family, add in FAMILY_BUILDERS:
            if family == "finance":
                add_overnight_capex(m, data)
            if scenario.has(family):
                add(m, data)
        add_objective(m, data)
        strengthen = scenario.solver.strengthen
        if {"flow_bounds", "linking"} & set(strengthen):
            bounds = flow_bounds(data)
            if "flow_bounds" in strengthen:
                for var, most in zip(m.flow.values(), bounds.flow.tolist(), strict=True):
                    if math.isfinite(most):
                        var.setub(most)
            if "linking" in strengthen and {"capacity", "transport"} <= set(scenario.families):
                add_linking(m, data, bounds)
        if "symmetry" in strengthen:
            add_symmetry(m, data)
        if "cover" in strengthen and scenario.has("capacity"):
            add_cover(m, data)
    # The collector's pass over those objects is part of building (about a tenth of it at 1M
    # nonzeros): made here, where it is timed, not at some later allocation. For hundreds of
    # thousands of objects a full pass moves them to the oldest generation at once, where a
    # young pass would leave them for another one within a few thousand allocations (in the
    # hand-off: 0.69 -> 0.42 s at 0.5M nonzeros). For fewer, a young pass is enough: a full
    # one would also walk everything the process holds (~0.1 s, as long as the reference
    # model's whole build; synthetic_10 builds and hands off 0.10 s faster with a young one).
    gc.collect(2 if gc.get_count()[0] > FULL_PASS_OBJECTS else 0)
    return BuiltModel(model=m, data=data, build_seconds=time.perf_counter() - start)
