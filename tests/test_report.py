"""`twin report`: the numbers it draws, its errors, and the page as a person sees it in Chromium.

The browser test opens the report of a toy run in a headless Chromium or Chrome found on the
PATH (`make test` tries to provide Debian's; without one the test skips and says why),
offline, and saves a screenshot in its tmp dir (and in $TWIN_SCREENSHOTS when set, to look
at).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest

import twin.report
from twin.app import config_hash, write_page
from twin.cli import main
from twin.kpis import last_period
from twin.plan import optimise
from twin.report import prep, write_report
from twin.report.load import RunData, load
from twin.report.page import cards, run_page
from twin.scenario import Scenario

from .builders import inland
from .conftest import DATA, CsvEdit, twin_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((path for path in map(shutil.which, BROWSERS) if path), None)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def twin_report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", "report", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished toy run (to-be against as-is), shared by the tests of this module."""
    run_dir = tmp_path_factory.mktemp("toy_run")
    result = twin_run(f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stdout + result.stderr
    return run_dir


@pytest.fixture(scope="module")
def toy(toy_run: Path) -> RunData:
    data = load(toy_run)
    assert isinstance(data, RunData)
    return data


def test_cards_are_the_kpis_of_the_last_period(toy: RunData):
    kpis = toy.tables["kpis"]
    period = last_period(kpis)
    total = prep.headline(kpis, period).set_index("scope_type").loc["total"]

    def kpi(plan: str, name: str) -> float:
        row = kpis[
            (kpis["plan"] == plan)
            & (kpis["kpi"] == name)
            & (kpis["scope_type"] == "total")
            & (kpis["period"] == period)
        ]
        return float(row["value"].iloc[0])

    assert total["value_added_change_pct"] == kpi("change", "value_added_change_pct")
    assert total["emissions_change_pct"] == kpi("change", "emissions_change_pct")
    assert total["jobs_created"] == kpi("change", "jobs_created")
    assert total["unmet_demand"] == kpi("to_be", "unmet_demand")
    assert total["value_added_ref"] == kpi("as_is", "value_added")
    cost = prep.horizon_cost(kpis)
    assert cost.cost == pytest.approx(toy.meta["cost"], rel=1e-9)
    html = cards(kpis, "USD")
    assert f"{total['value_added_change_pct']:+.3g} %" in html
    assert f"{prep.compact(cost.cost)} USD" in html
    countries = prep.headline(kpis, period).query("scope_type == 'country'")
    assert set(countries["scope"]) == set(toy.ds.regions["country"])


def test_sankey_bands_add_up_to_the_balance_and_conversion_tables(toy: RunData):
    value = toy.ds.commodities.set_index("commodity_id")["value_per_unit"]
    for period in toy.ds.periods["period"]:
        sankey = prep.value_chains(toy.tables, toy.ds, int(period))
        links, kinds = sankey.links, sankey.nodes["kind"]
        balance = toy.tables["balance"].query("period == @period")
        conversion = toy.tables["conversion"].query("period == @period")
        supply = links[links["source"].map(kinds) == "supply"]
        demand = links[links["target"].map(kinds) == "demand"]
        assert supply["value"].sum() == pytest.approx(
            (balance["purchased"] * balance["commodity"].map(value)).sum()
        )
        assert demand["value"].sum() == pytest.approx(
            (balance["served"] * balance["commodity"].map(value)).sum()
        )
        made = links[links["source"].map(kinds) == "technology"]["value"].sum()
        produced = conversion.query("quantity > 0")
        assert made == pytest.approx(
            (produced["quantity"] * produced["commodity"].map(value)).sum()
        )
        for node in sankey.nodes.index[kinds == "commodity"]:
            into = links.loc[links["target"] == node, "value"].sum()
            out = links.loc[links["source"] == node, "value"].sum()
            assert into == pytest.approx(out), sankey.nodes.loc[node, "label"]


def test_map_lines_carry_every_flow_and_crossings_their_use(toy: RunData):
    flows = toy.tables["flows"]
    value = toy.ds.commodities.set_index("commodity_id")["value_per_unit"]
    lines = prep.link_flows(toy.tables, toy.ds)
    assert lines["value"].sum() == pytest.approx(
        (flows["flow"] * flows["commodity"].map(value)).sum()
    )
    assert lines[["lat_a", "lon_a", "lat_b", "lon_b"]].notna().all().all()
    assert toy.crossing_shares == {}  # a plan run: no disruption cuts its crossings
    crossings = prep.crossings(toy.tables, toy.ds, {}).set_index(["period", "crossing_id"])
    capacity = toy.ds.border_crossings.set_index("crossing_id")["capacity"]
    for (period, crossing), through in (
        flows.groupby(["period", "border_crossing"])["flow"].sum().items()
    ):
        row = crossings.loc[(period, crossing)]
        assert row["flow"] == pytest.approx(through)
        assert row["capacity"] >= capacity[crossing]
        assert row["utilisation_pct"] == pytest.approx(100 * through / row["capacity"])


def test_a_disruption_shows_crossings_as_the_model_enforced_them(tmp_path: Path):
    """Half of rail_crossing cut, road_crossing closed: the rail crossing's capacity is half of
    100,000 t/yr (no expansion can be built in operations of a plan that built none there), its
    flows fill it, and the closed one has no capacity and no utilisation."""
    result = twin_run(
        "analysis=disruption",
        "+disruption.capacity_cut.rail_crossing=0.5",
        "disruption.close_crossings=[road_crossing]",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run = load(tmp_path)
    assert isinstance(run, RunData)
    assert run.crossing_shares["rail_crossing"] == 0.5
    crossings = prep.crossings(run.tables, run.ds, run.crossing_shares)
    flows = run.tables["flows"].groupby(["border_crossing", "period"])["flow"].sum()
    built = run.tables["investments"].query("asset_id == 'rail_crossing'")["units_built"].sum()
    rail = crossings[crossings["crossing_id"] == "rail_crossing"].set_index("period")
    for period, row in rail.iterrows():
        assert row["capacity"] == pytest.approx(0.5 * (100_000 + 50_000 * built))
        assert row["flow"] == pytest.approx(flows[("rail_crossing", period)])
        assert row["utilisation_pct"] == pytest.approx(100)  # it binds
    road = crossings[crossings["crossing_id"] == "road_crossing"]
    assert len(road) == len(run.ds.periods)
    assert (road["capacity"] == 0).all() and road["utilisation_pct"].isna().all()
    assert "n/a" in run_page(run)


def test_a_dataset_without_crossings_has_a_map_without_them(tmp_path: Path):
    ds = inland(tmp_path / "inland")
    plan = optimise(ds, Scenario(), "inland")
    tables = {**plan.results.tables, "kpis": plan.kpis}
    crossings = prep.crossings(tables, ds, {})
    assert crossings.empty and list(crossings.columns) == list(prep.CROSSING_COLUMNS)
    run = RunData(tmp_path, {}, tables, {}, ds, {}, {}, [])
    html = run_page(run)
    assert "id='map-section'" in html and '"2025"' in html  # the period's button


def test_cards_and_footer_show_missing_and_zero_numbers(toy: RunData):
    kpis = toy.tables["kpis"]
    without_jobs = kpis[kpis["kpi"] != "jobs_created"]
    assert "Jobs created</div><div class='value '>n/a</div>" in cards(without_jobs, "USD")
    html = run_page(replace(toy, meta={**toy.meta, "objective": 0.0}))
    assert "<dt>objective</dt><dd>0</dd>" in html


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, toy_run: Path):
    out = tmp_path / "page.html"
    out.mkdir()  # a directory where the page should go: the replace fails
    with pytest.raises(OSError):
        write_report(toy_run, out)
    assert list(tmp_path.iterdir()) == [out]


def test_a_broken_report_does_not_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    def broken(directory: Path, out: Path | None = None, shared: Path | None = None) -> Path:
        raise KeyError("plan")

    monkeypatch.setattr(twin.report, "write_report", broken)
    write_page(tmp_path)  # no exception
    assert "no report: KeyError('plan')" in capsys.readouterr().out


def test_report_true_on_a_resumed_run_writes_its_page(tmp_path: Path):
    first = twin_run(f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stdout + first.stderr
    assert not (tmp_path / "report.html").exists()
    again = twin_run(f"hydra.run.dir={tmp_path}", "report=true")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "skipped" in again.stdout
    assert (tmp_path / "report.html").exists()


def test_config_hash_ignores_report():
    assert config_hash({"scenario": {"x": 1}, "report": True}) == config_hash(
        {"scenario": {"x": 1}}
    )


def _write_run_json(directory: Path, **meta) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps(meta))


def test_what_is_not_a_finished_run_is_a_clear_error(
    tmp_path: Path, toy_run: Path, capsys: pytest.CaptureFixture
):
    cases = {
        "no such directory": tmp_path / "missing",
        "neither a run directory": tmp_path,
    }
    failed = tmp_path / "failed"
    _write_run_json(failed, run_id="x", status="infeasible", message="cap too tight")
    cases["status infeasible: cap too tight"] = failed
    partial = tmp_path / "partial"
    shutil.copytree(toy_run, partial)
    (partial / "results" / "flows.parquet").unlink()
    cases["missing flows.parquet"] = partial
    moved = tmp_path / "moved"
    shutil.copytree(toy_run, moved)
    meta = json.loads((moved / "run.json").read_text())
    _write_run_json(moved, **{**meta, "dataset": str(tmp_path / "gone")})
    cases["cannot be used"] = moved
    for message, directory in cases.items():
        assert main(["report", str(directory)]) == 2, message
        stderr = capsys.readouterr().err.replace("\n", " ")
        assert message in stderr, stderr


def test_broken_files_are_a_clear_error_of_the_cli(tmp_path: Path, toy_run: Path):
    """What a killed write or a foreign file leaves: exit 2, the file and why, no traceback."""
    cases: dict[Path, str] = {}
    listed = tmp_path / "listed"
    _write_run_json(listed)
    (listed / "run.json").write_text("[1, 2]")
    cases[listed / "run.json"] = "not a run record"
    corrupt = tmp_path / "corrupt"
    shutil.copytree(toy_run, corrupt)
    (corrupt / "results" / "flows.parquet").write_bytes(b"PAR1 cut short")
    cases[corrupt / "results" / "flows.parquet"] = "cannot be read as Parquet"
    short = tmp_path / "short"
    shutil.copytree(toy_run, short)
    kpis = short / "results" / "kpis.parquet"
    pd.read_parquet(kpis).drop(columns="plan").to_parquet(kpis)
    cases[kpis] = "missing columns ['plan']"
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.parquet").write_text("not parquet")
    cases[sweep / "sweep.parquet"] = "cannot be read as Parquet"
    for file, reason in cases.items():
        directory = file.parent.parent if file.parent.name == "results" else file.parent
        result = twin_report(str(directory))
        stderr = result.stderr.replace("\n", " ")
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{file}: " in stderr and reason in stderr, stderr
        assert "Traceback" not in stderr


@pytest.mark.slow
def test_report_of_each_analysis_has_its_section(tmp_path: Path):
    for overrides, anchor in (
        (("analysis=n1",), "resilience-section"),
        (("analysis=disruption", "disruption.close_crossings=[road_crossing]"), "resilience"),
        (("analysis=pareto", "scenario.pareto_points=3"), "pareto"),
    ):
        run_dir = tmp_path / overrides[0].split("=")[1]
        result = twin_run(*overrides, f"hydra.run.dir={run_dir}")
        assert result.returncode == 0, result.stdout + result.stderr
        html = write_report(run_dir).read_text()
        assert f"id='{anchor}" in html, overrides


@pytest.mark.slow
def test_report_true_writes_the_pages_of_a_sweep_and_its_runs(tmp_path: Path):
    result = twin_run(
        "-m", "scenario.carbon_price=0,100", "report=true", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert not sweep["run_dir"].str.contains("report").any()  # not part of a run's id
    assert "report" not in sweep.columns  # nor a parameter of the sweep
    for run_dir in sweep["run_dir"]:
        assert (tmp_path / run_dir / "report.html").exists()
    html = (tmp_path / "report.html").read_text()
    assert "Headline KPIs against scenario.carbon_price" in html
    assert 'id="sweep-0"' in html and 'id="tradeoff"' in html
    # the three pages share one copy of plotly.js and the base map, linked relatively
    shared = sorted(p.name for p in (tmp_path / "report-assets").iterdir())
    assert len(shared) == 2 and shared[0] == "base_map.js"
    for page in [tmp_path / "report.html", *(tmp_path / d / "report.html" for d in sweep.run_dir)]:
        assert page.stat().st_size < 1_000_000
        links = re.findall(r"<script src='([^']+)'>", page.read_text())
        targets = {(page.parent / unquote(link)).resolve() for link in links}
        assert targets == {(tmp_path / "report-assets" / name).resolve() for name in shared}


def render(html: Path, screenshot: Path) -> dict:
    """Open `html` in headless chromium, offline; what the page logged, fetched and drew."""
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(screenshot.parent / "chromium-profile"),  # fresh: the test's own tmp dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_selector("#map .geo .layer.countries path", state="attached")
        page.wait_for_selector("#sankey .sankey-node", state="attached")
        page.screenshot(path=str(screenshot), full_page=True)
        drawn = page.evaluate(
            """() => ({
              countries: [...document.querySelectorAll('#map .geo .layer.countries path')]
                .map(p => (p.getAttribute('d') || '').length),
              lines: document.querySelectorAll('#map .scattergeo .js-line').length,
              nodes: document.querySelectorAll('#sankey .sankey-node').length,
              links: document.querySelectorAll('#sankey .sankey-link').length,
              cards: [...document.querySelectorAll('#cards .card .value')].map(e => e.textContent),
            })"""
        )
        context.close()
    return {"errors": errors, "requests": requests, **drawn}


NO_BROWSER = f"no Chromium or Chrome on the PATH (looked for {', '.join(BROWSERS)})"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=NO_BROWSER)
@pytest.mark.parametrize("shared", [False, True], ids=["self-contained", "sweep-shared-scripts"])
def test_report_of_a_toy_run_renders_offline_in_chromium(
    tmp_path: Path, toy_run: Path, shared: bool
):
    """The page alone, and as a page of a sweep that loads plotly.js from a shared file."""
    out = tmp_path / "run" / "report.html"
    if shared:
        write_report(toy_run, out, shared=tmp_path)
    else:
        result = twin_report(str(toy_run), "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
    screenshot = tmp_path / "report.png"
    page = render(out, screenshot)
    if os.environ.get("TWIN_SCREENSHOTS"):
        Path(os.environ["TWIN_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        name = f"toy_run{'_shared' if shared else ''}.png"
        shutil.copy(screenshot, Path(os.environ["TWIN_SCREENSHOTS"]) / name)
    assert page["errors"] == []
    assert [url for url in page["requests"] if not url.startswith(LOCAL_SCHEMES)] == []
    assert page["countries"] and min(page["countries"]) > 1000  # outlines drawn, offline
    assert page["lines"] > 0
    assert page["nodes"] >= 5 and page["links"] >= 4  # supply, grain, mill, flour, demand
    assert len(page["cards"]) == 5
    assert all(any(c.isdigit() for c in card) for card in page["cards"])
    assert screenshot.stat().st_size > 50_000


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.69e9, "3.69 bn"), (-820_400.0, "-820 k"), (12.5, "12.5"), (-2.44e-8, "0"), (None, "n/a")],
)
def test_numbers_read_as_a_planner_reads_them(value, text):
    assert prep.compact(value) == text


def test_a_dataset_whose_commodities_are_worth_nothing_still_gets_its_page(tmp_path: Path):
    """Map widths and the Sankey are valued at commodity values: all zero must not divide by
    zero or leave the Sankey without its columns."""
    dataset = tmp_path / "worthless"
    shutil.copytree(DATA / "toy", dataset)
    edit = CsvEdit(dataset)
    for line in range(2, len(edit.rows("commodities.csv")) + 1):
        edit.set("commodities.csv", line, "value_per_unit", "0")
    run_dir = tmp_path / "run"
    result = twin_run(f"dataset.path={dataset}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stdout + result.stderr
    page = write_report(run_dir)
    assert "Flows and border crossings" in page.read_text()


def test_a_sweep_page_reads_only_the_dataset_description(tmp_path: Path):
    """The sweep page needs the currency, not the tables: a dataset whose tables no longer
    load still gives the page, and one without its description is a clear error."""
    data = tmp_path / "data"
    shutil.copytree(DATA / "toy", data)
    (data / "links.csv").write_text("not,a,links,table\n")
    run_dir = tmp_path / "sweep" / "0_carbon_price=0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"dataset": str(data), "status": "optimal"}))
    row = {c: [None] for c in ("run_id", "status", "objective", "cost", "message")}
    sweep = pd.DataFrame({**row, "run_dir": [run_dir.name], "scenario.carbon_price": [0.0]})
    sweep.to_parquet(tmp_path / "sweep" / "sweep.parquet")
    loaded = load(tmp_path / "sweep")
    assert loaded.currency == "USD" and loaded.parameters == ["scenario.carbon_price"]
    (data / "dataset.yaml").unlink()
    with pytest.raises(twin.report.ReportError, match=r"dataset\.yaml"):
        load(tmp_path / "sweep")
    shutil.rmtree(data)
    with pytest.raises(twin.report.ReportError, match="not a directory"):
        load(tmp_path / "sweep")
