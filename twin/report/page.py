"""The report page: one self-contained HTML file, all of its JavaScript and data inline.

The head holds the stylesheet, the base map (`twin.report.basemap`) and plotly.js, once; each
figure follows as a div with its own small script. Nothing on the page refers to anything
outside it, so it opens offline, from a mail attachment or a USB stick, and prints as seen.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from importlib.metadata import version
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go

from twin.kpis import last_period, plans
from twin.report import figures, prep
from twin.report.basemap import ASSETS
from twin.report.load import RunData, SweepData
from twin.report.scripts import inline_scripts
from twin.solve import FINISHED
from twin.worth import sampling_note

PLOT_CONFIG = {"displaylogo": False, "responsive": False, "modeBarButtonsToRemove": ["lasso2d"]}


def document(title: str, body: str, scripts: str | None = None) -> str:
    """The whole page; `scripts` load plotly.js and the base map (inline by default)."""
    css = (ASSETS / "report.css").read_text(encoding="utf-8")
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{escape(title)}</title>\n<style>\n{css}</style>\n"
        f"{scripts or inline_scripts()}\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def plot(fig: go.Figure, div_id: str) -> str:
    html = fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, div_id=div_id)
    return f"<div class='plot'>{html}</div>"


def section(title: str, caption: str, content: str, anchor: str) -> str:
    return (
        f"<section id='{anchor}-section'><h2>{escape(title)}</h2>"
        f"<p class='caption'>{escape(caption)}</p>{content}</section>"
    )


def table(frame: pd.DataFrame, text_columns: tuple[str, ...] = ()) -> str:
    """An HTML table of already formatted cells (cells are escaped here, links are not)."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, cell in zip(frame.columns, record, strict=True):
            style = " class='text'" if column in text_columns else ""
            cells.append(f"<td{style}>{cell if column == 'report' else escape(str(cell))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def signed(value: float | None, unit: str = "") -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{'+' if value > 0 else ''}{prep.compact(value)}{unit}"


def tone(value: float | None, better: int) -> str:
    """`good` or `bad` for a change, by the direction that is better (+1 up, -1 down)."""
    if value is None or pd.isna(value) or abs(value) < 1e-9:
        return ""
    return "good" if value * better > 0 else "bad"


def card(name: str, value: str, detail: str, css: str = "") -> str:
    return (
        f"<div class='card'><div class='name'>{escape(name)}</div>"
        f"<div class='value {css}'>{escape(value)}</div>"
        f"<div class='detail'>{escape(detail)}</div></div>"
    )


def cards(kpis: pd.DataFrame, currency: str) -> str:
    """The headline cards of the hypercluster: changes against the reference plan when the
    run has one (the figures a planner quotes), else the plan's own levels."""
    period = last_period(kpis)
    _, reference = plans(kpis)
    total = prep.headline(kpis, period).set_index("scope_type").loc["total"]
    cost = prep.horizon_cost(kpis)
    ref = prep.plan_name(reference)

    def was(column: str) -> str:
        return f" ({ref} {prep.compact(total.get(column + prep.REFERENCE))})" if reference else ""

    level = f"in {period}"
    items = []
    if reference:
        items += [
            card(
                "Value added",
                signed(total.get("value_added_change_pct"), " %"),
                f"{prep.compact(total.get('value_added'))} {currency}/yr {level}"
                + was("value_added"),
                tone(total.get("value_added_change_pct"), +1),
            ),
            card(
                "Emissions",
                signed(total.get("emissions_change_pct"), " %"),
                f"{prep.compact(total.get('emissions_t'))} tCO2e/yr {level}" + was("emissions_t"),
                tone(total.get("emissions_change_pct"), -1),
            ),
            card(
                "Jobs created",
                signed(total.get("jobs_created"), " FTE"),
                f"{prep.compact(total.get('jobs'))} FTE {level}" + was("jobs"),
                tone(total.get("jobs_created"), +1),
            ),
        ]
    else:
        items += [
            card("Value added", prep.compact(total.get("value_added")), f"{currency}/yr {level}"),
            card("Emissions", prep.compact(total.get("emissions_t")), f"tCO2e/yr {level}"),
            card("Jobs", prep.compact(total.get("jobs")), f"FTE {level}"),
        ]
    change = f"; {signed(cost.change_pct, ' %')} against {ref}" if reference else ""
    items.append(
        card(
            "Total cost",
            f"{prep.compact(cost.cost)} {currency}",
            f"discounted over the horizon{change}",
            tone(cost.change_pct, -1),
        )
    )
    items.append(
        card(
            "Unmet demand",
            f"{prep.compact(total.get('unmet_demand'))} {currency}/yr",
            level + was("unmet_demand"),
            tone(total.get("unmet_demand_change"), -1),
        )
    )
    return f"<div class='cards' id='cards'>{''.join(items)}</div>"


def scope_tables(kpis: pd.DataFrame, currency: str) -> str:
    """The same KPIs per country and per chain, in the last period."""
    period = last_period(kpis)
    _, reference = plans(kpis)
    wide = prep.headline(kpis, period)
    ref = prep.plan_name(reference)
    columns = {
        "value_added": f"value added ({currency}/yr)",
        "value_added_change_pct": f"vs {ref} %",
        "emissions_t": "emissions (tCO2e/yr)",
        "emissions_change_pct": f"vs {ref} %",
        "jobs": "jobs (FTE)",
        "jobs_created": "created",
        "unmet_demand": f"unmet demand ({currency}/yr)",
        "unmet_demand_ref": ref,
    }
    if not reference:
        columns = {k: v for k, v in columns.items() if k in prep.CHANGE_OF}
    html = []
    for scope_type, title in (("country", "country"), ("chain", "value chain")):
        rows = wide[wide["scope_type"] == scope_type].reindex(columns=["scope", *columns])
        cells = pd.DataFrame({title: rows["scope"]})
        for column in columns:
            show = signed if column in prep.CHANGE_OF.values() else prep.compact
            cells[column] = rows[column].map(show)
        html.append(table(cells.set_axis([title, *columns.values()], axis=1), (title,)))
    return "".join(html)


def flatten(config: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Config as `key.sub = value` lines, the form of Hydra's command-line overrides."""
    lines = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines += flatten(value, f"{name}.")
        else:
            lines.append((name, json.dumps(value)))
    return lines


def config_block(config: dict, swept: list[str] = ()) -> str:
    lines = [
        f"<div>{escape(k)} = {escape(v) if k not in swept else '<i>swept</i>'}</div>"
        for k, v in flatten(config)
    ]
    return f"<div class='config'>{''.join(lines)}</div>"


def footer(facts: dict[str, str], config: dict, swept: list[str] = ()) -> str:
    """What a printed page needs to be traced back to the run that made it."""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    facts = {
        **facts,
        "report": f"made {made} with twin {version('twin')}, plotly {version('plotly')}",
    }
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts.items())
    return f"<footer><dl>{items}</dl><h3>config</h3>{config_block(config, swept)}</footer>"


def versions(meta: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())


def run_page(run: RunData, scripts: str | None = None) -> str:
    """The report of one run (`scripts`: see `document`)."""
    meta, tables, ds, currency = run.meta, run.tables, run.ds, run.ds.currency
    kpis = tables["kpis"]
    plan, reference = plans(kpis)
    periods = sorted(int(p) for p in ds.periods["period"])
    config = meta.get("config", {})
    scenario = config.get("scenario", {}).get("name", plan)
    against = f" against {prep.plan_name(reference)}" if reference else ""
    title = f"{ds.name}, scenario {scenario}: {prep.plan_name(plan)}{against} to {periods[-1]}"
    gap = meta.get("gap")
    parts = [
        f"<header><h1>{escape(title)}</h1><p class='subtitle'>"
        f"{escape(meta.get('analysis', 'plan'))} run {escape(str(meta.get('run_id')))}, "
        f"periods {escape(', '.join(map(str, periods)))}; status "
        f"{escape(str(meta.get('status')))}; money in {escape(currency)} of "
        f"{escape(str(ds.meta.get('price_year', '')))}</p></header><main>",
        *(f"<div class='note'>{escape(note)}</div>" for note in run.notes),
        section(
            f"Headline KPIs in {last_period(kpis)}",
            "The hypercluster as a whole; per country and per value chain below. Green: better "
            f"than {prep.plan_name(reference or 'before')}, red: worse.",
            cards(kpis, currency) + scope_tables(kpis, currency),
            "headline",
        ),
        section(
            "Flows and border crossings",
            "Lines: flows along links in the chosen year, both directions together; colour: "
            "value chain; width: value carried per year (quantity x commodity value, so tonnes, "
            "MWh and compute services compare). Hover the middle of a line for what moves. "
            "Diamonds: border crossings, labelled with the share of their capacity used "
            "(expansions built included, less what a disruption cut; n/a: closed).",
            plot(
                figures.flow_map(
                    prep.link_flows(tables, ds),
                    prep.crossings(tables, ds, run.crossing_shares),
                    prep.coordinates(ds).reset_index(),
                    currency,
                    periods,
                ),
                "map",
            ),
            "map",
        ),
        section(
            "Value chains",
            "From supply through each conversion step to demand, valued at commodity values "
            f"({currency} per year). A technology's outputs exceed its inputs by the value it "
            "adds. Hover a band for the quantity.",
            plot(
                figures.value_chains(
                    {p: prep.value_chains(tables, ds, p) for p in periods}, currency
                ),
                "sankey",
            ),
            "sankey",
        ),
    ]
    built = prep.investments(tables, ds)
    parts.append(
        section(
            "Investments",
            "Overnight capex of new sites, link and crossing expansions, by the period they "
            "open in, per country (crossings: the two countries they join).",
            plot(figures.investments(built, currency), "investments")
            if len(built)
            else "<p>No new build in this plan.</p>",
            "investments",
        )
    )
    parts.append(
        section(
            "Cost by component",
            "Discounted to the first period, summed over the horizon (objective.parquet).",
            plot(figures.cost_breakdown(prep.costs(tables, run.reference), currency), "costs"),
            "costs",
        )
    )
    parts += _analysis_sections(tables, currency, meta)
    facts = {
        "run": f"{meta.get('run_id')} in {run.directory.resolve()}",
        "status": f"{meta.get('status')} ({meta.get('message')}), gap "
        + ("n/a" if gap is None else f"{gap:.2%}")
        + ("" if meta.get("bound") is None else f", bound {meta['bound']:,.0f}"),
        "objective": "n/a" if meta.get("objective") is None else f"{meta['objective']:,.0f}",
        "dataset": f"{meta.get('dataset')} (data hash {meta.get('data_hash')})",
        "config hash": str(meta.get("config_hash")),
        "command": "twin run " + " ".join(f"{k}={v}" for k, v in run.overrides.items()),
        "started / finished": f"{meta.get('started_at')} / {meta.get('finished_at')}",
        "versions": versions(meta),
    }
    parts.append("</main>" + footer(facts, config))
    return document(f"twin report: {title}", "\n".join(parts), scripts)


def _analysis_sections(tables: dict[str, pd.DataFrame], currency: str, meta: dict) -> list[str]:
    """The what-if tables a run may have: the frontier, the N-1 ranking, a disruption."""
    parts = []
    if "pareto" in tables:
        frontier = tables["pareto"]
        parts.append(
            section(
                "Cost-carbon frontier",
                "Each point a plan, from least cost (0) to least carbon; monotone up to the "
                "solver's gap.",
                plot(figures.pareto(frontier, currency), "pareto"),
                "pareto",
            )
        )
    if "resilience" in tables:
        losses = tables["resilience"].sort_values("rank")
        shown = losses.assign(
            **{
                c: losses[c].map(prep.compact)
                for c in ("extra_cost", "extra_unmet_demand", "extra_emissions_t")
            }
        )[["rank", "element", "status", "extra_cost", "extra_unmet_demand", "extra_emissions_t"]]
        chart = plot(figures.n_minus_one(losses, currency), "resilience") if len(losses) > 1 else ""
        parts.append(
            section(
                "Resilience: N-1" if len(losses) > 1 else "Disruption",
                "Each element closed in turn with the plan's investments fixed; extra cost "
                f"({currency}, discounted), unmet demand ({currency} over the horizon) and "
                "emissions (t over the horizon) against the undisrupted plan.",
                chart + table(shown.astype(str), ("element", "status")),
                "resilience",
            )
        )
    if "stress" in tables:
        parts.append(_stress_section(tables["stress"], currency))
    if "stochastic" in tables:
        parts.append(
            _stochastic_section(tables["stochastic"], meta.get("stochastic", {}), currency)
        )
    if "allocation" in tables:
        record = meta.get("coalitions", {})
        parts.append(_coalitions_section(tables["allocation"], record, currency))
    if "alternatives" in tables:
        parts.append(_alternatives_section(tables["alternatives"], meta.get("alternatives", {})))
    return parts


def _alternatives_section(frame: pd.DataFrame, record: dict) -> str:
    """The room each country and chain has: its share of investment across the plans
    within the slack of the least cost."""
    ranges = prep.share_ranges(frame, record.get("optimum_shares", {}))
    slack = record.get("slack")
    solved = frame["status"].isin(("optimal", "time_limit")).sum()
    caption = (
        f"{solved} plans within {slack:.0%} of the least cost, each as far as it goes in one "
        "direction (a country's or chain's share of investment up or down, emissions, random "
        "directions). Bars: the range of the share of overnight investment each plan gives; "
        "dots: the least-cost plan. A narrow bar is no room to negotiate; the ranges are "
        "inner estimates (alternatives.parquet)."
        if slack is not None
        else "Plans near the least cost (alternatives.parquet)."
    )
    shown = ranges.assign(**{c: ranges[c].map("{:.1%}".format) for c in ("low", "optimum", "high")})
    return section(
        "Room to negotiate: plans near the least cost",
        caption,
        plot(figures.share_ranges(ranges), "alternatives")
        + table(shown.astype(str), ("scope", "name")),
        "alternatives",
    )


def _coalitions_section(allocation: pd.DataFrame, record: dict, currency: str) -> str:
    """Who gains how much from cooperating, and fair shares of the grand coalition's cost."""
    if allocation["shapley"].isna().all():
        body = "<p>Some coalitions have no plan: no allocation is claimed (coalitions.parquet).</p>"
    else:
        money = ("standalone_cost", "shapley", "shapley_error_bound", "nucleolus", "saving")
        positive = (allocation["shapley"] > 0).all()  # else no shares of a fund
        share = allocation["shapley"] / allocation["shapley"].sum()
        shown = allocation.assign(
            fund_share=share.map("{:.1%}".format) if positive else "n/a",
            saving_pct=allocation["saving_pct"].map(lambda v: f"{v:,.1f} %"),
            **{c: allocation[c].map(prep.compact) for c in money},
        )[["country", *money, "saving_pct", "fund_share"]]
        chart = plot(figures.coalition_costs(allocation, currency), "coalitions")
        body = chart + table(shown.astype(str), ("country",))
    core = {True: "empty", False: "not empty"}.get(record.get("core_empty"), "unknown")
    return section(
        "Who gains from cooperating",
        f"Each country's cost planning alone, against its Shapley and nucleolus shares of the "
        f"grand coalition's cost ({currency}, discounted). The value of cooperation is "
        f"{prep.compact(record.get('value_of_cooperation'))} {currency}; the core is {core}. "
        "Fund share: the Shapley value over the grand coalition's cost, when every value is "
        "positive (scenario.budget_shares_from takes it); the error bound is what the "
        "coalitions' MIP gaps leave open.",
        body,
        "coalitions",
    )


WORTH = (
    ("rp", "the stochastic plan, expected"),
    ("ws", "each future's own plan (wait and see)"),
    ("eev", "the mean future's plan, in every future"),
    ("evpi", "value of perfect information (rp - ws)"),
    ("vss", "value of the stochastic solution (eev - rp)"),
)


def _stochastic_section(futures: pd.DataFrame, record: dict, currency: str) -> str:
    """What one plan for all futures costs in each, and what it is worth."""
    worth = [
        {"figure": label, f"{currency}, discounted": prep.compact(record.get(key))}
        for key, label in WORTH
        if key in record
    ]
    shown = futures.sort_values("probability", ascending=False).head(30)
    shown = shown.assign(
        probability=shown["probability"].map("{:.1%}".format),
        **{c: shown[c].map(prep.compact) for c in ("cost", "unmet_value", "emissions_t")},
    )[["future", "probability", "status", "cost", "unmet_value", "emissions_t"]]
    note = sampling_note(record, currency)
    return section(
        "One plan for all futures",
        f"Investments shared by {len(futures)} futures, operations per future; the plan "
        "minimises the expected cost (or mean-CVaR: scenario.risk). Costs are discounted "
        f"({currency}); unmet demand and emissions over the horizon. The most probable "
        f"futures first.{f' {note}.' if note else ''}",
        table(pd.DataFrame(worth), ("figure",)) + table(shown.astype(str), ("future", "status")),
        "stochastic",
    )


def _stress_section(frame: pd.DataFrame, currency: str) -> str:
    """The cost distribution over the futures and the drivers of its worst tail."""
    from twin.stress import driver_columns, tail_drivers

    drivers = tail_drivers(frame, driver_columns(frame)).head(8)
    shown = drivers.assign(
        **{c: drivers[c].map(lambda v: f"{v:,.3g}") for c in ("tail_mean", "mean", "shift_sd")}
    ).rename(
        columns={
            "tail_mean": "mean in the worst 10 %",
            "mean": "mean in all futures",
            "shift_sd": "difference (sd)",
        }
    )
    failed = int((frame["status"] != "optimal").sum())
    note = f" {failed} futures have no operations (see stress.parquet)." if failed else ""
    return section(
        "Stress test",
        f"The plan's investments fixed, its operations re-optimised in each of {len(frame)} "
        "futures. The table: what sets the worst tenth of futures apart (factors multiply "
        "demand or prices, closures count periods, cuts are shares lost)." + note,
        plot(figures.stress_distribution(frame, currency), "stress")
        + table(shown.astype(str), ("driver",)),
        "stress",
    )


def sweep_page(data: SweepData, scripts: str | None = None) -> str:
    """The report of a sweep: every run's headline KPIs, and the KPIs against each swept key
    (`scripts`: see `document`)."""
    sweep = prep.typed_sweep(data.sweep, data.parameters)
    swept = [p for p in data.parameters if sweep[p].nunique() > 1]
    fixed = {p: str(sweep[p].iloc[0]) for p in data.parameters if p not in swept}
    sweep = sweep.sort_values(swept or ["run_id"])
    finished = sweep["status"].isin(FINISHED)
    metas = list(data.runs.values())
    first = next((m for m in metas if m.get("status") in FINISHED), metas[0])
    title = f"Sweep over {', '.join(swept) or 'one setting'}"
    parts = [
        f"<header><h1>{escape(title)}</h1><p class='subtitle'>{len(sweep)} runs, "
        f"{int(finished.sum())} finished; fixed: "
        f"{escape(', '.join(f'{k}={v}' for k, v in fixed.items()) or 'nothing')}</p></header>"
        "<main>"
    ]
    failed = sweep[~finished]
    if len(failed):
        parts.append(
            "<div class='note'>Failed: "
            + "; ".join(escape(f"{r.run_id}: {r.status} {r.message}") for r in failed.itertuples())
            + "</div>"
        )
    parts.append(
        section(
            "Runs",
            "Headline KPIs of each run in the last period (cost: discounted over the horizon).",
            table(_runs_table(data, sweep, swept), tuple(swept)),
            "runs",
        )
    )
    done = sweep[finished]
    for i, parameter in enumerate(swept):
        others = [p for p in swept if p != parameter]
        parts.append(
            section(
                f"Headline KPIs against {parameter}",
                "One line per setting of the other swept keys." if others else "Each point a run.",
                plot(figures.sweep_parameter(done, parameter, others, data.currency), f"sweep-{i}"),
                f"sweep-{i}",
            )
        )
    if len(done) > 1:
        labels = done[swept].astype(str).agg(", ".join, axis=1) if swept else done["run_id"]
        parts.append(
            section(
                "Cost against emissions",
                "One point per run, labelled with its "
                + (", ".join(swept) or "run id")
                + ": the trade-off the sweep spans.",
                plot(figures.sweep_tradeoff(done, labels, data.currency), "tradeoff"),
                "tradeoff",
            )
        )
    hashes = sorted({str(m.get("data_hash")) for m in metas})
    facts = {
        "sweep": str(data.directory.resolve()),
        "runs": ", ".join(f"{s} {n}" for s, n in sweep["status"].value_counts().items()),
        "data hash": ", ".join(hashes),
        "versions": versions(first),
        "command": "twin run -m "
        + " ".join(f"{p}={','.join(map(str, sweep[p].unique()))}" for p in data.parameters),
    }
    parts.append("</main>" + footer(facts, first.get("config", {}), swept))
    return document(f"twin report: {title}", "\n".join(parts), scripts)


def _runs_table(data: SweepData, sweep: pd.DataFrame, swept: list[str]) -> pd.DataFrame:
    cells = sweep[swept].astype(str)
    cells["status"] = sweep["status"]
    if "gap" in sweep:  # a gap wider than the differences compared is marked
        blurred = sweep.get("gap_exceeds_difference", pd.Series(False, index=sweep.index))
        cells["gap"] = [
            "n/a" if pd.isna(g) else f"{g:.2%}" + (" (wider than a difference)" if b else "")
            for g, b in zip(sweep["gap"], blurred.fillna(False), strict=True)
        ]
    for kpi, name, unit in figures.SWEEP_KPIS:
        if kpi in sweep:
            show = signed if kpi.endswith(("_pct", "_created")) else prep.compact
            cells[f"{name} ({unit.format(currency=data.currency)})"] = sweep[kpi].map(show)
    cells["report"] = [  # a failed run's page, if any, is an earlier attempt's: no link
        f"<a href='{escape(quote(str(d)))}/report.html'>open</a>"
        if status in FINISHED and (data.directory / str(d) / "report.html").exists()
        else ""
        for d, status in zip(sweep["run_dir"], sweep["status"], strict=True)
    ]
    return cells
