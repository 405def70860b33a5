"""Tiny datasets written from Python rows, for hand-solvable model tests.

Missing columns get neutral defaults (no cost, no emissions, no expansion), so each test
states only the numbers its expected optimum depends on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from twin.data import Dataset, load_dataset
from twin.data.schemas import TABLES

DEFAULTS = {
    "name": "x",
    "blocs": "",
    "lat": 0,
    "lon": 0,
    "value_per_unit": 0,
    "critical": "false",
    "unit": "t",
    "chain": "agrotech",
    "echelon": 1,
    "activity_unit": "t",
    "capex_per_module": 0,
    "fixed_opex_per_module": 0,
    "variable_opex": 0,
    "lifetime_years": 1,
    "emissions_t_per_activity": 0,
    "jobs_per_module": 0,
    "low_carbon": "false",
    "existing_modules": 0,
    "opening_cost": 0,
    "mode": "rail",
    "distance_km": 1,
    "cost_per_unit_km": 0,
    "emissions_t_per_unit_km": 0,
    "capacity": 1e9,
    "expansion_step": 0,
    "expansion_capex": 0,
    "max_expansions": 0,
    "cost_per_unit": 0,
    "emission_factor": 0,
    "unmet_penalty": 1000,
    "gauge_break": "false",
    "transshipment_cost_per_unit": 0,
    "tariff_per_unit": 0,
    "border_delay_cost_per_unit": 0,
    "customs_union": "false",
    "years": 1,
    "period": 2025,
}


def write(root: Path, **tables: list[dict]) -> Dataset:
    """Write the given tables (rows as dicts) as a dataset under `root` and load it."""
    root.mkdir(parents=True, exist_ok=True)
    tables.setdefault("periods", [{"period": 2025, "years": 1}])
    meta = {
        "name": root.name,
        "description": "test",
        "currency": "USD",
        "price_year": 2023,
        "licence": "CC0-1.0",
    }
    (root / "dataset.yaml").write_text(yaml.safe_dump(meta))
    for spec in TABLES:
        rows = tables.get(spec.name)
        if rows is None:
            continue
        columns = list(spec.schema.columns)
        frame = pd.DataFrame(
            [{c: row.get(c, DEFAULTS.get(c, "")) for c in columns} for row in rows], columns=columns
        )
        frame.to_csv(root / spec.file, index=False)
    return load_dataset(root)


def region(rid: str, country: str = "KAZ", blocs: str = "EAEU") -> dict:
    return {"region_id": rid, "country": country, "blocs": blocs}


def link(lid: str, src: str, dst: str, **extra) -> dict:
    return {"link_id": lid, "src": src, "dst": dst, **extra}


def inland(root: Path) -> Dataset:
    """Grain from A to B inside one country: no border crossing, no corridor at all."""
    return write(
        root,
        regions=[region("A"), region("B")],
        commodities=[{"commodity_id": "grain", "value_per_unit": 50}],
        technologies=[{"technology_id": "silo", "module_size": 1}],
        recipes=[{"technology_id": "silo", "commodity_id": "grain", "coefficient": 1}],
        sites=[{"site_id": "s", "region_id": "A", "technology_id": "silo", "max_modules": 0}],
        links=[link("ab", "A", "B")],
        link_commodities=[{"link_id": "ab", "commodity_id": "grain"}],
        supply=[{"region_id": "A", "commodity_id": "grain", "max_quantity": 10}],
        demand=[{"region_id": "B", "commodity_id": "grain", "quantity": 5}],
    )
