r"""Capacity: activity within installed modules; modules within the site; fixed charge.

For every active site-period (s, p), with module size :math:`U_s` and available share
:math:`\alpha_s` (1 unless a what-if cuts the site's capacity):

.. math::

    activity_{sp} \le \alpha_s U_s \cdot installed_{sp}, \qquad
    installed_{sp} = E_{sp} + \sum_{q \le p < q + L_s} build_{sq} \le M_s

where :math:`E_{sp}` are existing modules still alive and :math:`L_s` the lifetime in years.
Fixed charge, for sites with no existing module and an opening cost: new modules need the
site opened, once:

.. math::

    build_{sp} \le (M_s - E_s) \sum_{q \le p} open_{sq}, \qquad \sum_p open_{sp} \le 1

Constraints `capacity[s, p]` (one per site-period) and `max_modules[s, p]` (one per
site-period with new modules alive), both stored as arrays, `opening[s, p]`, `open_once[s]`.
"""

from __future__ import annotations

import math

import pyomo.environ as pyo

from twin.model.array_constraint import ArrayConstraint
from twin.model.data import ModelData
from twin.model.variables import installed_terms


def add_capacity(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Capacity rows (one per site-period) and module limits (one per site-period with new
    modules alive), as arrays (`ArrayConstraint`)."""
    size = {s: data.module_size(s) for s in data.sites}
    capacity, room = [], []  # activity - size x new modules <= size x existing modules
    growing, modules, free = [], [], []  # new modules <= most modules - existing modules
    for (s, p), activity in zip(m.site_periods, m.activity.values(), strict=True):
        existing, built = installed_terms(m, s, p)
        capacity.append([(1.0, activity), *((-size[s], build) for build in built)])
        room.append(size[s] * existing)
        if built:
            growing.append((s, p))
            modules.append([(1.0, build) for build in built])
            free.append(data.sites[s].max_modules - existing)
    m.capacity = ArrayConstraint.from_terms(m.site_periods, capacity, -math.inf, room)
    m.max_modules_index = pyo.Set(initialize=growing, dimen=2, ordered=True)
    m.max_modules = ArrayConstraint.from_terms(m.max_modules_index, modules, -math.inf, free)
    opened_sites = sorted({s for s, _ in data.openings})

    def opening(_, s, p):
        room = data.sites[s].max_modules - data.sites[s].existing
        opened = pyo.quicksum(m.open[s, q] for q in data.periods if q <= p and (s, q) in m.openings)
        return m.build[s, p] <= room * opened

    m.opening = pyo.Constraint(m.openings, rule=opening)  # openings are builds, in order
    m.open_once = pyo.Constraint(
        opened_sites,
        rule=lambda _, s: (
            pyo.quicksum(m.open[s, p] for p in data.periods if (s, p) in m.openings) <= 1
        ),
    )
