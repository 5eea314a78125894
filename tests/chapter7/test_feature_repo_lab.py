"""Chapter 7's feature store for real: Feast, the lab's S3 (SeaweedFS) with the real song data, and
both configurations, the lab's (SQLite) and the cluster's (PostgreSQL, a real server started here).

Feast runs in subprocesses, as participants and CT run it: ``feast apply`` in the feature repo,
then a short script that opens the store with ``jukebox.feature_store``, materializes with the data
pipeline's step (``materialize_features``), and reads.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from servingtools import feast_service_at

from jukebox.feature_store import FEATURE_REPO
from jukebox.lab import process
from jukebox.lab.s3 import ensure_buckets, s3_client
from jukebox.paths import DATA_PREP

SONGS = DATA_PREP / "song_properties.parquet"
ABBA = "3vkQ5DAB1qQMYO4Mr9zJN6"  # "Gimme! Gimme! Gimme!", first charted 2024-01-01
OLDEST = "59NraMJsLaMCVtwXTSia8i"  # "Prada", first charted 2023-10-18, the first day of the data
NOWHERE = "http://127.0.0.1:9"  # an S3 endpoint where nothing listens

# Open the participant's store, materialize, read songs online; the last line is the result as JSON.
READ = """
import json, sys
from kfp import dsl
from jukebox.components.materialization import materialize_features
from jukebox.feature_store import FEATURE_SERVICE, config_file, open_store
store = open_store()
materialize = lambda: {"song_properties": materialize_features.python_func(
    feature_store_yaml=config_file().read_text(), songs=dsl.Dataset(uri=sys.argv[1]))}
loaded = materialize()
again = materialize()
rows = store.get_online_features(
    features=store.get_feature_service(FEATURE_SERVICE), entity_rows=[{"spotify_id": i} for i in sys.argv[2:]]
).to_dict()
source = store.get_data_source("song_properties_source")
print(json.dumps({"project": store.project, "loaded": loaded, "again": again, "rows": rows,
                  "registry_endpoint": source.s3_endpoint_override}))
"""


def feast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The ``feast`` command in the feature repo, as a participant or CT runs it."""
    command = [str(Path(sys.executable).with_name("feast")), *args]
    result = subprocess.run(command, cwd=FEATURE_REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"feast {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def read(env: dict[str, str], *song_ids: str, check: bool = True) -> dict | subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", READ, str(SONGS), *song_ids], env=env, capture_output=True, text=True, timeout=300
    )
    if not check:
        return result
    assert result.returncode == 0, f"reading the feature store failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.splitlines()[-1])


def expected(song_id: str) -> dict:
    songs = pd.read_parquet(SONGS)
    return songs[songs.spotify_id == song_id].iloc[0].to_dict()


def assert_properties(rows: dict, position: int, song_id: str) -> None:
    song = expected(song_id)
    assert rows["spotify_id"][position] == song_id
    for name in ("is_explicit", "duration_ms", "key", "mode"):
        assert rows[name][position] == song[name], name
    for name in ("danceability", "energy", "loudness", "tempo", "valence", "acousticness"):
        assert rows[name][position] == pytest.approx(song[name], rel=1e-6), name  # stored as Float32


@pytest.fixture(scope="module")
def lab_env(shared_lab) -> dict[str, str]:
    """user1's variables, as `lab env` exports them, with the song properties in their `s3://data/`."""
    exports = shared_lab.exports("user1")
    endpoint, key, secret = exports["AWS_S3_ENDPOINT"], exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"]
    ensure_buckets(endpoint, key, secret, ["data"])
    s3_client(endpoint, key, secret).upload_file(str(SONGS), "data", "song_properties.parquet")
    return {**shared_lab.env, **exports}


def empty_store(lab_env: dict[str, str], folder: Path) -> dict[str, str]:
    """The lab's configuration, with its registry and online store in an empty folder of this test."""
    (folder / "feast").mkdir(parents=True)
    return {**lab_env, "JUKEBOX_LAB_HOME": str(folder)}


@pytest.fixture(scope="module")
def materialized(lab_env, tmp_path_factory) -> tuple[dict, Path]:
    """Apply + materialize from an empty lab store, timed; read two known songs and one unknown."""
    env = empty_store(lab_env, tmp_path_factory.mktemp("lab-store"))
    feast(env, "apply")
    started = time.monotonic()
    result = read(env, ABBA, OLDEST, "0000000000000000000000")
    print(f"materialize + read of {SONGS.name}: {time.monotonic() - started:.1f} s (with Feast's start-up)")
    return result, Path(env["JUKEBOX_LAB_HOME"]) / "feast"


@pytest.mark.slow
def test_the_first_materialization_of_an_empty_store_loads_all_history(materialized):
    result, store = materialized
    assert result["project"] == "user1_music"
    assert result["loaded"] == {"song_properties": "all history"}
    with sqlite3.connect(store / "online.db") as db:
        (count,) = db.execute("SELECT COUNT(DISTINCT entity_key) FROM user1_music_song_properties").fetchone()
    assert count == len(pd.read_parquet(SONGS)) == 14_245


@pytest.mark.slow
def test_a_later_materialization_only_loads_what_came_after_the_last_one(materialized):
    result, _ = materialized
    assert result["again"]["song_properties"].startswith("since ")


@pytest.mark.slow
def test_an_online_read_of_a_known_song_gives_its_properties(materialized):
    rows = materialized[0]["rows"]
    assert_properties(rows, 0, ABBA)
    assert_properties(rows, 1, OLDEST)  # the oldest day too: Feast's one-year look-back would miss it
    assert rows["energy"][2] is None  # an unknown song has no features


@pytest.mark.slow
def test_the_reader_uses_its_own_s3_endpoint_not_the_one_of_whoever_applied(lab_env, tmp_path):
    env = empty_store(lab_env, tmp_path)
    feast({**env, "AWS_S3_ENDPOINT": NOWHERE, "AWS_ENDPOINT_URL_S3": NOWHERE}, "apply")
    result = read(env, ABBA)  # the real endpoint, from this reader's own environment
    assert result["registry_endpoint"] == ""
    assert_properties(result["rows"], 0, ABBA)
    elsewhere = read({**env, "AWS_S3_ENDPOINT": NOWHERE, "AWS_MAX_ATTEMPTS": "1"}, ABBA, check=False)
    assert elsewhere.returncode != 0  # and a reader pointed elsewhere really goes elsewhere


@pytest.mark.slow
def test_the_cluster_configuration_works_against_a_real_postgresql(lab_env, postgres, tmp_path):
    """The cluster's feature_store.yaml as written, with the server's address for the service name ``feast``."""
    here = feast_service_at((FEATURE_REPO / "feature_store.yaml").read_text(), postgres)
    (tmp_path / "feature_store.yaml").write_text(here)
    env = {key: value for key, value in lab_env.items() if key not in ("AWS_ENDPOINT_URL_S3", "username")}
    env["FEAST_FS_YAML_FILE_PATH"] = str(tmp_path / "feature_store.yaml")
    feast(env, "apply")
    result = read(env, ABBA)
    assert result["project"] == "music" and result["loaded"] == {"song_properties": "all history"}
    assert_properties(result["rows"], 0, ABBA)
    tables = postgres.psql("\\c feast\nSELECT tablename FROM pg_tables WHERE schemaname = 'public';")
    assert "music_song_properties" in tables  # the online store
    assert "feature_services" in tables  # the registry


@pytest.mark.slow
def test_the_feast_ui_is_a_lab_service_showing_the_participants_project(shared_lab, lab_env):
    feast(lab_env, "apply")  # into the lab's own store, with exactly what `lab env` exports
    assert (shared_lab.home / "feast" / "registry.db").exists()
    started = shared_lab.cli("feast-ui")
    try:
        url = shared_lab.settings.url("feast-ui")
        assert url.startswith("http://127.0.0.1:") and url in started.stdout
        line = next(line for line in shared_lab.cli("status").stdout.splitlines() if line.startswith("feast-ui"))
        assert url in line and "healthy" in line
        deadline, projects = time.monotonic() + 60, []
        while "user1_music" not in projects and time.monotonic() < deadline:  # the UI refreshes its registry cache
            with urllib.request.urlopen(f"{url}/projects-list.json", timeout=10) as response:
                projects = [project["id"] for project in json.load(response)["projects"]]
            time.sleep(1)
        assert "user1_music" in projects
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and b"<html" in response.read().lower()
    finally:
        process.stop(shared_lab.home, "feast-ui")
    assert os.path.exists(shared_lab.home / "feast" / "online.db")
