"""A seeded synthetic hypercluster whose size grows with one knob.

`scale` sets regions (8 x scale), products (4 + scale, each with a raw input), technologies
(one per product) and three periods; links join each region to its next three neighbours on
a ring, both ways, carrying every commodity. Nonzeros grow about as 108 x regions x products:
scale 1 is ~5k, scale 10 ~130k, scale 30 ~0.9M, scale 40 ~1.5M, scale 50 ~2.3M.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

COUNTRIES = (("KAZ", "EAEU"), ("CHN", ""), ("RUS", "EAEU"))
NEIGHBOURS = 3
PERIODS = (2025, 2030, 2035)


def write_synthetic(directory: Path, scale: int, seed: int = 0) -> Path:
    """Write the synthetic dataset of `scale` into `directory` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    n_regions, n_products = 8 * scale, 4 + scale
    regions = [f"r{i}" for i in range(n_regions)]
    products = [f"p{j}" for j in range(n_products)]
    raws = [f"raw{j}" for j in range(n_products)]
    country = {r: COUNTRIES[(i * len(COUNTRIES)) // n_regions] for i, r in enumerate(regions)}
    tables = {
        "regions": pd.DataFrame(
            {
                "region_id": regions,
                "name": regions,
                "country": [country[r][0] for r in regions],
                "lat": 40.0,
                "lon": 80.0,
                "blocs": [country[r][1] for r in regions],
            }
        ),
        "commodities": pd.DataFrame(
            {
                "commodity_id": raws + products,
                "name": raws + products,
                "chain": "agrotech",
                "unit": "t",
                "value_per_unit": [100.0] * n_products + [250.0] * n_products,
                "critical": [False] * (2 * n_products),
            }
        ),
        "technologies": pd.DataFrame(
            {
                "technology_id": [f"t{j}" for j in range(n_products)],
                "name": "plant",
                "chain": "agrotech",
                "echelon": 2,
                "activity_unit": "t",
                "module_size": 1000.0,
                "capex_per_module": rng.uniform(1e5, 3e5, n_products).round(),
                "fixed_opex_per_module": 5000.0,
                "variable_opex": 5.0,
                "lifetime_years": 25,
                "emissions_t_per_activity": 0.05,
                "jobs_per_module": 10.0,
                "low_carbon": False,
            }
        ),
        "recipes": pd.DataFrame(
            {
                "technology_id": [f"t{j}" for j in range(n_products) for _ in (0, 1)],
                "commodity_id": [c for j in range(n_products) for c in (products[j], raws[j])],
                "coefficient": [1.0, -1.2] * n_products,
            }
        ),
    }
    sites = [
        (f"s{i}_{j}", r, f"t{j}", int(rng.random() < 0.3))
        for i, r in enumerate(regions)
        for j in range(n_products)
    ]
    tables["sites"] = pd.DataFrame(
        {
            "site_id": [s[0] for s in sites],
            "region_id": [s[1] for s in sites],
            "technology_id": [s[2] for s in sites],
            "existing_modules": [s[3] for s in sites],
            "max_modules": 3,
            "earliest_period": pd.NA,
            "existing_retirement_year": pd.NA,
            "opening_cost": 0.0,
        }
    )
    pairs = [
        (regions[i], regions[(i + d) % n_regions])
        for i in range(n_regions)
        for d in range(1, NEIGHBOURS + 1)
    ]
    links = [(f"l_{src}_{dst}", src, dst) for a, b in pairs for src, dst in ((a, b), (b, a))]
    tables["links"] = pd.DataFrame(
        {
            "link_id": [lk[0] for lk in links],
            "src": [lk[1] for lk in links],
            "dst": [lk[2] for lk in links],
            "mode": "rail",
            "distance_km": rng.uniform(100, 800, len(links)).round(),
            "cost_per_unit_km": 0.03,
            "emissions_t_per_unit_km": 2e-5,
            "capacity": rng.uniform(2e4, 8e4, len(links)).round(),
            "expansion_step": 2e4,
            "expansion_capex": 5e5,
            "max_expansions": 2,
            "lifetime_years": 40,
        }
    )
    tables["link_commodities"] = pd.DataFrame(
        [(lk[0], c) for lk in links for c in raws + products],
        columns=["link_id", "commodity_id"],
    )
    supply_rows, demand_rows = [], []
    for period in PERIODS:
        growth = 1 + 0.1 * PERIODS.index(period)
        for i, r in enumerate(regions):
            for j in range(n_products):
                if (i + j) % 2 == 0:
                    supply_rows.append((r, raws[j], period, 5000.0, 80.0 + j, 0.3))
                demand_rows.append(
                    (r, products[j], period, round(float(rng.uniform(200, 900)) * growth), 1000.0)
                )
    tables["supply"] = pd.DataFrame(
        supply_rows,
        columns=[
            "region_id",
            "commodity_id",
            "period",
            "max_quantity",
            "cost_per_unit",
            "emission_factor",
        ],
    )
    tables["demand"] = pd.DataFrame(
        demand_rows, columns=["region_id", "commodity_id", "period", "quantity", "unmet_penalty"]
    )
    tables["periods"] = pd.DataFrame({"period": PERIODS, "years": 5})
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    meta = {
        "name": f"synthetic_{scale}",
        "description": f"synthetic hypercluster, scale {scale}",
        "currency": "USD",
        "price_year": 2023,
        "licence": "CC0-1.0 (generated)",
    }
    (directory / "dataset.yaml").write_text(yaml.safe_dump(meta))
    return directory
