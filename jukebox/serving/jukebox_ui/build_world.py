"""Build the Jukebox page's world map, ``static/world.json``, from the npm package ``world-atlas``.

    python -m jukebox.serving.jukebox_ui.build_world     (or: make world-map)

The page draws the model's answer on a map with no download at run time and no CDN, so the map's
shapes are package data, made once by this step and kept in git:

1. ``npm pack world-atlas@2.0.2`` fetches the package's tarball from the npm registry; its
   SHA-512 must be the one pinned here (``INTEGRITY``, the registry's ``dist.integrity``).
2. ``countries-110m.json`` (Natural Earth's countries at 1:110m, as TopoJSON) is decoded: each
   country's rings are rebuilt from the shared, delta-encoded arcs.
3. Each country gets its ISO 3166-1 alpha-2 code, the code the model's countries use, from its
   numeric ISO 3166-1 id through CLDR's territory aliases (``babel``, already pinned).
4. Each country becomes one SVG path in a plain equirectangular projection (x = longitude,
   y = -latitude, in degrees, rounded to 0.1), and the model's countries that the map lacks
   (small states such as Singapore) are listed, so the page can name them under the map.

world-atlas is ISC-licensed (its LICENSE is copied beside the map); Natural Earth is public domain.
"""

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from babel.core import get_global

from jukebox.rankings import COUNTRIES

PACKAGE = "world-atlas@2.0.2"
INTEGRITY = "sha512-IXfV0qwlKXpckz1FhwXVwKRjiIhOnWttOskm5CtxMsjgE/MXAYRHWJqgXOpM8IkcPBoXnyTU5lFHcYa5ChG0LQ=="
SHAPES = "package/countries-110m.json"
ANTARCTICA = "010"
STATIC = Path(__file__).with_name("static")
MAP_FILE = STATIC / "world.json"
LICENSE_FILE = STATIC / "world-atlas-LICENSE.txt"


def fetch_package(folder: Path) -> Path:
    """``npm pack`` the package into ``folder``; the tarball, once its SHA-512 is the pinned one."""
    if shutil.which("npm") is None:
        raise SystemExit("This step needs npm (Node.js) to fetch world-atlas from the npm registry.")
    packed = subprocess.run(
        ["npm", "pack", PACKAGE, "--json", "--pack-destination", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if packed.returncode != 0:
        raise SystemExit(f"npm pack {PACKAGE} failed: {packed.stderr.strip()}")
    tarball = folder / json.loads(packed.stdout)[0]["filename"]
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != INTEGRITY:
        raise SystemExit(f"{tarball.name} is not the pinned {PACKAGE}: its hash is {digest}, not {INTEGRITY}.")
    return tarball


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """The topology's arcs as lists of (longitude, latitude): quantized, delta-encoded positions undone."""
    (scale_x, scale_y), (move_x, move_y) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * scale_x + move_x, y * scale_y + move_y))
        arcs.append(points)
    return arcs


def ring(arcs: list, indexes: list[int]) -> list[tuple[float, float]]:
    """One closed ring from its arcs; index ``~i`` (negative) means arc ``i`` walked backwards."""
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])  # each arc starts where the last one ended
    return points


def polygons(geometry: dict) -> list[list[list[int]]]:
    """A geometry's polygons (each a list of rings of arc indexes), for Polygon and MultiPolygon alike."""
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["arcs"]
    return []


def across_the_antimeridian(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A ring as the flat map draws it: once, or twice when it crosses the ±180° meridian (Fiji, Russia).

    A ring that crosses it jumps from +180 to -180. Its longitudes are made continuous (the far
    side goes past ±180), and the ring is drawn a second time a whole turn (360°) back, so that
    each half shows at its own edge of the map (the map's frame cuts what lies beyond ±180).
    """
    unwrapped, turn = [points[0]], 0.0
    for (before, _), (longitude, latitude) in zip(points, points[1:], strict=False):
        if longitude - before > 180:
            turn -= 360
        elif longitude - before < -180:
            turn += 360
        unwrapped.append((longitude + turn, latitude))
    shifts = [0.0]
    if max(longitude for longitude, _ in unwrapped) > 180:
        shifts.append(-360.0)
    if min(longitude for longitude, _ in unwrapped) < -180:
        shifts.append(360.0)
    return [[(longitude + shift, latitude) for longitude, latitude in unwrapped] for shift in shifts]


def svg_path(rings: list[list[tuple[float, float]]]) -> str:
    """SVG path data for rings, equirectangular: x = longitude, y = -latitude, 0.1 degree precision."""

    def at(point: tuple[float, float]) -> str:
        return f"{round(point[0], 1) + 0.0:g},{round(-point[1], 1) + 0.0:g}"  # + 0.0: no "-0"

    drawn = [copy for points in rings for copy in across_the_antimeridian(points)]
    return "".join("M" + "L".join(at(point) for point in points) + "Z" for points in drawn)


def alpha2(numeric: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code of a numeric ISO 3166-1 code ("840" → "US"), by CLDR's territory aliases."""
    codes = get_global("territory_aliases").get(numeric or "", [])
    return codes[0] if len(codes) == 1 and len(codes[0]) == 2 else None


def world_map(topology: dict, model_countries: list[str]) -> dict:
    """The page's map: one entry per country (code, name, SVG path) and the model's countries it lacks."""
    arcs = decode_arcs(topology)
    countries = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry.get("id") == ANTARCTICA:
            continue  # it circles the pole: no flat map shows it well, and no chart is there
        rings = [ring(arcs, indexes) for polygon in polygons(geometry) for indexes in polygon]
        name = geometry.get("properties", {}).get("name", "")
        countries.append({"code": alpha2(geometry.get("id")), "name": name, "path": svg_path(rings)})
    drawn = {country["code"] for country in countries}
    return {
        "source": f"{PACKAGE} (countries-110m, Natural Earth 1:110m), ISC licence: see world-atlas-LICENSE.txt",
        "projection": "equirectangular: x = longitude, y = -latitude, in degrees",
        "countries": countries,
        "not_drawn": sorted(code for code in set(model_countries) if code not in drawn),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="world-atlas-") as scratch:
        tarball = fetch_package(Path(scratch))
        with tarfile.open(tarball) as archive:
            topology = json.load(archive.extractfile(SHAPES))
            licence = archive.extractfile("package/LICENSE").read()
    world = world_map(topology, COUNTRIES)
    MAP_FILE.write_text(json.dumps(world, separators=(",", ":")) + "\n")
    LICENSE_FILE.write_bytes(licence)
    print(
        f"{MAP_FILE}: {len(world['countries'])} countries from {PACKAGE}; "
        f"the model's countries not drawn (too small at 1:110m): {', '.join(world['not_drawn']) or 'none'}."
    )


if __name__ == "__main__":
    main()
