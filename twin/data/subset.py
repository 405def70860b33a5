"""A dataset narrowed to some countries: what they could plan without the others."""

from __future__ import annotations

from dataclasses import replace

from twin.data.loader import Dataset


def only_countries(ds: Dataset, countries: set[str]) -> Dataset:
    """These countries' regions, with their demand, supply and sites, and the links whose
    both ends lie among them (border crossings between two of them included); every other
    region and every link touching one are left out, also as transit. Countries the
    dataset does not have are the caller's to refuse."""
    regions = ds.regions[ds.regions["country"].isin(countries)]
    kept = set(regions["region_id"])
    links = ds.links[ds.links["src"].isin(kept) & ds.links["dst"].isin(kept)]
    link_ids = set(links["link_id"])
    crossings = ds.border_crossings
    tables = {
        **ds.tables,
        "regions": regions,
        "links": links,
        "link_commodities": ds.link_commodities[ds.link_commodities["link_id"].isin(link_ids)],
        "corridors": ds.corridors[ds.corridors["link_id"].isin(link_ids)],
        "border_crossings": crossings[
            crossings["country_a"].isin(countries) & crossings["country_b"].isin(countries)
        ],
    }
    for name in ("sites", "supply", "demand"):
        tables[name] = ds.tables[name][ds.tables[name]["region_id"].isin(kept)]
    return replace(ds, tables={k: v.reset_index(drop=True) for k, v in tables.items()})
