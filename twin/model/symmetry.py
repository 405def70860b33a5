r"""Symmetry: identical candidate sites are interchangeable, so their builds are ordered.

Two sites of one region with the same technology, existing modules, module limit, earliest
period, retirement and opening cost enter every row and the objective alike (links join
regions, not sites): swapping all their decisions (builds, openings, activity) turns a plan
into another of the same cost. Branch and bound would explore a plan and each of its swaps.
For identical candidate sites :math:`s_1 < s_2 < \dots < s_n` (by id), the rows

.. math::

    \sum_p build_{s_i p} \ge \sum_p build_{s_{i+1} p}, \qquad i = 1, \dots, n - 1

keep at least one plan of each class of swaps, so no optimum is cut off: the sites of any
plan can be permuted so that their total new modules fall in that order. The rows matter
where a planner lists several identical candidates in a region (the reference data has
none). Constraint `site_symmetry[s]`, for each site but the first of its group.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict

import pyomo.environ as pyo

from twin.model.data import ModelData


def identical_sites(data: ModelData) -> list[list[str]]:
    """Groups of two or more candidate sites (new modules possible) alike in everything but
    their id, each sorted by id."""
    groups: dict[object, list[str]] = defaultdict(list)
    for site_id in sorted(data.sites):
        if data.build_periods.get(site_id):
            groups[dataclasses.replace(data.sites[site_id], site_id="")].append(site_id)
    return [group for group in groups.values() if len(group) > 1]


def add_symmetry(m: pyo.ConcreteModel, data: ModelData) -> None:
    """`site_symmetry[s]`: each identical site's new modules at most its predecessor's."""
    before = {b: a for group in identical_sites(data) for a, b in itertools.pairwise(group)}
    if not before:
        return

    def total(site_id: str):
        return sum(m.build[site_id, p] for p in data.build_periods[site_id])

    m.site_symmetry = pyo.Constraint(list(before), rule=lambda _, s: total(before[s]) >= total(s))
