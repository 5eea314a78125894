"""Benchmark: materializing the song properties, and point-in-time joins, in the lab's feature store.

    python benchmarks/feature_store.py

In a fresh lab (temporary folder, free ports) with the feature repo applied, for two histories of
the song properties in S3 — today's file (14,245 rows) and ten times as much history (each song
with ten versions, generated with a fixed seed) — it measures and prints:
- the first materialization (all history) and an incremental one after one new song: wall time and
  songs written to the online store (counted by SQLite triggers on the online table);
- historical retrieval through ``serving_fs`` (the training pipeline's Feast step, on the lab's raw
  charts) for the CI-size charts (the shipped file) and full-size charts (generated).
The materializations are the data pipeline's own step (``materialize_features``), run in-process.
The lab is stopped and its folder removed at the end.
"""

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from kfp import dsl

from jukebox.data_contract import FEATURE_RULES, FEATURES
from jukebox.data_server import serve_folder
from jukebox.feature_store import FEATURE_REPO, config_file, counting_online_writes
from jukebox.lab import environment, settings
from jukebox.lab.s3 import ensure_buckets, s3_client
from jukebox.paths import DATA_PREP
from jukebox.rankings import FULL_DAYS, generate_rankings

SEED = 7
LIVE_FOREVER = DATA_PREP / "fav_new_song_properties.parquet"


def cli(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "jukebox.lab", *args], env=env, check=True, capture_output=True)


def ten_times_the_history(songs: pd.DataFrame) -> pd.DataFrame:
    """Each song in ten versions: the real one last, nine earlier ones with jittered properties."""
    rng = np.random.default_rng(SEED)
    versions = [songs]
    for back in range(1, 10):
        older = songs.copy()
        older["event_timestamp"] = older["event_timestamp"] - pd.Timedelta(days=30 * back)
        for name in ("danceability", "energy", "valence"):
            rule = FEATURE_RULES[name]
            older[name] = np.clip(older[name] + rng.normal(0, 0.05, len(older)), rule["min"], rule["max"])
        versions.append(older)
    return pd.concat(versions[::-1], ignore_index=True)


def materialize(songs_file: Path) -> float:
    from jukebox.components.materialization import materialize_features

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        materialize_features.python_func(
            feature_store_yaml=config_file().read_text(), songs=dsl.Dataset(uri=str(songs_file))
        )
    return time.perf_counter() - started


def historical(rankings_url: str, folder: Path) -> tuple[float, int]:
    from fetch_data import fetch_data_from_feast

    dataset = dsl.Dataset(uri=str(folder / "training.parquet"))
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        fetch_data_from_feast.func.python_func(
            feature_store_yaml=config_file().read_text(), rankings_url=rankings_url, dataset=dataset
        )
    return time.perf_counter() - started, int(dataset.metadata["rows"])


def measure_history(name: str, songs: pd.DataFrame, lab: settings.LabSettings, user: str, scratch: Path) -> dict:
    """Apply into an empty store, put ``songs`` in S3, materialize all, add Live Forever, materialize again."""
    os.environ["JUKEBOX_LAB_HOME"] = str(scratch / name)  # an empty registry and online store
    (scratch / name / "feast").mkdir(parents=True)
    feast = str(Path(sys.executable).with_name("feast"))
    subprocess.run([feast, "apply"], cwd=FEATURE_REPO, check=True, capture_output=True)
    keys = settings.s3_keys(lab, user)
    s3 = s3_client(lab.s3_url(user), keys["access_key"], keys["secret_key"])
    path = scratch / f"{name}.parquet"
    songs.to_parquet(path, index=False)
    s3.upload_file(str(path), "data", "song_properties.parquet")
    online_db, table = scratch / name / "feast" / "online.db", f"{user}_music_song_properties"
    with counting_online_writes(online_db, table) as written:  # `feast apply` created the online table
        full = materialize(path)
    full_written = written[0]
    new = pd.read_parquet(LIVE_FOREVER).assign(event_timestamp=pd.Timestamp.now(tz="UTC"))
    grown = pd.concat([songs.assign(event_timestamp=pd.to_datetime(songs["event_timestamp"], utc=True)), new])
    grown.to_parquet(path, index=False)
    s3.upload_file(str(path), "data", "song_properties.parquet")
    with counting_online_writes(online_db, table) as written:
        incremental = materialize(path)
    return {
        "rows": len(songs),
        "full": full,
        "full_written": full_written,
        "inc": incremental,
        "inc_written": written[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-full-charts", action="store_true", help="only the CI-size charts for retrieval")
    options = parser.parse_args()
    sys.path.insert(0, str(DATA_PREP.parent / "3-prod_datascience"))
    scratch = Path(tempfile.mkdtemp(prefix="feast-benchmark-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_", "FEAST_"))}
    env.update(JUKEBOX_LAB_HOME=str(scratch / "lab"), JUKEBOX_LAB_PORT_BASE=str(settings.free_port_base()))
    try:
        cli(env, "up")
        lab = settings.load(scratch / "lab")
        user = lab.default_user
        os.environ.update({**environment.lab_environment(lab, user)})
        keys = settings.s3_keys(lab, user)
        ensure_buckets(lab.s3_url(user), keys["access_key"], keys["secret_key"], ["data"])
        songs = pd.read_parquet(DATA_PREP / "song_properties.parquet")
        results = [
            ("today", measure_history("today", songs, lab, user, scratch)),
            ("10x history", measure_history("tenfold", ten_times_the_history(songs), lab, user, scratch)),
        ]
        print("\nhistory       rows in S3   full materialize (songs written)   after 1 new song (songs written)")
        for name, r in results:
            print(
                f"{name:<12} {r['rows']:>10,}   {r['full']:>8.1f} s ({r['full_written']:>6,})"
                f"            {r['inc']:>8.2f} s ({r['inc_written']})"
            )

        # Historical retrieval: the store now holds today's songs (the last one measured is 10x: reapply today's).
        measure_history("retrieval", songs, lab, user, scratch)
        charts = {"ci": DATA_PREP / "song_rankings.parquet"}
        if not options.skip_full_charts:
            print(f"Generating the full-size charts ({FULL_DAYS} days)…", file=sys.stderr)
            full = scratch / "song_rankings_full.parquet"
            generate_rankings(songs, days=FULL_DAYS).to_parquet(full, index=False)
            charts["full"] = full
        print("\ncharts  chart rows   training rows (song, country)   historical retrieval")
        with serve_folder(scratch) as url:
            for size, path in charts.items():
                if path.parent != scratch:
                    shutil.copy(path, scratch / path.name)
                seconds, rows = historical(f"{url}/{path.name}", scratch)
                chart_rows = len(pd.read_parquet(path, columns=["spotify_id"]))
                print(f"{size:<6} {chart_rows:>11,}   {rows:>29,}   {seconds:>8.1f} s")
        print(f"\n(features: {len(FEATURES)}; seed {SEED}; machine: {os.cpu_count()} cores)")
    finally:
        cli(env, "down")
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
