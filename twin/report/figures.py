"""The report's charts, one plotly figure each, drawn from the tables of `twin.report.prep`.

Figures have a fixed width that fits a laptop screen and an A4 landscape page alike, so the
printed page looks like the screen. Figures with one set of traces per period get a row of
period buttons; the last period (the target year) is shown first.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from twin.report.basemap import geo_layout, map_height
from twin.report.prep import Sankey, compact, label, plan_name, scaled

WIDTH = 1000
CHAIN_COLOURS = {
    "agrotech": "#2e7d32",
    "hydrogen": "#0277bd",
    "logistics": "#e65100",
    "digital": "#6a1b9a",
}
# line widths of the map, by the share of the largest value a line carries
WIDTH_CLASSES = ((0.05, 1.5), (0.15, 3.0), (0.35, 5.0), (0.65, 7.5), (1.0, 10.0))
CHAIN_OFFSET_DEG = 0.3  # chains on one link are drawn side by side, this far apart
UTILISATION_SCALE = [[0.0, "#1a9850"], [0.6, "#fee08b"], [0.85, "#fc8d59"], [1.0, "#d73027"]]


def chain_colours(chains: Sequence[str]) -> dict[str, str]:
    """The fixed colour of each known chain; others take the next free qualitative colour."""
    spare = cycle(c for c in qualitative.Dark24 if c not in CHAIN_COLOURS.values())
    return {chain: CHAIN_COLOURS.get(chain) or next(spare) for chain in sorted(set(chains))}


def rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _layout(fig: go.Figure, height: int, **layout) -> go.Figure:
    defaults = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "template": "plotly_white"}
    fig.update_layout(
        width=WIDTH,
        height=height,
        font={"family": "system-ui, sans-serif", "size": 12},
        **{**defaults, **layout},
    )
    return fig


def period_buttons(fig: go.Figure, owners: list[int | None], periods: list[int]) -> None:
    """Buttons that show one period's traces (owner None: shown in every period)."""
    last = periods[-1]
    for trace, owner in zip(fig.data, owners, strict=True):
        trace.visible = owner is None or owner == last
    buttons = [
        {
            "label": str(period),
            "method": "restyle",
            "args": [{"visible": [owner is None or owner == period for owner in owners]}],
        }
        for period in periods
    ]
    fig.update_layout(
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "active": len(periods) - 1,
                "x": 0,
                "xanchor": "left",
                "y": 1.0,
                "yanchor": "bottom",
                "pad": {"b": 4},
                "showactive": True,
            }
        ]
    )


def flow_map(
    flows: pd.DataFrame,
    crossings: pd.DataFrame,
    regions: pd.DataFrame,
    currency: str,
    periods: list[int],
) -> go.Figure:
    """Regions, flows along links (colour: chain, width: value carried) and the border
    crossings coloured by their utilisation, per period (`periods`: the dataset's, so a
    dataset without crossings still gets its period buttons)."""
    fig, owners = go.Figure(), []
    colours = chain_colours(flows["chain"])
    largest = flows["value"].max() if len(flows) else 0.0
    largest = largest if largest > 0 else 1.0  # commodities without value: thinnest lines
    flows = _offset(flows, list(colours))
    flows["width"] = [_width(v / largest) for v in flows["value"]]
    for period in periods:
        now = flows[flows["period"] == period]
        for chain, colour in colours.items():
            lines = now[now["chain"] == chain]
            for i, (width, group) in enumerate(lines.groupby("width")):
                fig.add_scattergeo(
                    lon=_joined(group["lon_a"], group["lon_b"]),
                    lat=_joined(group["lat_a"], group["lat_b"]),
                    mode="lines",
                    line={"color": colour, "width": width},
                    opacity=0.85,
                    name=chain,
                    legendgroup=chain,
                    showlegend=i == 0,
                    hoverinfo="skip",
                )
                owners.append(period)
            fig.add_scattergeo(
                lon=(lines["lon_a"] + lines["lon_b"]) / 2,
                lat=(lines["lat_a"] + lines["lat_b"]) / 2,
                mode="markers",
                marker={"size": 9, "color": colour, "opacity": 0},
                customdata=np.stack(
                    [lines["a"] + " - " + lines["b"], lines["value"].map(compact), lines["detail"]],
                    axis=-1,
                )
                if len(lines)
                else None,
                hovertemplate=(
                    f"<b>%{{customdata[0]}}</b> ({chain})<br>%{{customdata[2]}}"
                    f"<br>value %{{customdata[1]}} {currency}/yr<extra></extra>"
                ),
                showlegend=False,
                legendgroup=chain,
            )
            owners.append(period)
    fig.add_scattergeo(
        lon=regions["lon"],
        lat=regions["lat"],
        mode="markers",
        marker={"size": 6, "color": "#37474f", "line": {"color": "white", "width": 1}},
        text=regions["name"] + " (" + regions["country"] + ")",
        hovertemplate="%{text}<extra></extra>",
        name="region",
    )
    owners.append(None)
    countries = regions.groupby("country")[["lat", "lon"]].mean()
    fig.add_scattergeo(
        lon=countries["lon"],
        lat=countries["lat"],
        mode="text",
        text=countries.index,
        textfont={"size": 15, "color": "rgba(55,71,79,0.55)"},
        hoverinfo="skip",
        showlegend=False,
    )
    owners.append(None)
    for period in periods:
        now = crossings[crossings["period"] == period]
        fig.add_scattergeo(
            lon=now["lon"],
            lat=now["lat"],
            mode="markers+text",
            marker={
                "symbol": "diamond",
                "size": 14,
                "color": now["utilisation_pct"],
                "cmin": 0,
                "cmax": 100,
                "colorscale": UTILISATION_SCALE,
                "line": {"color": "#212121", "width": 1},
                "colorbar": {"title": {"text": "crossing<br>use %"}, "len": 0.5, "x": 1.0},
            },
            text=["n/a" if pd.isna(u) else f"{u:.0f}%" for u in now["utilisation_pct"]],
            textposition="top center",
            textfont={"size": 11, "color": "#212121"},
            customdata=np.stack(
                [now["name"], now["flow"].map(compact), now["capacity"].map(compact)], axis=-1
            ),
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>%{customdata[1]} of %{customdata[2]} per year"
                " (%{marker.color:.0f}%)<extra></extra>"
            ),
            name="border crossing",
        )
        owners.append(period)
    period_buttons(fig, owners, periods)
    top = 44
    return _layout(
        fig,
        top + min(map_height(regions["lat"], regions["lon"], WIDTH - 90), 600),
        geo=geo_layout(regions["lat"], regions["lon"]),
        legend={"orientation": "h", "x": 1.0, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
        margin={"l": 0, "r": 90, "t": top, "b": 0},
    )


def _width(share: float) -> float:
    return next(width for bound, width in WIDTH_CLASSES if share <= bound + 1e-12)


def _offset(flows: pd.DataFrame, chains: list[str]) -> pd.DataFrame:
    """Shift each chain's line sideways, so chains sharing a link are all seen."""
    shift = pd.Series(
        (np.arange(len(chains)) - (len(chains) - 1) / 2) * CHAIN_OFFSET_DEG, index=chains
    )
    d_lon, d_lat = flows["lon_b"] - flows["lon_a"], flows["lat_b"] - flows["lat_a"]
    length = np.hypot(d_lon, d_lat).replace(0, 1)
    step = flows["chain"].map(shift)
    return flows.assign(
        lon_a=flows["lon_a"] - d_lat / length * step,
        lon_b=flows["lon_b"] - d_lat / length * step,
        lat_a=flows["lat_a"] + d_lon / length * step,
        lat_b=flows["lat_b"] + d_lon / length * step,
    )


def _joined(starts: pd.Series, ends: pd.Series) -> list[float | None]:
    """Segments as one line with gaps: a0, b0, None, a1, b1, None, ..."""
    return [v for a, b in zip(starts, ends, strict=True) for v in (a, b, None)]


def value_chains(chains: dict[int, Sankey], currency: str) -> go.Figure:
    """One Sankey of the value chains per period, valued at commodity values."""
    fig, periods = go.Figure(), sorted(chains)
    for period in periods:
        sankey = chains[period]
        colours = chain_colours([*sankey.nodes["chain"], *sankey.links["chain"]])
        links = sankey.links
        fig.add_sankey(
            arrangement="snap",
            valueformat=",.0f",
            valuesuffix=f" {currency}/yr",
            node={
                "label": sankey.nodes["label"],
                "color": [colours[c] for c in sankey.nodes["chain"]],
                "customdata": sankey.nodes["hover"],
                "hovertemplate": "%{customdata}<br>%{value}<extra></extra>",
                "pad": 10,
                "thickness": 14,
                "line": {"width": 0},
            },
            link={
                "source": links["source"],
                "target": links["target"],
                "value": links["value"],
                "color": [rgba(colours[c], 0.35) for c in links["chain"]],
                "customdata": [
                    f"{label(c)}: {compact(q)} {u}"
                    for c, q, u in zip(
                        links["commodity"], links["quantity"], links["unit"], strict=True
                    )
                ],
                "hovertemplate": "%{customdata}<br>%{value}<extra></extra>",
            },
        )
    period_buttons(fig, list(periods), periods)
    return _layout(fig, 620, margin={"l": 10, "r": 10, "t": 50, "b": 10})


def investments(frame: pd.DataFrame, currency: str) -> go.Figure:
    """Overnight capex per period, stacked by technology, one panel per country."""
    countries = sorted(frame["country"].unique())
    periods = [str(p) for p in sorted(frame["period"].unique())]
    technologies = sorted(frame["technology"].unique())
    colours = dict(zip(technologies, cycle(qualitative.Safe + qualitative.Pastel), strict=False))
    capex, prefix = scaled(frame["capex"])
    frame = frame.assign(capex=capex)
    fig = make_subplots(rows=1, cols=len(countries), subplot_titles=countries, shared_yaxes=True)
    for col, country in enumerate(countries, start=1):
        mine = frame[frame["country"] == country]
        for tech in technologies:
            rows = mine[mine["technology"] == tech]
            if rows.empty:
                continue
            fig.add_bar(
                x=rows["period"].astype(str),
                y=rows["capex"],
                name=tech,
                legendgroup=tech,
                marker_color=colours[tech],
                showlegend=not any(t.name == tech for t in fig.data),
                hovertemplate=f"{tech}, {country} %{{x}}: %{{y:,.3f}} {prefix}{currency}"
                "<extra></extra>",
                row=1,
                col=col,
            )
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=periods, col=col)
    fig.update_yaxes(title_text=f"overnight capex ({prefix}{currency})", col=1)
    return _layout(fig, 420, barmode="stack", legend={"orientation": "v"})


def cost_breakdown(frame: pd.DataFrame, currency: str) -> go.Figure:
    """Discounted cost by component, the plan beside its reference plan."""
    fig = go.Figure()
    order = list(dict.fromkeys(frame["component"]))[::-1]
    values, prefix = scaled(frame["value"])
    frame = frame.assign(amount=values)
    for plan, colour in zip(frame["plan"].unique(), ("#1565c0", "#9e9e9e"), strict=False):
        rows = frame[frame["plan"] == plan].set_index("component").reindex(order)
        fig.add_bar(
            y=[label(c) for c in order],
            x=rows["amount"],
            orientation="h",
            name=plan_name(plan),
            marker_color=colour,
            text=rows["value"].map(compact),
            textposition="outside",
            hovertemplate=f"%{{y}}: %{{x:,.3f}} {prefix}{currency}<extra>{plan_name(plan)}</extra>",
        )
    fig.update_xaxes(
        title_text=f"discounted cost over the horizon ({prefix}{currency})",
        range=[min(0.0, values.min()), 1.12 * values.max()],
    )
    return _layout(fig, 420, barmode="group", legend={"traceorder": "reversed"})


def pareto(frame: pd.DataFrame, currency: str) -> go.Figure:
    """The cost-carbon frontier: each point a plan, from least cost to least carbon."""
    fig = go.Figure()
    fig.add_scatter(
        x=frame["emissions_t"] / 1e6,
        y=frame["cost"] / 1e9,
        mode="lines+markers+text",
        text=[f"{p}" for p in frame["point"]],
        textposition="top right",
        marker={"size": 9, "color": "#2e7d32"},
        customdata=[  # a weighted point is the least-cost plan at its carbon price
            kind if pd.isna(price) else f"{kind}, at {price:,.0f} {currency}/tCO2e"
            for kind, price in zip(frame["kind"], frame["carbon_price"], strict=True)
        ],
        hovertemplate=(
            "point %{text} (%{customdata})<br>%{x:.2f} Mt CO2e, %{y:.3f} bn "
            + currency
            + "<extra></extra>"
        ),
        showlegend=False,
    )
    fig.update_xaxes(title_text="emissions over the horizon (Mt CO2e)")
    fig.update_yaxes(title_text=f"total cost, discounted (bn {currency})")
    return _layout(fig, 420)


def n_minus_one(frame: pd.DataFrame, currency: str) -> go.Figure:
    """Crossings (or links) closed in turn, ranked by the extra cost of losing them."""
    rows = frame.sort_values("rank", ascending=False)
    extra, prefix = scaled(rows["extra_cost"])
    fig = go.Figure()
    fig.add_bar(
        y=rows["element"].map(label),
        x=extra,
        orientation="h",
        marker_color="#c62828",
        text=rows["extra_cost"].map(compact),
        textposition="outside",
        customdata=np.stack(
            [
                rows["extra_unmet_demand"].map(compact),
                rows["extra_emissions_t"].map(compact),
                rows["status"],
            ],
            axis=-1,
        ),
        hovertemplate=(
            "%{y}: extra cost %{x:,.0f} "
            + currency
            + "<br>extra unmet demand %{customdata[0]} "
            + currency
            + "<br>extra emissions %{customdata[1]} t<br>%{customdata[2]}<extra></extra>"
        ),
    )
    fig.update_xaxes(title_text=f"extra cost when closed, discounted ({prefix}{currency})")
    return _layout(fig, 120 + 34 * len(rows))


def stress_distribution(frame: pd.DataFrame, currency: str) -> go.Figure:
    """The plan's cost over the futures: probability per cost bin, with the expected cost
    and the CVaR at 95 % marked (`twin.stress.summary`'s figures) when every future has
    operations."""
    from twin.stress import cvar  # the one definition of CVaR

    solved = frame[frame["status"] == "optimal"]
    costs, p = solved["cost"].to_numpy(float), solved["probability"].to_numpy(float)
    whole = len(solved) == len(frame) and len(p)  # marks of a partial set would lie
    marks = {"expected": float(p @ costs), "CVaR 95 %": cvar(costs, p, 0.95)} if whole else {}
    values, prefix = scaled(pd.Series([*costs, *marks.values()], dtype=float))
    fig = go.Figure()
    fig.add_histogram(
        x=values.iloc[: len(costs)],
        y=p,
        histfunc="sum",
        nbinsx=min(40, max(5, len(costs) // 5)),
        marker_color="#0277bd",
        hovertemplate="cost %{x}<br>probability %{y:.1%}<extra></extra>",
    )
    for (name, _), value in zip(marks.items(), values.iloc[len(costs) :], strict=True):
        dash = "solid" if name == "expected" else "dash"
        fig.add_vline(x=value, line_dash=dash, line_color="#c62828", annotation_text=name)
    fig.update_xaxes(
        title_text=f"total cost of the plan in a future, discounted ({prefix}{currency})"
    )
    fig.update_yaxes(title_text="probability", tickformat=".0%")
    return _layout(fig, 380, bargap=0.05)


def coalition_costs(frame: pd.DataFrame, currency: str) -> go.Figure:
    """Per country: the cost of planning alone against its Shapley and nucleolus shares."""
    values, prefix = scaled(
        pd.concat([frame["standalone_cost"], frame["shapley"], frame["nucleolus"]])
    )
    count = len(frame)
    fig = go.Figure()
    for position, (name, colour) in enumerate(
        (("alone", "#9e9e9e"), ("Shapley", "#0277bd"), ("nucleolus", "#2e7d32"))
    ):
        fig.add_bar(
            x=frame["country"],
            y=values.iloc[position * count : (position + 1) * count],
            name=name,
            marker_color=colour,
        )
    fig.update_yaxes(title_text=f"cost, discounted ({prefix}{currency})")
    return _layout(fig, 380, barmode="group")


def share_ranges(frame: pd.DataFrame) -> go.Figure:
    """Each country's and chain's range of investment share across near-optimal plans."""
    labels = [
        f"{scope}: {label(name)}" for scope, name in zip(frame["scope"], frame["name"], strict=True)
    ]
    fig = go.Figure()
    fig.add_bar(
        y=labels,
        x=frame["high"] - frame["low"],
        base=frame["low"],
        orientation="h",
        marker_color="#90caf9",
        name="within the slack",
        hovertemplate="%{y}: %{base:.1%} to %{x:.1%} more<extra></extra>",
    )
    fig.add_scatter(
        y=labels,
        x=frame["optimum"],
        mode="markers",
        marker={"color": "#c62828", "size": 9},
        name="least-cost plan",
        hovertemplate="%{y}: %{x:.1%} in the least-cost plan<extra></extra>",
    )
    fig.update_xaxes(title_text="share of overnight investment", tickformat=".0%")
    return _layout(fig, 120 + 28 * len(frame))


SWEEP_KPIS = (
    ("cost", "total cost, discounted", "{currency}"),
    ("emissions_t", "emissions", "tCO2e/yr"),
    ("value_added", "value added", "{currency}/yr"),
    ("jobs", "jobs", "FTE"),
    ("unmet_demand", "unmet demand", "{currency}/yr"),
    ("value_added_change_pct", "value added vs reference", "%"),
    ("emissions_change_pct", "emissions vs reference", "%"),
    ("jobs_created", "jobs created", "FTE"),
)


def sweep_parameter(sweep: pd.DataFrame, parameter: str, others: list[str], currency: str):
    """Headline KPIs against one swept parameter; one line per setting of the others."""
    kpis = []
    for kpi, name, unit in SWEEP_KPIS:
        if kpi in sweep and sweep[kpi].notna().any():
            values, prefix = scaled(sweep[kpi]) if unit != "%" else (sweep[kpi], "")
            kpis.append((kpi, f"{name} ({prefix}{unit.format(currency=currency)})", values))
    cols = 4
    rows = -(-len(kpis) // cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=[t for _, t, _ in kpis], vertical_spacing=0.18
    )
    frame = sweep.assign(**{kpi: values for kpi, _, values in kpis})
    frame = frame.sort_values([*others, parameter])
    groups = frame.groupby(others, sort=True) if others else [((), frame)]
    palette = cycle(qualitative.D3)
    for key, group in groups:
        values = key if isinstance(key, tuple) else (key,)
        setting = ", ".join(f"{o}={v}" for o, v in zip(others, values, strict=True))
        colour = next(palette)
        for i, (kpi, title, _) in enumerate(kpis):
            fig.add_scatter(
                x=group[parameter],
                y=group[kpi],
                mode="lines+markers",
                line={"color": colour},
                name=setting or parameter,
                legendgroup=setting,
                showlegend=i == 0 and bool(setting),
                hovertemplate=f"{parameter}=%{{x}}: %{{y:,.4g}} {title}<extra>{setting}</extra>",
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_xaxes(title_text=parameter, title_standoff=2)
    fig.update_yaxes(tickformat=",.4~g")
    if not pd.api.types.is_numeric_dtype(sweep[parameter]):
        fig.update_xaxes(type="category")
    return _layout(
        fig,
        270 * rows + 80,
        legend={"orientation": "h", "y": -0.15},
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
    )


def sweep_tradeoff(sweep: pd.DataFrame, labels: pd.Series, currency: str) -> go.Figure:
    """Cost against emissions, one point per run: the trade-off the sweep spans."""
    emissions, e_prefix = scaled(sweep["emissions_t"])
    cost, c_prefix = scaled(sweep["cost"])
    fig = go.Figure()
    fig.add_scatter(
        x=emissions,
        y=cost,
        mode="markers+text",
        marker={"size": 11, "color": "#1565c0", "line": {"color": "white", "width": 1}},
        text=labels,
        textposition="top center",
        hovertemplate=f"%{{text}}<br>%{{x:,.4g}} {e_prefix}t/yr, %{{y:,.4g}} {c_prefix}"
        f"{currency}<extra></extra>",
        showlegend=False,
    )
    fig.update_xaxes(title_text=f"emissions in the last period ({e_prefix}tCO2e/yr)")
    fig.update_yaxes(title_text=f"total cost, discounted ({c_prefix}{currency})")
    return _layout(fig, 420)
