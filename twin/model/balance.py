r"""Commodity balance: what enters a region equals what leaves it, for every commodity.

For every (region r, commodity k, period p) touched by any term:

.. math::

    buy_{rkp} + \sum_{l \in in(r)} flow_{lkp} + \sum_{s \in S_r} a^+_{sk}\, activity_{sp}
    = \sum_{s \in S_r} a^-_{sk}\, activity_{sp} + \sum_{l \in out(r)} flow_{lkp}
      + (D_{rkp} - unmet_{rkp})

where :math:`a^\pm` are the recipe's output and input coefficients. There is no disposal
term: every unit bought or produced must be consumed, shipped on or served. Constraint
`balance[r, k, p]`; its dual is the commodity's price in r (restricted LP for a MILP). The
balance holds most of the model's nonzeros (two per flow), so its rows are generated as
arrays (an `ArrayConstraint`, see below), each still a named Pyomo constraint.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from twin.model.array_constraint import ArrayConstraint
from twin.model.data import ModelData
from twin.network import Names


class _RowCodes:
    """A balance row (region, commodity, period) as one integer that sorts as the tuple does
    (from the codes of `twin.network.Names`), so the rows are found, sorted and numbered by
    numpy, not key by key in Python."""

    def __init__(self, names: Names):
        self.names = names
        self.regions, self.commodities, self.periods = (
            len(names.regions),
            len(names.commodities),
            len(names.periods),
        )
        self.size = self.regions * self.commodities * self.periods  # codes 0 .. size - 1

    def of_codes(self, region: np.ndarray, commodity: np.ndarray, period: np.ndarray):
        return (region * self.commodities + commodity) * self.periods + period

    def encode_keys(self, keys: list[tuple[str, str, int]]) -> np.ndarray:
        """Codes of (region, commodity, period) rows."""
        regions, commodities, periods = zip(*keys, strict=True) if keys else ((), (), ())
        return self.of_codes(
            self.names.encode("regions", regions),
            self.names.encode("commodities", commodities),
            self.names.encode("periods", periods),
        )

    def decode(self, codes: np.ndarray) -> list[tuple[str, str, int]]:
        region, rest = np.divmod(codes, self.commodities * self.periods)
        commodity, period = np.divmod(rest, self.periods)
        return self.names.decode(
            ("regions", region), ("commodities", commodity), ("periods", period)
        )


def add_balance(m: pyo.ConcreteModel, data: ModelData) -> None:
    """The balance rows as arrays (`ArrayConstraint`): they hold most of the nonzeros.

    A row's terms come in the order sources and sinks are listed above: purchases, flows in
    and out (in flow order), recipes, unmet demand."""
    codes = _RowCodes(data.sets.names)
    variables = [*m.buy.values(), *m.flow.values(), *m.activity.values(), *m.unmet.values()]
    rows, positions, coefficients = [], [], []  # per group of terms, in the order above

    def add(rows_of_terms: np.ndarray, position: np.ndarray, coefficient) -> None:
        rows.append(rows_of_terms)
        positions.append(position)
        coefficients.append(np.broadcast_to(np.asarray(coefficient, dtype=float), len(position)))

    first = 0
    add(codes.encode_keys(list(m.buy)), first + np.arange(len(m.buy)), 1.0)
    first += len(m.buy)
    flows = data.sets.flows  # the flow variables' index as arrays, in their order
    if len(flows.link) != len(m.flow):
        raise ValueError(f"balance: {len(flows.link)} flows in the sets, {len(m.flow)} variables")
    into = codes.of_codes(flows.dst, flows.commodity, flows.period)
    out_of = codes.of_codes(flows.src, flows.commodity, flows.period)
    add(  # in and out, flow by flow
        np.stack([into, out_of], axis=1).ravel(),
        np.repeat(first + np.arange(len(into)), 2),
        np.tile([1.0, -1.0], len(into)),
    )
    first += len(m.flow)
    recipes = [
        ((data.sites[s].region, k, p), position, coefficient)
        for position, (s, p) in enumerate(m.activity, start=first)
        for k, coefficient in data.recipe[data.sites[s].technology]
    ]
    keys, position, coefficient = zip(*recipes, strict=True) if recipes else ((), (), ())
    add(codes.encode_keys(list(keys)), np.asarray(position, dtype=np.int64), coefficient)
    first += len(m.activity)
    add(codes.encode_keys(list(m.unmet)), first + np.arange(len(m.unmet)), 1.0)

    terms = np.concatenate(rows)
    demand_rows = codes.encode_keys(list(data.demand))  # a demand row exists even if unserved
    present = np.zeros(codes.size, dtype=bool)  # a row per code present, in code order:
    present[terms] = present[demand_rows] = True  # counted, not sorted (1M terms at 1.1M nnz)
    keys = codes.decode(np.flatnonzero(present))
    row = np.cumsum(present, dtype=np.int32)[terms] - 1  # int32: fewer rows than 2^31
    demand = np.array([data.demand.get(key, (0.0, 0.0))[0] for key in keys], dtype=float)
    m.balance_index = pyo.Set(initialize=keys, dimen=3, ordered=True)
    m.balance = ArrayConstraint(
        m.balance_index,
        variables,
        rows=row,
        positions=np.concatenate(positions),
        coefficients=np.concatenate(coefficients),
        lower=demand,
        upper=demand,
    )
