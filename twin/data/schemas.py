"""Column rules of every dataset table, as pandera schemas.

These schemas are the single source of truth for the dataset format: the loader validates
with them and `docs/data.md` (the data dictionary) is generated from them, so a column's
type, unit and meaning are written down exactly once. Cross-table rules (foreign keys,
recipes with an output, ...) live in `twin.data.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandera.pandas as pa

CHAINS = ("agrotech", "hydrogen", "logistics", "digital")
MODES = ("rail", "road", "sea", "pipeline", "grid", "fibre")
BOOL_TEXT = ("true", "false", "True", "False", "TRUE", "FALSE", "1", "0")
# inf, -inf and 1e400 (read as inf) are no data; nor is 1e308, whose products overflow: a
# dataset's numbers stay within 1e15 in magnitude (HiGHS reads 1e20 as infinite).
MAX_MAGNITUDE = 1e15
FINITE = "must be a finite number of magnitude at most 1e15"


def _finite() -> pa.Check:
    return pa.Check(
        lambda values: np.isfinite(values) & (np.abs(values) <= MAX_MAGNITUDE),
        name="finite",
        error=FINITE,
    )


@dataclass(frozen=True)
class TableSpec:
    """One CSV table of a dataset: its file, its key and its column rules."""

    name: str
    description: str
    key: tuple[str, ...]
    schema: pa.DataFrameSchema
    required: bool = True

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    @property
    def bool_columns(self) -> list[str]:
        return [c for c, col in self.schema.columns.items() if col.metadata.get("bool")]


def _id(description: str, unique: bool = False) -> pa.Column:
    return pa.Column(
        str,
        pa.Check.str_matches(r"^\S+$", error="must not be blank or contain spaces"),
        unique=unique,
        description=description,
        metadata={"unit": "id"},
    )


def _text(description: str, nullable: bool = False) -> pa.Column:
    return pa.Column(str, nullable=nullable, description=description, metadata={"unit": "text"})


def _number(
    unit: str,
    description: str,
    *,
    ge: float | None = 0.0,
    gt: float | None = None,
    le: float | None = None,
    nullable: bool = False,
) -> pa.Column:
    checks = [_finite()]
    if gt is not None:
        checks.append(pa.Check.gt(gt))
    elif ge is not None:
        checks.append(pa.Check.ge(ge))
    if le is not None:
        checks.append(pa.Check.le(le))
    return pa.Column(
        float,
        checks,
        coerce=True,
        nullable=nullable,
        description=description,
        metadata={"unit": unit},
    )


def _integer(
    unit: str, description: str, *, ge: int | None = 0, nullable: bool = False
) -> pa.Column:
    checks = [pa.Check.ge(ge)] if ge is not None else []
    return pa.Column(
        "Int64",
        checks,
        coerce=True,
        nullable=nullable,
        description=description,
        metadata={"unit": unit},
    )


def _country(description: str) -> pa.Column:
    return pa.Column(
        str,
        pa.Check.str_matches(r"^[A-Z]{3}$", error="must be an ISO 3166-1 alpha-3 code"),
        description=description,
        metadata={"unit": "ISO 3166-1 alpha-3"},
    )


def _choice(options: tuple[str, ...], description: str) -> pa.Column:
    return pa.Column(
        str,
        pa.Check.isin(options, error=f"must be one of {', '.join(options)}"),
        description=description,
        metadata={"unit": "one of: " + ", ".join(options)},
    )


def _flag(description: str) -> pa.Column:
    """A boolean column: read as text and checked, converted to bool after validation."""
    return pa.Column(
        str,
        pa.Check.isin(BOOL_TEXT, error="must be true or false"),
        description=description,
        metadata={"unit": "true/false", "bool": True},
    )


def _frame(columns: dict[str, pa.Column], key: tuple[str, ...], checks=None) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        columns,
        checks=checks or [],
        unique=list(key) if len(key) > 1 else None,
        strict=False,
        ordered=False,
    )


REGIONS = TableSpec(
    "regions",
    "Nodes of the hypercluster: administrative regions where supply, sites and demand sit.",
    ("region_id",),
    _frame(
        {
            "region_id": _id("Region identifier, unique.", unique=True),
            "name": _text("Human-readable name."),
            "country": _country("Country (e.g. KAZ, CHN, RUS)."),
            "lat": _number("degrees north", "Latitude of the region's hub city.", ge=-90, le=90),
            "lon": _number("degrees east", "Longitude of the region's hub city.", ge=-180, le=180),
            "blocs": _text(
                "Blocs the country belongs to, separated by ';' (e.g. EAEU); empty for none.",
                nullable=True,
            ),
        },
        ("region_id",),
    ),
)

COMMODITIES = TableSpec(
    "commodities",
    "Goods and services that are bought, converted, moved and consumed.",
    ("commodity_id",),
    _frame(
        {
            "commodity_id": _id("Commodity identifier, unique.", unique=True),
            "name": _text("Human-readable name."),
            "chain": _choice(CHAINS, "Value chain the commodity belongs to."),
            "unit": _text("Physical unit of quantities and flows (t, MWh, TB, ...)."),
            "value_per_unit": _number(
                "currency per commodity unit",
                "Market value, used to measure value added (outputs minus inputs at this value).",
            ),
            "critical": _flag("Critical for technological sovereignty (import share bounded)."),
        },
        ("commodity_id",),
    ),
)

TECHNOLOGIES = TableSpec(
    "technologies",
    "Conversion technologies: a recipe per unit of activity, built in integer modules.",
    ("technology_id",),
    _frame(
        {
            "technology_id": _id("Technology identifier, unique.", unique=True),
            "name": _text("Human-readable name."),
            "chain": _choice(CHAINS, "Value chain the technology belongs to."),
            "echelon": _integer(
                "stage number",
                "Stage in its chain: 1 = primary (farm, power plant), higher = further downstream.",
                ge=1,
            ),
            "activity_unit": _text("Unit of activity (usually the unit of the main output)."),
            "module_size": _number(
                "activity unit per year", "Capacity of one module.", gt=0, ge=None
            ),
            "capex_per_module": _number("currency", "Overnight investment cost of one module."),
            "fixed_opex_per_module": _number(
                "currency per year", "Fixed operating cost of one installed module."
            ),
            "variable_opex": _number(
                "currency per activity unit", "Operating cost proportional to activity."
            ),
            "lifetime_years": _integer("years", "Economic and technical lifetime.", ge=1),
            "emissions_t_per_activity": _number(
                "tCO2e per activity unit", "Direct process emissions (scope 1)."
            ),
            "jobs_per_module": _number("jobs (FTE)", "Permanent jobs of one operating module."),
            "low_carbon": _flag("Eligible for the green-financing interest rate."),
        },
        ("technology_id",),
    ),
    required=False,  # a pure transport network (MCND) has no conversion
)

RECIPES = TableSpec(
    "recipes",
    "Input-output coefficients of each technology per unit of activity.",
    ("technology_id", "commodity_id"),
    _frame(
        {
            "technology_id": _id("Technology (technologies.csv)."),
            "commodity_id": _id("Commodity (commodities.csv)."),
            "coefficient": pa.Column(
                float,
                [_finite(), pa.Check.ne(0, error="must not be 0 (omit the row instead)")],
                coerce=True,
                description="Commodity units per activity unit: + output, - input.",
                metadata={"unit": "commodity unit per activity unit"},
            ),
        },
        ("technology_id", "commodity_id"),
    ),
    required=False,  # a pure transport network (MCND) has no conversion
)

SITES = TableSpec(
    "sites",
    "Existing or candidate facilities: one technology in one region.",
    ("site_id",),
    _frame(
        {
            "site_id": _id("Site identifier, unique.", unique=True),
            "region_id": _id("Region (regions.csv)."),
            "technology_id": _id("Technology (technologies.csv)."),
            "existing_modules": _integer("modules", "Modules operating at the start."),
            "max_modules": _integer("modules", "Most modules the site can ever hold."),
            "earliest_period": _integer(
                "year", "First period new modules may be built; empty = any.", nullable=True
            ),
            "existing_retirement_year": _integer(
                "year",
                "Existing modules operate in periods before this year; empty = whole horizon.",
                nullable=True,
            ),
            "opening_cost": _number(
                "currency", "One-off fixed charge when new modules are first built at the site."
            ),
        },
        ("site_id",),
        checks=[
            pa.Check(
                lambda df: df["max_modules"] >= df["existing_modules"],
                error="max_modules must be >= existing_modules",
                name="max_modules_ge_existing",
            )
        ],
    ),
    required=False,  # a pure transport network (MCND) has no conversion
)

LINKS = TableSpec(
    "links",
    "Directed arcs between regions: transport, grid and fibre.",
    ("link_id",),
    _frame(
        {
            "link_id": _id("Link identifier, unique.", unique=True),
            "src": _id("Origin region (regions.csv)."),
            "dst": _id("Destination region (regions.csv)."),
            "mode": _choice(MODES, "Transport or transmission mode."),
            "distance_km": _number("km", "Length of the arc."),
            "cost_per_unit_km": _number(
                "currency per commodity unit per km", "Variable transport or transmission cost."
            ),
            "emissions_t_per_unit_km": _number(
                "tCO2e per commodity unit per km", "Transport emissions."
            ),
            "capacity": _number(
                "commodity unit per year", "Existing capacity, all commodities of the link summed."
            ),
            "expansion_step": _number("commodity unit per year", "Capacity added per expansion."),
            "expansion_capex": _number("currency", "Overnight cost of one expansion step."),
            "max_expansions": _integer("steps", "Most expansion steps over the horizon."),
            "lifetime_years": _integer("years", "Lifetime of an expansion step.", ge=1),
        },
        ("link_id",),
        checks=[
            pa.Check(
                lambda df: df["src"] != df["dst"],
                error="src and dst must differ",
                name="src_ne_dst",
            )
        ],
    ),
)

LINK_COMMODITIES = TableSpec(
    "link_commodities",
    "Which commodities may travel on which link.",
    ("link_id", "commodity_id"),
    _frame(
        {
            "link_id": _id("Link (links.csv)."),
            "commodity_id": _id("Commodity (commodities.csv)."),
        },
        ("link_id", "commodity_id"),
    ),
)

BORDER_CROSSINGS = TableSpec(
    "border_crossings",
    "Border crossing points with their throughput (transshipment at gauge breaks).",
    ("crossing_id",),
    _frame(
        {
            "crossing_id": _id("Crossing identifier, unique.", unique=True),
            "name": _text("Human-readable name (e.g. Dostyk-Alashankou)."),
            "country_a": _country("One side of the border."),
            "country_b": _country("Other side of the border."),
            "capacity": _number(
                "commodity unit per year",
                "Throughput of all links through the crossing, both directions summed.",
            ),
            "gauge_break": _flag("Rail gauge changes here (1520 mm / 1435 mm)."),
            "transshipment_cost_per_unit": _number(
                "currency per commodity unit", "Cost of transshipment or gauge change."
            ),
            "expansion_step": _number("commodity unit per year", "Capacity added per expansion."),
            "expansion_capex": _number("currency", "Overnight cost of one expansion step."),
            "max_expansions": _integer("steps", "Most expansion steps over the horizon."),
            "lifetime_years": _integer("years", "Lifetime of an expansion step.", ge=1),
        },
        ("crossing_id",),
    ),
    required=False,
)

CORRIDORS = TableSpec(
    "corridors",
    "Named cross-border corridors: which links belong to them and what crossing them costs.",
    ("corridor_id", "link_id"),
    _frame(
        {
            "corridor_id": _id("Corridor identifier (one row per link of the corridor)."),
            "link_id": _id("Link (links.csv); a link belongs to at most one corridor."),
            "border_crossing": pa.Column(
                str,
                nullable=True,
                description="Crossing the link passes (border_crossings.csv); empty if none.",
                metadata={"unit": "id"},
            ),
            "tariff_per_unit": _number(
                "currency per commodity unit", "Import duty and fees on the link's flow."
            ),
            "border_delay_cost_per_unit": _number(
                "currency per commodity unit", "Cost of waiting and paperwork at the border."
            ),
            "customs_union": _flag("Both sides are in one customs union (EAEU)."),
        },
        ("corridor_id", "link_id"),
    ),
    required=False,
)

SUPPLY = TableSpec(
    "supply",
    "Where commodities can be bought, how much, at what cost and carbon.",
    ("region_id", "commodity_id", "period"),
    _frame(
        {
            "region_id": _id("Region (regions.csv)."),
            "commodity_id": _id("Commodity (commodities.csv)."),
            "period": _integer("year", "Period (periods.csv)."),
            "max_quantity": _number("commodity unit per year", "Most that can be bought."),
            "cost_per_unit": _number("currency per commodity unit", "Purchase price."),
            "emission_factor": _number(
                "tCO2e per commodity unit", "Emissions of producing what is bought (e.g. grid)."
            ),
        },
        ("region_id", "commodity_id", "period"),
    ),
)

DEMAND = TableSpec(
    "demand",
    "What must be delivered where; unmet demand is allowed at a penalty.",
    ("region_id", "commodity_id", "period"),
    _frame(
        {
            "region_id": _id("Region (regions.csv)."),
            "commodity_id": _id("Commodity (commodities.csv)."),
            "period": _integer("year", "Period (periods.csv)."),
            "quantity": _number("commodity unit per year", "Quantity demanded."),
            "unmet_penalty": _number(
                "currency per commodity unit", "Cost of each unit not delivered."
            ),
        },
        ("region_id", "commodity_id", "period"),
    ),
)

PERIODS = TableSpec(
    "periods",
    "Planning periods: a representative year and how many years it stands for.",
    ("period",),
    _frame(
        {
            "period": pa.Column(
                "Int64",
                pa.Check.in_range(1900, 2200, error="must be a calendar year"),
                unique=True,
                coerce=True,
                description="Representative year.",
                metadata={"unit": "year"},
            ),
            "years": _integer("years", "Years the period stands for (weights its costs).", ge=1),
        },
        ("period",),
    ),
)

AGGLOMERATION = TableSpec(
    "agglomeration",
    "MAR agglomeration economies (optional): capex of further modules of a chain in one "
    "region falls as modules accumulate (a concave piecewise-linear total capex).",
    ("chain", "modules"),
    _frame(
        {
            "chain": _choice(CHAINS, "Value chain."),
            "modules": _integer(
                "modules", "Breakpoint: modules of the chain already in the region."
            ),
            "capex_factor": _number(
                "share (0..1]",
                "Capex multiplier of modules built beyond this breakpoint (non-increasing).",
                gt=0,
                ge=None,
                le=1,
            ),
        },
        ("chain", "modules"),
    ),
    required=False,
)

TABLES: tuple[TableSpec, ...] = (
    REGIONS,
    COMMODITIES,
    TECHNOLOGIES,
    RECIPES,
    SITES,
    LINKS,
    LINK_COMMODITIES,
    BORDER_CROSSINGS,
    CORRIDORS,
    SUPPLY,
    DEMAND,
    PERIODS,
    AGGLOMERATION,
)

DATASET_YAML_KEYS = {
    "name": "Dataset name.",
    "description": "What the dataset describes.",
    "currency": "ISO 4217 currency of every money column (e.g. USD).",
    "price_year": "Year whose prices the money columns are in.",
    "licence": "Licence of the data.",
}
