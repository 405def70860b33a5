"""The output contract (docs/results.md): every results table, its columns and dtypes.

Column names and order follow ../design/results.md exactly; `run_id` comes first. Extra
columns are allowed after the contract's own. `conform` gives a frame these dtypes, so the
Parquet files carry them explicitly (periods int, ids string, values float64).
"""

from __future__ import annotations

import pandas as pd

ID = "string"
YEAR = "int64"
NULLABLE_INT = "Int64"  # a year or a rank that may be missing
VALUE = "float64"

TABLES: dict[str, dict[str, str]] = {
    "flows": {
        "run_id": ID,
        "period": YEAR,
        "link_id": ID,
        "src": ID,
        "dst": ID,
        "mode": ID,
        "corridor": ID,
        "commodity": ID,
        "flow": VALUE,
        "capacity": VALUE,
        "cost": VALUE,
        "emissions_t": VALUE,
    },
    "production": {
        "run_id": ID,
        "period": YEAR,
        "site_id": ID,
        "region": ID,
        "technology": ID,
        "chain": ID,
        "activity": VALUE,
        "capacity": VALUE,
        "modules_installed": VALUE,
        "utilization": VALUE,
    },
    "conversion": {
        "run_id": ID,
        "period": YEAR,
        "site_id": ID,
        "region": ID,
        "technology": ID,
        "commodity": ID,
        "quantity": VALUE,
    },
    "balance": {
        "run_id": ID,
        "period": YEAR,
        "region": ID,
        "commodity": ID,
        "purchased": VALUE,
        "inflow": VALUE,
        "outflow": VALUE,
        "produced": VALUE,
        "consumed": VALUE,
        "served": VALUE,
        "unmet": VALUE,
        "price": VALUE,
        "demand": VALUE,
    },
    "investments": {
        "run_id": ID,
        "period": YEAR,
        "asset_type": ID,
        "asset_id": ID,
        "region": ID,
        "technology_or_mode": ID,
        "units_built": VALUE,
        "capex": VALUE,
        "annualised_capex": VALUE,
        "low_carbon": "bool",
    },
    "emissions": {
        "run_id": ID,
        "period": YEAR,
        "region": ID,
        "country": ID,
        "source": ID,
        "chain": ID,
        "emissions_t": VALUE,
    },
    "kpis": {
        "run_id": ID,
        "scope_type": ID,
        "scope": ID,
        "period": NULLABLE_INT,
        "kpi": ID,
        "value": VALUE,
        "unit": ID,
    },
    "objective": {"run_id": ID, "component": ID, "value": VALUE},
}


# Tables of the what-if analyses (docs/results.md, "Analyses")
ANALYSIS_TABLES: dict[str, dict[str, str]] = {
    "resilience": {
        "run_id": ID,
        "element": ID,
        "element_type": ID,
        "status": ID,
        "extra_cost": VALUE,
        "unmet_demand": VALUE,
        "extra_unmet_demand": VALUE,
        "extra_emissions_t": VALUE,
        "value_added_lost": VALUE,
        "resolve_s": VALUE,
        "rank": NULLABLE_INT,
    },
    "pareto": {
        "run_id": ID,
        "point": "int64",
        "kind": ID,
        "carbon_cap": VALUE,
        "carbon_price": VALUE,
        "status": ID,
        "emissions_t": VALUE,
        "cost": VALUE,
        "gap": VALUE,
        "value_added": VALUE,
        "jobs": VALUE,
        "unmet_demand": VALUE,
    },
    "stress": {
        "run_id": ID,
        "future": ID,
        "probability": VALUE,
        "status": ID,
        "cost": VALUE,
        "unmet_value": VALUE,
        "emissions_t": VALUE,
        "value_added": VALUE,
    },
    "coalitions": {
        "run_id": ID,
        "coalition": ID,
        "members": "object",  # a list of country codes
        "size": "int64",
        "status": ID,
        "cost": VALUE,
        "gap": VALUE,
        "unmet_value": VALUE,
        "emissions_t": VALUE,
    },
    "allocation": {
        "run_id": ID,
        "country": ID,
        "standalone_cost": VALUE,
        "shapley": VALUE,
        "shapley_error_bound": VALUE,
        "nucleolus": VALUE,
        "saving": VALUE,
        "saving_pct": VALUE,
    },
    "alternatives": {
        "run_id": ID,
        "alternative": "int64",
        "direction": ID,
        "sense": ID,
        "status": ID,
        "cost": VALUE,
        "cost_increase_pct": VALUE,
        "emissions_t": VALUE,
    },
    "alternative_investments": {**TABLES["investments"], "alternative": "int64"},
    "stochastic": {
        "run_id": ID,
        "future": ID,
        "probability": VALUE,
        "status": ID,
        "cost": VALUE,
        "unmet_value": VALUE,
        "emissions_t": VALUE,
    },
}

# twin's own columns after the contract's (results.md welcomes extra columns)
EXTRA: dict[str, dict[str, str]] = {
    "flows": {"border_crossing": ID},
    "kpis": {"plan": ID},
    "stress": {"message": ID, "resolve_s": VALUE},
    "stochastic": {"value_added": VALUE},
    "coalitions": {"bound": VALUE, "message": ID},
    "alternatives": {"reach": VALUE, "reach_bound": VALUE, "gap": VALUE, "message": ID},
}


def conform(name: str, rows: list[dict] | pd.DataFrame, run_id: str) -> pd.DataFrame:
    """A results table with the contract's columns first, in order, with their dtypes, then
    twin's extra columns; the same columns and dtypes when there are no rows at all."""
    frame = pd.DataFrame(rows)
    columns = {**{**TABLES, **ANALYSIS_TABLES}[name], **EXTRA.get(name, {})}
    frame["run_id"] = run_id
    for column in columns:
        if column not in frame:
            frame[column] = pd.Series(dtype=columns[column])
    return frame[list(columns)].astype(columns).reset_index(drop=True)


def conform_with(name: str, frame: pd.DataFrame, run_id: str, named: list[str]) -> pd.DataFrame:
    """`conform`, with columns whose names come from the data (a stress test's drivers, an
    alternative's capex per country) as floats between the contract's and twin's extras."""
    table = conform(name, frame, run_id)
    contract = list(ANALYSIS_TABLES[name])
    extras = [column for column in table.columns if column not in contract]
    variable = frame[named].astype("float64").reset_index(drop=True)
    return pd.concat([table[contract], variable, table[extras]], axis=1)
