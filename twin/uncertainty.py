"""Futures: what may happen to a plan, each with its probability (config group `uncertainty`).

A future speaks the twin's disruption vocabulary, each part optional:

- `demand`, `price`: factors on demand quantities and on supply costs, each scoped to any
  combination of chain, country, commodity and period (unscoped: every row); factors of
  several scopes that hit one row multiply;
- `close_links`, `close_corridors`, `close_crossings`: flows through them stop, in every
  period or only in `periods`;
- `capacity_cut`: the share of a site's, link's, crossing's or corridor's capacity lost;
- `carbon_price`: the carbon price of that future (else the scenario's).

An uncertainty set is either a list of named futures whose probabilities sum to 1, or a
`sample`: distributions (normal, triangular or uniform factors per scope, closures with a
probability per period, a carbon price) expanded into `count` equiprobable futures from a
seed. Scopes that name a chain, country or commodity the dataset lacks match nothing and
say so in a warning, so that one set (`markets`) applies to any dataset; a closure or cut
of an element the dataset lacks is an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from twin.data import Dataset
from twin.scenario import Scenario

SCOPES = ("chain", "country", "commodity", "period")
CLOSABLE = ("link", "corridor", "crossing")
DISTRIBUTIONS = ("normal", "triangular", "uniform")
SMALLEST_FACTOR = 0.05  # a sampled factor never falls below this: demand never vanishes
MAX_FUTURES = 100_000


class UncertaintyError(ValueError):
    """An uncertainty set the dataset or the maths cannot accept; names the key."""


@dataclass(frozen=True)
class Scope:
    """A factor on the rows of one chain, country, commodity and period (None: any)."""

    factor: float
    chain: str | None = None
    country: str | None = None
    commodity: str | None = None
    period: int | None = None

    @property
    def label(self) -> str:
        parts = [str(getattr(self, key)) for key in SCOPES if getattr(self, key) is not None]
        return ":".join(parts) or "all"


@dataclass(frozen=True)
class Closure:
    kind: str  # link / corridor / crossing
    element: str
    period: int | None = None  # None: every period


@dataclass(frozen=True)
class Future:
    name: str
    probability: float
    demand: tuple[Scope, ...] = ()
    price: tuple[Scope, ...] = ()
    closures: tuple[Closure, ...] = ()
    cuts: tuple[tuple[str, float], ...] = ()  # (site/link/crossing/corridor, share lost)
    carbon_price: float | None = None

    def drivers(self, periods: int) -> dict[str, float]:
        """What this future changes, one number per driver: the columns a stress table
        explains its tail with (factors multiply; a closure counts the periods it lasts)."""
        out: dict[str, float] = {}
        for kind, scopes in (("demand", self.demand), ("price", self.price)):
            for scope in scopes:
                key = f"{kind}[{scope.label}]"
                out[key] = out.get(key, 1.0) * scope.factor
        for closure in self.closures:
            key = f"closed[{closure.element}]"
            out[key] = out.get(key, 0.0) + (periods if closure.period is None else 1)
        for element, share in self.cuts:
            out[f"cut[{element}]"] = share
        if self.carbon_price is not None:
            out["carbon_price"] = self.carbon_price
        return out


@dataclass
class Uncertainty:
    name: str
    futures: list[Future]
    warnings: list[str] = field(default_factory=list)


def driver_defaults(key: str, scenario: Scenario) -> float:
    """A driver's value in a future that does not mention it."""
    if key == "carbon_price":
        return scenario.carbon_price
    return 1.0 if key.startswith(("demand[", "price[")) else 0.0


# ------------------------------------------------------------------ from a config


def _scopes(records: Iterable[dict], key: str) -> tuple[Scope, ...]:
    scopes = []
    for i, record in enumerate(records):
        factor = record.get("factor", 1.0)
        if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0):
            raise UncertaintyError(f"{key}[{i}].factor={factor!r}: must be a number > 0")
        scopes.append(Scope(float(factor), *(record.get(s) for s in SCOPES)))
    return tuple(scopes)


def _closures(record: dict, key: str) -> tuple[Closure, ...]:
    periods = list(record.get("periods") or [None])
    return tuple(
        Closure(kind, element, period)
        for kind in CLOSABLE
        for element in record.get(f"close_{kind}s") or ()
        for period in periods
    )


def _cuts(record: dict, key: str) -> tuple[tuple[str, float], ...]:
    cuts = []
    for element, share in (record.get("capacity_cut") or {}).items():
        if not (isinstance(share, int | float) and 0 <= share <= 1):
            raise UncertaintyError(f"{key}.capacity_cut.{element}={share!r}: a share in [0, 1]")
        cuts.append((element, float(share)))
    return tuple(cuts)


def from_config(config: dict, ds: Dataset) -> Uncertainty:
    """The futures of an `uncertainty` config (a plain dict), checked against the dataset."""
    futures_cfg, sample = config.get("futures") or [], config.get("sample") or {}
    if futures_cfg and sample.get("count"):
        raise UncertaintyError("uncertainty: give futures or a sample, not both")
    if sample.get("count"):
        futures = sampled(sample, sorted(set(ds.periods["period"].astype(int))))
    else:
        futures = [
            _future(record, f"uncertainty.futures[{i}]") for i, record in enumerate(futures_cfg)
        ]
    if not futures:
        raise UncertaintyError(
            "uncertainty: no futures (uncertainty=geopolitics, markets or combined)"
        )
    names = [f.name for f in futures]
    if len(set(names)) < len(names):
        raise UncertaintyError("uncertainty.futures: names must be unique")
    total = math.fsum(f.probability for f in futures)
    if abs(total - 1.0) > 1e-6:
        raise UncertaintyError(f"uncertainty.futures: probabilities sum to {total:.6g}, not 1")
    warnings = check_against(futures, ds)
    return Uncertainty(str(config.get("name", "uncertainty")), futures, warnings)


def _future(record: dict, key: str) -> Future:
    name = record.get("name")
    probability = record.get("probability")
    if not name:
        raise UncertaintyError(f"{key}.name: every future needs a name")
    if not (isinstance(probability, int | float) and 0 < probability <= 1):
        raise UncertaintyError(
            f"{key}.probability={probability!r}: a number above 0, at most 1 (leave out a "
            "future that cannot happen)"
        )
    carbon = record.get("carbon_price")
    if carbon is not None and not (math.isfinite(carbon) and carbon >= 0):
        raise UncertaintyError(f"{key}.carbon_price={carbon!r}: a number >= 0")
    return Future(
        name=str(name),
        probability=float(probability),
        demand=_scopes(record.get("demand") or (), f"{key}.demand"),
        price=_scopes(record.get("price") or (), f"{key}.price"),
        closures=_closures(record, key),
        cuts=_cuts(record, key),
        carbon_price=None if carbon is None else float(carbon),
    )


def _draw(spec: dict, key: str, rng: np.random.Generator, size: int) -> np.ndarray:
    kind = spec.get("distribution", "normal")
    if kind not in DISTRIBUTIONS:
        raise UncertaintyError(f"{key}.distribution={kind!r}: one of {list(DISTRIBUTIONS)}")
    if kind == "normal":
        mean, sd = float(spec.get("mean", 1.0)), float(spec.get("sd", 0.0))
        if sd < 0:
            raise UncertaintyError(f"{key}.sd={sd}: must be >= 0")
        return rng.normal(mean, sd, size)
    if spec.get("low") is None or spec.get("high") is None:
        raise UncertaintyError(f"{key}: a {kind} distribution needs low and high")
    low, high = float(spec["low"]), float(spec["high"])
    mode = float((low + high) / 2 if spec.get("mode") is None else spec["mode"])
    if not low <= mode <= high or low == high:
        raise UncertaintyError(f"{key}: needs low <= mode <= high and low < high")
    if kind == "uniform":
        return rng.uniform(low, high, size)
    return rng.triangular(low, mode, high, size)


def sampled(sample: dict, periods: list[int]) -> list[Future]:
    """`count` equiprobable futures drawn from the sample's distributions with its seed:
    factors (at least SMALLEST_FACTOR) per scope, each closure independently per period,
    a carbon price (at least 0)."""
    count = int(sample["count"])
    if not 1 <= count <= MAX_FUTURES:
        raise UncertaintyError(f"uncertainty.sample.count={count}: from 1 to {MAX_FUTURES}")
    rng = np.random.default_rng(int(sample.get("seed", 0)))
    factors = {}
    for kind in ("demand", "price"):
        for i, spec in enumerate(sample.get(kind) or ()):
            key = f"uncertainty.sample.{kind}[{i}]"
            scope = Scope(1.0, *(spec.get(s) for s in SCOPES))
            factors[kind, i] = (scope, np.maximum(_draw(spec, key, rng, count), SMALLEST_FACTOR))
    closed = []
    for i, spec in enumerate(sample.get("closures") or ()):
        key = f"uncertainty.sample.closures[{i}]"
        kinds = [kind for kind in CLOSABLE if spec.get(kind)]
        probability = spec.get("probability")
        if len(kinds) != 1 or not (isinstance(probability, int | float) and 0 <= probability <= 1):
            raise UncertaintyError(f"{key}: one of link, corridor or crossing and a probability")
        hits = rng.random((count, len(periods))) < probability
        closed.append((Closure(kinds[0], str(spec[kinds[0]])), hits))
    carbon = sample.get("carbon_price")
    prices = (
        np.maximum(_draw(carbon, "uncertainty.sample.carbon_price", rng, count), 0.0)
        if carbon
        else None
    )
    futures = []
    width = len(str(count))
    for n in range(count):
        scopes = {
            kind: tuple(
                replace(scope, factor=float(draws[n]))
                for (k, _), (scope, draws) in factors.items()
                if k == kind
            )
            for kind in ("demand", "price")
        }
        closures = tuple(
            replace(closure, period=period)
            for closure, hits in closed
            for period, hit in zip(periods, hits[n], strict=True)
            if hit
        )
        futures.append(
            Future(
                name=f"s{n:0{width}d}",
                probability=1.0 / count,
                demand=scopes["demand"],
                price=scopes["price"],
                closures=closures,
                carbon_price=None if prices is None else float(prices[n]),
            )
        )
    return futures


def check_against(futures: list[Future], ds: Dataset) -> list[str]:
    """Errors for closures, cuts and periods the dataset lacks; warnings (returned) for
    scopes that match nothing in it."""
    known = {
        "link": set(ds.links["link_id"]),
        "corridor": set(ds.corridors["corridor_id"]),
        "crossing": set(ds.border_crossings["crossing_id"]),
    }
    assets = known["link"] | known["corridor"] | known["crossing"] | set(ds.sites["site_id"])
    scopes = {
        "chain": set(ds.commodities["chain"]),
        "country": set(ds.regions["country"]),
        "commodity": set(ds.commodities["commodity_id"]),
        "period": set(ds.periods["period"].astype(int)),
    }
    warnings: set[str] = set()
    for future in futures:
        for closure in future.closures:
            if closure.element not in known[closure.kind]:
                raise UncertaintyError(
                    f"uncertainty: future {future.name} closes {closure.kind} "
                    f"{closure.element!r}, which the dataset does not have"
                )
            if closure.period is not None and closure.period not in scopes["period"]:
                raise UncertaintyError(f"uncertainty: no period {closure.period} in the dataset")
        for element, _ in future.cuts:
            if element not in assets:
                raise UncertaintyError(
                    f"uncertainty: future {future.name} cuts {element!r}: no such site, "
                    "link, crossing or corridor"
                )
        for scope in (*future.demand, *future.price):
            for key in SCOPES:
                value = getattr(scope, key)
                if value is not None and value not in scopes[key]:
                    warnings.add(
                        f"uncertainty: {key} {value!r} is not in the dataset: matches nothing"
                    )
    return sorted(warnings)


# ------------------------------------------------------------------ applied to data


def multipliers(rows: pd.DataFrame, scopes: tuple[Scope, ...], ds: Dataset) -> np.ndarray:
    """The factor on each row (columns region_id, commodity_id, period) of the scopes."""
    out = np.ones(len(rows))
    if not scopes or rows.empty:
        return out
    chain = rows["commodity_id"].map(ds.commodities.set_index("commodity_id")["chain"])
    country = rows["region_id"].map(ds.regions.set_index("region_id")["country"])
    values = {
        "chain": chain.to_numpy(),
        "country": country.to_numpy(),
        "commodity": rows["commodity_id"].to_numpy(),
        "period": rows["period"].astype(int).to_numpy(),
    }
    for scope in scopes:
        hit = np.ones(len(rows), dtype=bool)
        for key in SCOPES:
            if getattr(scope, key) is not None:
                hit &= values[key] == getattr(scope, key)
        out[hit] *= scope.factor
    return out


def cut_assets(ds: Dataset, future: Future) -> dict[str, float]:
    """Share of capacity kept per site, link or crossing (a corridor's cut on its links)."""
    links_of = ds.corridors.groupby("corridor_id")["link_id"].apply(list).to_dict()
    kept: dict[str, float] = {}
    for element, share in future.cuts:
        for asset in links_of.get(element, [element]):
            kept[asset] = kept.get(asset, 1.0) * (1.0 - share)
    return kept


def closed_link_periods(ds: Dataset, future: Future) -> list[tuple[str, int | None]]:
    """(link, period or None for every period) of every closure."""
    corridor_links = ds.corridors.groupby("corridor_id")["link_id"].apply(list).to_dict()
    crossing_links = ds.corridors.groupby("border_crossing")["link_id"].apply(list).to_dict()
    out = []
    for closure in future.closures:
        links = {
            "link": [closure.element],
            "corridor": corridor_links.get(closure.element, []),
            "crossing": crossing_links.get(closure.element, []),
        }[closure.kind]
        out += [(link, closure.period) for link in links]
    return out


def future_inputs(ds: Dataset, scenario: Scenario, future: Future) -> tuple[Dataset, Scenario]:
    """The dataset and scenario of one future, for a model built anew (the reference the
    in-place changes of `twin.stress` are tested against); closures are left to the caller
    (`closed_link_periods`)."""
    demand = ds.demand.copy()
    demand["quantity"] = demand["quantity"] * multipliers(demand, future.demand, ds)
    supply = ds.supply.copy()
    supply["cost_per_unit"] = supply["cost_per_unit"] * multipliers(supply, future.price, ds)
    availability = dict(scenario.availability)
    for asset, kept in cut_assets(ds, future).items():
        availability[asset] = availability.get(asset, 1.0) * kept
    carbon = scenario.carbon_price if future.carbon_price is None else future.carbon_price
    scenario = replace(scenario, availability=availability, carbon_price=carbon)
    return replace(ds, tables={**ds.tables, "demand": demand, "supply": supply}), scenario
