r"""Sovereignty: the share of critical commodities used in a bloc that comes from outside it.

For each critical commodity k and period p, with bloc regions B (regions.blocs contains the
scenario's bloc) and import share bound :math:`\alpha`:

.. math::

    \sum_{l: src \notin B,\ dst \in B} flow_{lkp} \le \alpha \Big( \sum_{s \in B} a^-_{sk}\,
    activity_{sp} + \sum_{r \in B} (D_{rkp} - unmet_{rkp}) \Big)

i.e. imports are at most a share of what the bloc consumes and serves. Constraint
`import_share[k, p]`, only where some link imports k into the bloc.
"""

from __future__ import annotations

from collections import defaultdict

import pyomo.environ as pyo

from twin.model.data import ModelData


def add_sovereignty(m: pyo.ConcreteModel, data: ModelData) -> None:
    share = data.scenario.max_import_share
    if share is None:
        return
    bloc, critical = data.bloc_regions, set(data.critical)
    imports: dict[tuple[str, int], list] = defaultdict(list)
    for link_id, k, p in data.link_flows:
        link = data.links[link_id]
        if k in critical and link.src not in bloc and link.dst in bloc:
            imports[k, p].append(m.flow[link_id, k, p])
    use: dict[tuple[str, int], list] = defaultdict(list)
    for s, p in data.site_periods:
        site = data.sites[s]
        if site.region in bloc:
            for k, coefficient in data.recipe[site.technology]:
                if k in critical and coefficient < 0:
                    use[k, p].append(-coefficient * m.activity[s, p])
    for (r, k, p), (quantity, _) in data.demand.items():
        if k in critical and r in bloc:
            use[k, p].append(quantity - m.unmet[r, k, p])
    m.import_share = pyo.Constraint(
        sorted(imports),
        rule=lambda _, k, p: pyo.quicksum(imports[k, p]) <= share * pyo.quicksum(use[k, p]),
    )
