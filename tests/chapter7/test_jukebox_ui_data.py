"""The Jukebox page's data, without a browser or a lab: its world map, its controls, where the sliders start.

The page server runs in this process (a thread), its catalog read from a stand-in for S3 that
holds a parquet made here; the map is the committed ``static/world.json``, and the build step's
decoding is checked on a small topology written by hand.
"""

import io
import json
import re
import urllib.error
import urllib.request
from types import SimpleNamespace

import pandas as pd
import pytest
from babel import Locale
from botocore.exceptions import ClientError

from jukebox.data_contract import FEATURE_RULES, FEATURES
from jukebox.data_server import serving
from jukebox.rankings import COUNTRIES
from jukebox.serving.jukebox_ui import build_world
from jukebox.serving.jukebox_ui.catalog import Catalog
from jukebox.serving.jukebox_ui.server import JukeboxServer


class StandInS3:
    """What the catalog asks of S3 (``head_object``, ``get_object``), for one parquet or none."""

    def __init__(self, table: pd.DataFrame | None):
        self.body = None if table is None else table.to_parquet(index=False)
        self.meta = SimpleNamespace(endpoint_url="http://s3.example")

    def head_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 - boto3's names
        if self.body is None:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "HeadObject")
        return {"ETag": "one"}

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 - boto3's names
        return {"ETag": "one", "Body": io.BytesIO(self.body)}


def song(spotify_id: str, name: str, level: float) -> dict:
    """A song whose every property sits at ``level`` of its contract's range (0: lowest, 1: highest)."""
    row = {"spotify_id": spotify_id, "name": name, "artists": "The Testers"}
    for feature, rule in FEATURE_RULES.items():
        low, high = (0, 1) if rule["type"] == "boolean" else (rule.get("min", 0), rule.get("max", 1))
        value = low + level * (high - low)
        row[feature] = round(value) if rule["type"] in ("boolean", "integer") or "values" in rule else value
    return row


def page_server(table: pd.DataFrame | None):
    """The page's server on the stand-in catalog, in a thread; its URL (a model server that is not there)."""
    return serving(JukeboxServer(("127.0.0.1", 0), Catalog(s3=StandInS3(table)), "http://127.0.0.1:9"))


def get(url: str) -> tuple[int, dict, str]:
    """Status, JSON body and content type of a GET, whatever the status."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), answer.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers["Content-Type"]


THREE = pd.DataFrame([song("0" * 22, "Quiet", 0.1), song("1" * 22, "Middle", 0.5), song("2" * 22, "Loud", 0.9)])


# ---- the controls and the sliders' starting values -------------------------------------------------


def test_the_controls_are_the_data_contracts_features_with_its_ranges():
    with page_server(THREE) as url:
        status, answer, kind = get(f"{url}/api/controls")
    assert (status, kind) == (200, "application/json")
    controls = {control["name"]: control for control in answer["controls"]}
    assert list(controls) == FEATURES
    assert [name for name, control in controls.items() if control["kind"] == "toggle"] == ["is_explicit", "mode"]
    assert controls["mode"]["labels"] == {"0": "minor", "1": "major"}
    for name, control in controls.items():
        if control["kind"] == "slider":
            assert (control["min"], control["max"]) == (FEATURE_RULES[name]["min"], FEATURE_RULES[name]["max"])
            steps = (control["max"] - control["min"]) / control["step"]
            assert 100 <= steps <= 1000 or name == "key", (name, control)
    assert {name: controls[name]["step"] for name in ("danceability", "loudness", "tempo", "duration_ms", "key")} == {
        "danceability": 0.001,
        "loudness": 0.1,
        "tempo": 1,
        "duration_ms": 10_000,
        "key": 1,
    }
    assert [controls["key"]["labels"][str(key)] for key in (0, 1, 9, 11)] == ["C", "C♯/D♭", "A", "B"]


def test_the_sliders_start_from_a_picked_song_or_from_the_catalogs_median_song():
    with page_server(THREE) as url:
        picked = get(f"{url}/api/song-properties?id={'2' * 22}")
        median = get(f"{url}/api/song-properties")
        unknown = get(f"{url}/api/song-properties?id={'3' * 22}")
    loud = song("2" * 22, "Loud", 0.9)
    assert picked[0] == 200 and picked[1] == {
        "song": {"spotify_id": "2" * 22, "name": "Loud", "artists": "The Testers"},
        "properties": {name: pytest.approx(float(loud[name])) for name in FEATURES},
    }
    assert median[0] == 200 and median[1]["median"] is True
    assert median[1]["song"]["name"] == "Middle"
    assert unknown[:2] == (404, {"error": f"There is no song {'3' * 22} in the catalog."})


def test_without_a_catalog_there_is_no_median_song_and_the_page_server_says_why():
    with page_server(None) as url:
        status, answer, _ = get(f"{url}/api/song-properties")
    assert (status, answer) == (404, {"error": "There is no song catalog in s3://data yet: run the data pipeline."})


# ---- the world map: the build step's output, committed ---------------------------------------------


def world() -> dict:
    return json.loads((build_world.MAP_FILE).read_text())


def test_every_country_of_the_model_is_on_the_map_or_listed_as_not_drawn():
    countries = world()["countries"]
    drawn = {country["code"] for country in countries if country["code"]}
    known = set(Locale("en").territories)
    assert all(re.fullmatch(r"[A-Z]{2}", code) and code in known for code in drawn), sorted(drawn - known)
    assert len(drawn) == len([country for country in countries if country["code"]]), "one shape per code"
    assert set(COUNTRIES) <= drawn | set(world()["not_drawn"])
    assert not set(world()["not_drawn"]) & drawn
    assert world()["not_drawn"] == ["HK", "SG"]  # too small for Natural Earth's 1:110m
    by_code = {country["code"]: country for country in countries}
    assert (by_code["US"]["name"], by_code["KR"]["name"]) == ("United States of America", "South Korea")
    assert all(re.fullmatch(r"(M[-0-9.,L]+Z)+", country["path"]) for country in countries)


def test_the_map_is_served_as_package_data():
    with page_server(THREE) as url:
        status, answer, kind = get(f"{url}/world.json")
    assert (status, kind) == (200, "application/json")
    assert answer == world()


def test_the_build_step_rebuilds_rings_from_shared_arcs_and_numeric_ids_as_alpha_2():
    # Two unit squares side by side sharing the arc x=1 (walked down by one, up by the other);
    # positions quantized (scale 1, translate 0) and delta-encoded, as TopoJSON keeps them.
    topology = {
        "transform": {"scale": [1, 1], "translate": [0, 0]},
        "arcs": [[[1, 0], [0, 1]], [[1, 1], [-1, 0], [0, -1], [1, 0]], [[1, 0], [1, 0], [0, 1], [-1, 0]]],
        "objects": {
            "countries": {
                "geometries": [
                    {"type": "Polygon", "arcs": [[0, 1]], "id": "250", "properties": {"name": "West"}},
                    {"type": "MultiPolygon", "arcs": [[[2, ~0]]], "id": "276", "properties": {"name": "East"}},
                    {"type": "Polygon", "arcs": [[0, 1]], "properties": {"name": "No code"}},
                ]
            }
        },
    }
    made = build_world.world_map(topology, ["FR", "DE", "SG"])
    assert [(country["code"], country["name"]) for country in made["countries"]] == [
        ("FR", "West"),
        ("DE", "East"),
        (None, "No code"),
    ]
    assert made["countries"][0]["path"] == "M1,0L1,-1L0,-1L0,0L1,0Z"
    assert made["countries"][1]["path"] == "M1,0L2,0L2,-1L1,-1L1,0Z"
    assert made["not_drawn"] == ["SG"]


def test_a_shape_across_the_180th_meridian_is_drawn_at_both_edges_of_the_map():
    island = [(179.0, 10.0), (-179.0, 10.0), (-179.0, 11.0), (179.0, 11.0), (179.0, 10.0)]
    copies = build_world.across_the_antimeridian(island)
    assert copies == [
        [(179.0, 10.0), (181.0, 10.0), (181.0, 11.0), (179.0, 11.0), (179.0, 10.0)],
        [(-181.0, 10.0), (-179.0, 10.0), (-179.0, 11.0), (-181.0, 11.0), (-181.0, 10.0)],
    ]
    assert build_world.across_the_antimeridian([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]) == [
        [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    ]
