"""KPIs of a plan and the as-is / to-be comparison planners quote.

One table defines every KPI (name, unit, meaning); `compute_kpis` derives them from the
results tables, per scope (total, chain, country, corridor) and period, and `compare_kpis`
turns an as-is and a to-be plan into the changes (`value_added_change_pct`,
`emissions_change_pct`, `jobs_created`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from twin.model.data import ModelData
from twin.results.extract import Results
from twin.results.schema import conform


@dataclass(frozen=True)
class Kpi:
    name: str
    unit: str
    meaning: str


# the plans a run's plan is compared with (plan column of kpis.parquet, subdirectory of a run):
# the existing network without new investment; a plan's undisrupted operations
AS_IS, BASELINE = "as_is", "baseline"
REFERENCE_PLANS = (AS_IS, BASELINE)
CHANGE = "change"  # plan column of the changes against the reference plan


def plans(kpis: pd.DataFrame) -> tuple[str, str | None]:
    """The run's plan (to_be, disrupted, or as_is run on its own) and the plan it is compared
    with (as_is, baseline; None when there is none), as kpis.parquet names them."""
    names = [name for name in dict.fromkeys(kpis["plan"].dropna()) if name != CHANGE]
    compared = len(names) > 1  # a lone as_is plan is the run's own, not a reference
    reference = next((n for n in REFERENCE_PLANS if n in names), None) if compared else None
    return next(name for name in names if name != reference), reference


def last_period(kpis: pd.DataFrame) -> int | None:
    """The target year planners quote: the last period with KPIs (None if there is none)."""
    periods = kpis["period"].dropna()
    return int(periods.max()) if len(periods) else None


def total_value(kpis: pd.DataFrame, plan: str | None, kpi: str, period: int | None) -> float | None:
    """A KPI of the whole hypercluster for `plan` in `period` (None: over the horizon, as
    the total cost), or None when kpis.parquet has no such row."""
    rows = kpis[(kpis["scope_type"] == "total") & (kpis["plan"] == plan) & (kpis["kpi"] == kpi)]
    rows = rows[rows["period"].isna() if period is None else rows["period"] == period]
    return float(rows["value"].iloc[0]) if len(rows) else None


KPIS = (
    Kpi("total_cost", "currency (discounted)", "objective cost: sum of objective.parquet"),
    Kpi("capex", "currency", "overnight capex of new assets (whole horizon: discounted annuities)"),
    Kpi("opex", "currency per year", "fixed and variable opex of sites (horizon: discounted)"),
    Kpi("value_added", "currency per year", "value of site outputs less value of site inputs"),
    Kpi("emissions_t", "tCO2e per year", "supply, process and transport emissions (horizon: t)"),
    Kpi("emissions_intensity", "tCO2e per million currency", "emissions per value added"),
    Kpi("jobs", "FTE", "jobs per module x modules installed"),
    Kpi("unmet_demand", "currency per year", "unmet demand valued at commodity value"),
    Kpi("unmet_demand_share_pct", "%", "unmet demand value over demand value"),
    Kpi("import_dependence_pct", "%", "critical commodities imported into the bloc over bloc use"),
    Kpi("corridor_flow", "commodity unit per year", "flow on the corridor's links"),
    Kpi("corridor_cost", "currency per year", "transport, tariff and border cost on the corridor"),
    Kpi("value_added_change_pct", "%", "to-be value added against as-is"),
    Kpi("emissions_change_pct", "%", "to-be emissions against as-is"),
    Kpi("emissions_intensity_change_pct", "%", "to-be emissions intensity against as-is"),
    Kpi("jobs_created", "FTE", "to-be jobs less as-is jobs"),
    Kpi("total_cost_change_pct", "%", "to-be total cost against as-is"),
    Kpi("unmet_demand_change", "currency per year", "to-be unmet demand less as-is"),
)
UNITS = {k.name: k.unit for k in KPIS}


def _rows(
    frame: pd.DataFrame, value: str, kpi: str, scopes: dict[str, str], total: bool = True
) -> list[dict]:
    """Sum `value` per period, for the whole hypercluster and for each scope column given."""
    if frame.empty:
        return []
    rows = []
    if total:
        for period, amount in frame.groupby("period")[value].sum().items():
            rows.append(
                {
                    "scope_type": "total",
                    "scope": "total",
                    "period": int(period),
                    "kpi": kpi,
                    "value": float(amount),
                }
            )
    for scope_type, column in scopes.items():
        for (scope, period), amount in frame.groupby([column, "period"])[value].sum().items():
            rows.append(
                {
                    "scope_type": scope_type,
                    "scope": str(scope),
                    "period": int(period),
                    "kpi": kpi,
                    "value": float(amount),
                }
            )
    return rows


def _number(keys: pd.Series, values: pd.Series) -> pd.Series:
    """Look numbers up by id; float even when `keys` is empty (no rows, no dtype to infer)."""
    return keys.map(values).astype("float64")


def compute_kpis(results: Results, data: ModelData, plan: str = "to_be") -> pd.DataFrame:
    """Every KPI of one plan, per scope and period (period null: whole horizon)."""
    t = results.tables
    commodities = data.ds.commodities.set_index("commodity_id")
    techs = data.technologies
    chain_of_site = {s: site.chain for s, site in data.sites.items()}
    country = data.country
    rows: list[dict] = []

    conversion = t["conversion"].assign(
        value=lambda f: f["quantity"] * _number(f["commodity"], commodities["value_per_unit"]),
        chain=lambda f: f["site_id"].map(chain_of_site),
        country=lambda f: f["region"].map(country),
    )
    rows += _rows(conversion, "value", "value_added", {"chain": "chain", "country": "country"})
    rows += _rows(
        t["emissions"], "emissions_t", "emissions_t", {"chain": "chain", "country": "country"}
    )
    production = t["production"].assign(
        jobs=lambda f: f["modules_installed"] * _number(f["technology"], techs["jobs_per_module"]),
        opex=lambda f: (
            f["modules_installed"] * _number(f["technology"], techs["fixed_opex_per_module"])
            + f["activity"] * _number(f["technology"], techs["variable_opex"])
        ),
        country=lambda f: f["region"].map(country),
    )
    rows += _rows(production, "jobs", "jobs", {"chain": "chain", "country": "country"})
    rows += _rows(production, "opex", "opex", {"chain": "chain", "country": "country"})
    investments = t["investments"].assign(
        chain=lambda f: [chain_of_site.get(a, "logistics") for a in f["asset_id"]],
        country=lambda f: f["region"].map(country),
    )
    rows += _rows(investments, "capex", "capex", {"chain": "chain", "country": "country"})
    balance = t["balance"].assign(
        value_per_unit=lambda f: _number(f["commodity"], commodities["value_per_unit"]),
        unmet_value=lambda f: f["unmet"] * f["value_per_unit"],
        demand_value=lambda f: f["demand"] * f["value_per_unit"],
        chain=lambda f: f["commodity"].map(commodities["chain"]),
        country=lambda f: f["region"].map(country),
    )
    rows += _rows(balance, "unmet_value", "unmet_demand", {"chain": "chain", "country": "country"})
    demand_rows = _rows(balance, "demand_value", "demand", {"chain": "chain", "country": "country"})
    flows = t["flows"][t["flows"]["corridor"].notna()]
    rows += _rows(flows, "flow", "corridor_flow", {"corridor": "corridor"}, total=False)
    rows += _rows(flows, "cost", "corridor_cost", {"corridor": "corridor"}, total=False)
    rows += _import_dependence(t, data)

    frame = pd.DataFrame(rows, columns=["scope_type", "scope", "period", "kpi", "value"])
    ratios = _ratios(frame, pd.DataFrame(demand_rows))
    if not ratios.empty:
        frame = pd.concat([frame, ratios], ignore_index=True)
    horizon = [
        ("total_cost", results.cost),
        ("emissions_t", results.emissions_t),
        ("capex", _component(t, "capex")),
        ("opex", _component(t, "fixed_opex") + _component(t, "variable_opex")),
    ]
    frame = pd.concat(
        [
            frame,
            pd.DataFrame(
                [
                    {"scope_type": "total", "scope": "total", "period": None, "kpi": k, "value": v}
                    for k, v in horizon
                ]
            ),
        ],
        ignore_index=True,
    )
    frame["unit"] = frame["kpi"].map(UNITS)
    frame["plan"] = plan
    return conform("kpis", frame, results.run_id)


def _component(tables: dict[str, pd.DataFrame], name: str) -> float:
    objective = tables["objective"]
    return float(objective.loc[objective["component"] == name, "value"].sum())


def _ratios(frame: pd.DataFrame, demand: pd.DataFrame) -> pd.DataFrame:
    """Intensity and unmet share, from the KPI rows already computed."""
    keys = ["scope_type", "scope", "period"]
    if frame.empty:
        return pd.DataFrame()
    wide = frame.pivot_table(index=keys, columns="kpi", values="value", aggfunc="sum")
    out = []
    if {"emissions_t", "value_added"} <= set(wide.columns):
        ratio = wide["emissions_t"] / (wide["value_added"] / 1e6)
        out.append(_long(ratio[wide["value_added"] > 0], "emissions_intensity"))
    if not demand.empty and "unmet_demand" in wide.columns:
        demand_value = demand.set_index(keys)["value"]
        share = 100 * wide["unmet_demand"].reindex(demand_value.index) / demand_value
        out.append(_long(share[demand_value > 0], "unmet_demand_share_pct"))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _long(series: pd.Series, kpi: str) -> pd.DataFrame:
    frame = series.dropna().rename("value").reset_index()
    frame["kpi"] = kpi
    return frame


def _import_dependence(t: dict[str, pd.DataFrame], data: ModelData) -> list[dict]:
    """Imports of critical commodities into the bloc as a share of the bloc's use."""
    critical, bloc = set(data.critical), data.bloc_regions
    if not critical or not bloc:
        return []
    flows = t["flows"]
    imported = flows[
        flows["commodity"].isin(critical) & ~flows["src"].isin(bloc) & flows["dst"].isin(bloc)
    ]
    balance = t["balance"]
    used = balance[balance["commodity"].isin(critical) & balance["region"].isin(bloc)]
    rows = []
    for p in data.periods:
        use = float((used.loc[used["period"] == p, ["consumed", "served"]]).sum().sum())
        if use > 0:
            share = 100 * float(imported.loc[imported["period"] == p, "flow"].sum()) / use
            rows.append(
                {
                    "scope_type": "total",
                    "scope": "total",
                    "period": p,
                    "kpi": "import_dependence_pct",
                    "value": share,
                }
            )
    return rows


CHANGES = (
    ("value_added", "value_added_change_pct", "pct"),
    ("emissions_t", "emissions_change_pct", "pct"),
    ("emissions_intensity", "emissions_intensity_change_pct", "pct"),
    ("total_cost", "total_cost_change_pct", "pct"),
    ("jobs", "jobs_created", "diff"),
    ("unmet_demand", "unmet_demand_change", "diff"),
)


def compare_kpis(to_be: pd.DataFrame, as_is: pd.DataFrame, before: str = AS_IS) -> pd.DataFrame:
    """Both plans' KPIs and the to-be changes against as-is, in one table. `before` names
    the reference plan in the `plan` column (a what-if compares with its `baseline`)."""
    keys = ["scope_type", "scope", "period", "kpi"]
    merged = to_be.merge(as_is[[*keys, "value"]], on=keys, how="inner", suffixes=("", "_as_is"))
    rows = []
    for base, name, kind in CHANGES:
        part = merged[merged["kpi"] == base]
        for record in part.itertuples():
            if kind == "diff":
                value = record.value - record.value_as_is
            elif record.value_as_is != 0:
                value = 100 * (record.value - record.value_as_is) / abs(record.value_as_is)
            else:
                continue
            rows.append(
                {
                    "scope_type": record.scope_type,
                    "scope": record.scope,
                    "period": record.period,
                    "kpi": name,
                    "value": value,
                    "unit": UNITS[name],
                    "plan": CHANGE,
                }
            )
    run_id = str(to_be["run_id"].iloc[0])
    changes = conform("kpis", rows, run_id) if rows else to_be.iloc[0:0]
    as_is = as_is.assign(run_id=run_id, plan=before)
    return conform("kpis", pd.concat([to_be, as_is, changes], ignore_index=True), run_id)
