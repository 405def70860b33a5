"""What the report shows, as plain tables; the figures and the page only draw them.

Each function takes results tables (docs/results.md) and the run's dataset and returns a
DataFrame whose numbers can be checked against the tables they come from: the cards are
kpis.parquet values, the Sankey's links add up to the balance and conversion tables, the map's
lines to flows.parquet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.data import Dataset
from twin.kpis import CHANGE, plans, total_value

SCOPES = ("total", "country", "chain")
# KPI of a plan in a period -> its change against the reference plan (twin.kpis.CHANGES)
CHANGE_OF = {
    "value_added": "value_added_change_pct",
    "emissions_t": "emissions_change_pct",
    "jobs": "jobs_created",
    "unmet_demand": "unmet_demand_change",
}
REFERENCE = "_ref"  # suffix of the reference plan's columns in `headline`
SIDE_BY_SIDE_DEG = 1.0  # longitude between crossings drawn at the same place
CROSSING_COLUMNS = (
    "period",
    "crossing_id",
    "name",
    "lat",
    "lon",
    "flow",
    "capacity",
    "utilisation_pct",
)


def headline(kpis: pd.DataFrame, period: int) -> pd.DataFrame:
    """One row per scope (the hypercluster, each country, each chain) in `period`: the plan's
    KPIs, the reference plan's (suffix `_ref`) and the changes, as kpis.parquet has them."""
    plan, reference = plans(kpis)

    def column(plan_name: str, kpi: str) -> str | None:
        if kpi in CHANGE_OF and plan_name in (plan, reference):
            return kpi if plan_name == plan else kpi + REFERENCE
        return kpi if plan_name == CHANGE and kpi in CHANGE_OF.values() else None

    rows = kpis[(kpis["period"] == period) & kpis["scope_type"].isin(SCOPES)]
    rows = rows.assign(
        column=[column(p, k) for p, k in zip(rows["plan"], rows["kpi"], strict=True)]
    )
    wide = rows.dropna(subset=["column"]).pivot_table(
        index=["scope_type", "scope"], columns="column", values="value", aggfunc="first"
    )
    wide = wide.reset_index()
    wide.columns.name = None
    order = wide["scope_type"].map(SCOPES.index)
    return wide.assign(order=order).sort_values(["order", "scope"]).drop(columns="order")


@dataclass(frozen=True)
class Horizon:
    """Total discounted cost of the plan, of the reference plan and the change in %."""

    cost: float
    reference: float | None
    change_pct: float | None


def horizon_cost(kpis: pd.DataFrame) -> Horizon:
    plan, reference = plans(kpis)
    cost = total_value(kpis, plan, "total_cost", None)
    return Horizon(
        cost=float("nan") if cost is None else cost,
        reference=total_value(kpis, reference, "total_cost", None),
        change_pct=total_value(kpis, CHANGE, "total_cost_change_pct", None),
    )


def label(identifier: str) -> str:
    """A readable name for an id: `wheat_export` -> `wheat export`."""
    return str(identifier).replace("_", " ")


def plan_name(plan: str | None) -> str:
    """How planners write a plan: `to_be` -> `to-be`, `as_is` -> `as-is`."""
    return str(plan or "").replace("_", "-")


@dataclass
class Sankey:
    """Nodes (label, kind, chain, hover) and links (source, target: node rows; value)."""

    nodes: pd.DataFrame
    links: pd.DataFrame


def value_chains(tables: dict[str, pd.DataFrame], ds: Dataset, period: int) -> Sankey:
    """The value chains in one period, valued at commodity values (currency per year), so that
    tonnes, MWh and compute services share one scale: supply of each chain -> commodity ->
    technology (each conversion echelon) -> commodity -> demand of each chain. A commodity
    node's links in and out balance (bought + produced = consumed + served over the network);
    a technology's outputs exceed its inputs by the value it adds."""
    commodities = ds.commodities.set_index("commodity_id")
    techs = ds.technologies.set_index("technology_id")
    balance = tables["balance"][tables["balance"]["period"] == period]
    conversion = tables["conversion"][tables["conversion"]["period"] == period]
    edges: list[tuple[tuple[str, str], tuple[str, str], str, float]] = []
    for commodity, quantity in balance.groupby("commodity")["purchased"].sum().items():
        chain = commodities.at[commodity, "chain"]
        edges.append((("supply", chain), ("commodity", commodity), commodity, quantity))
    for commodity, quantity in balance.groupby("commodity")["served"].sum().items():
        chain = commodities.at[commodity, "chain"]
        edges.append((("commodity", commodity), ("demand", chain), commodity, quantity))
    made = conversion.groupby(["technology", "commodity"])["quantity"]
    for (tech, commodity), quantity in made.apply(lambda q: q.clip(lower=0).sum()).items():
        edges.append((("technology", tech), ("commodity", commodity), commodity, quantity))
    for (tech, commodity), quantity in made.apply(lambda q: -q.clip(upper=0).sum()).items():
        edges.append((("commodity", commodity), ("technology", tech), commodity, quantity))
    links = pd.DataFrame(edges, columns=["source_key", "target_key", "commodity", "quantity"])
    links["value"] = links["quantity"] * links["commodity"].map(commodities["value_per_unit"])
    links = links[links["value"] > 0].reset_index(drop=True)
    keys = list(dict.fromkeys([*links["source_key"], *links["target_key"]]))
    nodes = pd.DataFrame(  # no rows when nothing of value moves (commodities worth 0)
        [_node(kind, key, commodities, techs) for kind, key in keys],
        columns=["label", "kind", "chain", "hover"],
    )
    position = {key: i for i, key in enumerate(keys)}
    links["source"] = links["source_key"].map(position)
    links["target"] = links["target_key"].map(position)
    links["chain"] = links["commodity"].map(commodities["chain"])
    links["unit"] = links["commodity"].map(commodities["unit"])
    return Sankey(nodes, links.drop(columns=["source_key", "target_key"]))


def _node(kind: str, key: str, commodities: pd.DataFrame, techs: pd.DataFrame) -> dict:
    if kind == "commodity":
        return {
            "label": label(key),
            "kind": kind,
            "chain": commodities.at[key, "chain"],
            "hover": commodities.at[key, "name"],
        }
    if kind == "technology":
        tech = techs.loc[key]
        return {
            "label": label(key),
            "kind": kind,
            "chain": tech["chain"],
            "hover": f"{tech['name']} (echelon {tech['echelon']})",
        }
    return {"label": f"{key} {kind}", "kind": kind, "chain": key, "hover": f"{kind}: {key}"}


def coordinates(ds: Dataset) -> pd.DataFrame:
    """Regions with lat, lon and country, indexed by region id."""
    return ds.regions.set_index("region_id")[["name", "country", "lat", "lon"]]


def link_flows(tables: dict[str, pd.DataFrame], ds: Dataset) -> pd.DataFrame:
    """Flows between each pair of regions per period and chain, both directions together,
    valued at commodity values (width of the map's lines), with what moves (hover)."""
    commodities = ds.commodities.set_index("commodity_id")
    regions = coordinates(ds)
    flows = tables["flows"].assign(
        chain=lambda f: f["commodity"].map(commodities["chain"]),
        value=lambda f: f["flow"] * f["commodity"].map(commodities["value_per_unit"]),
        unit=lambda f: f["commodity"].map(commodities["unit"]),
        a=lambda f: f[["src", "dst"]].min(axis=1),
        b=lambda f: f[["src", "dst"]].max(axis=1),
    )
    keys = ["period", "a", "b", "chain"]
    moved = flows.groupby([*keys, "src", "dst", "commodity", "unit"], as_index=False)[
        ["flow", "value"]
    ].sum()
    moved["line"] = [
        f"{compact(r.flow)} {r.unit} {label(r.commodity)}, {r.src} → {r.dst}"
        for r in moved.itertuples()
    ]
    moved = moved.sort_values("value", ascending=False)
    out = moved.groupby(keys, as_index=False).agg(
        value=("value", "sum"), detail=("line", lambda lines: "<br>".join(lines))
    )
    for end in ("a", "b"):
        out[f"lat_{end}"] = out[end].map(regions["lat"])
        out[f"lon_{end}"] = out[end].map(regions["lon"])
    return out


def crossings(
    tables: dict[str, pd.DataFrame], ds: Dataset, shares: Mapping[str, float]
) -> pd.DataFrame:
    """Each border crossing in each period: where it is (the middle of the links through it),
    what passes (all commodities, as its capacity counts them), its capacity as the model
    enforced it (the dataset's with the run's overrides, plus the expansions built and still
    alive, times the share a disruption left, `shares`: crossing -> share, default 1; 0 for a
    closed crossing) and utilisation (n/a without capacity). No crossings: no rows."""
    regions = coordinates(ds)
    links = ds.links.set_index("link_id")
    through = ds.corridors.dropna(subset=["border_crossing"])
    ends = links.loc[through["link_id"], ["src", "dst"]]
    middle = pd.DataFrame(
        {
            "crossing_id": through["border_crossing"].to_numpy(),
            "lat": (ends["src"].map(regions["lat"]) + ends["dst"].map(regions["lat"])).to_numpy(),
            "lon": (ends["src"].map(regions["lon"]) + ends["dst"].map(regions["lon"])).to_numpy(),
        }
    )
    places = middle.groupby("crossing_id")[["lat", "lon"]].mean() / 2
    # crossings between the same regions (a rail and a road bridge) side by side, not stacked
    places["lon"] += places.groupby(["lat", "lon"]).cumcount() * SIDE_BY_SIDE_DEG
    info = ds.border_crossings.set_index("crossing_id").join(places, how="inner")
    flows = tables["flows"].groupby(["border_crossing", "period"])["flow"].sum()
    built = tables["investments"][tables["investments"]["asset_type"] == "crossing"]
    rows = []
    for period in ds.periods["period"]:
        for crossing, row in info.iterrows():
            mine = built[built["asset_id"] == crossing]
            alive = (mine["period"] <= period) & (period < mine["period"] + row["lifetime_years"])
            capacity = shares.get(crossing, 1.0) * (
                row["capacity"] + row["expansion_step"] * mine.loc[alive, "units_built"].sum()
            )
            flow = float(flows.get((crossing, period), 0.0))
            rows.append(
                {
                    "period": int(period),
                    "crossing_id": crossing,
                    "name": row["name"],
                    "lat": row["lat"],
                    "lon": row["lon"],
                    "flow": flow,
                    "capacity": float(capacity),
                    "utilisation_pct": 100 * flow / capacity if capacity > 0 else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(CROSSING_COLUMNS))


def investments(tables: dict[str, pd.DataFrame], ds: Dataset) -> pd.DataFrame:
    """Overnight capex per period, country and technology (links: their mode; crossings: the
    pair of countries they join)."""
    built = tables["investments"]
    country = coordinates(ds)["country"]
    pairs = ds.border_crossings.set_index("crossing_id")
    pair = pairs["country_a"] + "-" + pairs["country_b"]
    frame = built.assign(
        country=built["region"].map(country).fillna(built["asset_id"].map(pair)),
        technology=[
            f"{label(kind)} link" if asset == "link" else label(kind)
            for asset, kind in zip(built["asset_type"], built["technology_or_mode"], strict=True)
        ],
    )
    return frame.groupby(["period", "country", "technology"], as_index=False)["capex"].sum()


def costs(tables: dict[str, pd.DataFrame], reference: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Discounted cost by component (objective.parquet) of the plan and its reference plan."""
    plan, reference_plan = plans(tables["kpis"])
    frames = [tables["objective"].assign(plan=plan)]
    if reference:
        frames.append(reference["objective"].assign(plan=reference_plan))
    return pd.concat(frames, ignore_index=True)[["component", "plan", "value"]]


def typed_sweep(sweep: pd.DataFrame, parameters: list[str]) -> pd.DataFrame:
    """sweep.parquet with each parameter as numbers where every value is one (so that
    0, 50, 100 sort and plot as numbers), else as the text typed."""
    typed = {}
    for parameter in parameters:
        numbers = pd.to_numeric(sweep[parameter], errors="coerce")
        typed[parameter] = numbers if numbers.notna().all() else sweep[parameter].astype(str)
    return sweep.assign(**typed)


NOISE = 1e-6  # below this a reported number is the solver's tolerance, not a quantity
MAGNITUDES = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


def compact(value: float | None, digits: int = 3) -> str:
    """A number as a planner reads it: 3.69 bn, 820 k, 12.5 (no unit); solver noise such as
    -2e-8 reads 0."""
    if value is None or pd.isna(value):
        return "n/a"
    if abs(value) < NOISE:
        return "0"
    for size, suffix in MAGNITUDES:
        if abs(value) >= size:
            return f"{value / size:.{digits}g} {suffix}"
    return f"{value:.{digits}g}"


def scaled(values: pd.Series) -> tuple[pd.Series, str]:
    """Values in bn, M or k, whichever the largest needs, and that prefix (`bn `, ...), so
    an axis reads `62.8 (bn USD)` rather than `62.8G`."""
    largest = values.abs().max()
    for size, suffix in MAGNITUDES:
        if largest >= size:
            return values / size, f"{suffix} "
    return values, ""


def share_ranges(alternatives: pd.DataFrame, optimum: dict[str, float]) -> pd.DataFrame:
    """Per country and chain: the least and largest share of overnight capex among the
    alternatives with a plan and the least-cost plan (itself within the slack), and the
    least-cost plan's (scope, name, low, optimum, high)."""
    solved = alternatives[alternatives["status"].isin(("optimal", "time_limit"))]
    rows = []
    for scope, prefix in (("country", "capex_"), ("chain", "chain_capex_")):
        columns = [c for c in solved.columns if c.startswith(prefix)]
        total = solved[columns].sum(axis=1).where(lambda t: t > 0)
        for column in columns:
            share = solved[column] / total
            name = column.removeprefix(prefix)
            reference = optimum.get(f"{scope}:{name}", float("nan"))
            rows.append(
                {
                    "scope": scope,
                    "name": name,
                    "low": np.nanmin([*share, reference]),
                    "optimum": reference,
                    "high": np.nanmax([*share, reference]),
                }
            )
    return pd.DataFrame(rows, columns=["scope", "name", "low", "optimum", "high"])
