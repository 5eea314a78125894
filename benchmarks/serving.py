"""Benchmark: online prediction by song id, through the transformer, the online store and the predictor.

    python benchmarks/serving.py [--requests 2000]

In a temporary folder it builds what the lab serves from: a model trained by the pipeline's own
steps on the small data (5 days of charts), and a Feast store (SQLite registry and online store, as
the lab's) with all 14,245 songs materialized. It starts the predictor and the transformer (the
transformer reading the online store in its own process, as in the lab) on free ports of
127.0.0.1, and measures, for 1 and 16 concurrent clients (each on one kept-alive connection):

- by song id through the transformer (transformer + online store + predictor);
- the Jukebox page's "what if" sliders: a song's raw properties through the transformer (its
  scaler + predictor, no online read), one client, as the page asks (one request at a time);
- the predictor alone, with the named, scaled inputs of one song;
- Feast's own online read alone, in this process (one song, the model's 13 features).

It prints p50 and p99 latency and the throughput. The songs asked for are drawn with a fixed seed.
The goals: p99 ≤ 10 ms for one client by song id; the sliders within 2× of that (p50 and p99).
The servers are stopped and the folder removed.
"""

import argparse
import contextlib
import http.client
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jukebox.data_contract import FEATURES
from jukebox.data_server import serve_folder
from jukebox.paths import DATA_PREP, REPO_ROOT
from jukebox.rankings import generate_rankings

sys.path[:0] = [str(REPO_ROOT / "3-prod_datascience"), str(REPO_ROOT / "tests")]
from servingtools import (  # noqa: E402
    USER,
    Server,
    environment,
    features_request,
    ids_request,
    make_feature_repo,
    train_small_model,
)

SEED = 11
CLIENTS = (1, 16)


def train(folder: Path) -> Path:
    """The pipeline's steps on the small data; returns a folder with model.onnx, scaler.pkl, label_encoder.pkl."""
    songs = pd.read_parquet(DATA_PREP / "small_song_properties.parquet")
    generate_rankings(songs, days=5).to_parquet(folder / "song_rankings.parquet", index=False)
    songs.to_parquet(folder / "song_properties.parquet", index=False)
    defaults = json.loads((REPO_ROOT / "3-prod_datascience" / "default_parameters.json").read_text())
    with serve_folder(folder) as url, contextlib.redirect_stdout(io.StringIO()):
        a = train_small_model(folder, defaults["hyperparameters"], data_url=url)
    model = folder / "model-v1"
    model.mkdir()
    for name, artifact in (
        ("model.onnx", "onnx_model"),
        ("scaler.pkl", "scaler"),
        ("label_encoder.pkl", "label_encoder"),
    ):
        shutil.copy(a[artifact].path, model / name)
    return model


def measure(url: str, bodies: list[bytes], clients: int) -> dict:
    """POST ``bodies`` to the infer URL from ``clients`` threads, each on its own kept-alive connection."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    failures: list[int] = []
    shares = [bodies[start::clients] for start in range(clients)]

    def client(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {"content-type": "application/json"}
        for body in share:
            started = time.perf_counter()
            connection.request("POST", "/v2/models/jukebox/infer", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            latencies.append(time.perf_counter() - started)
            if answer.status != 200:
                failures.append(answer.status)
        connection.close()

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    assert not failures, f"{len(failures)} requests failed: {sorted(set(failures))}"
    return summary(latencies, wall)


def summary(latencies: list[float], wall: float) -> dict:
    milliseconds = np.array(latencies) * 1000
    return {
        "n": len(latencies),
        "p50": float(np.percentile(milliseconds, 50)),
        "p99": float(np.percentile(milliseconds, 99)),
        "rate": len(latencies) / wall,
    }


def feast_read(repo: Path, ids: list[str]) -> dict:
    """Feast's online read of one song (the model's 13 features), in this process, one after another."""
    from feast import FeatureStore

    with environment(username=USER, FEAST_FS_YAML_FILE_PATH=str(repo / "feature_store.yaml")):
        store = FeatureStore(repo_path=str(repo))
        refs = [f"song_properties:{name}" for name in FEATURES]
        store.get_online_features(features=refs, entity_rows=[{"spotify_id": ids[0]}]).to_dict()  # warm
        latencies = []
        started = time.perf_counter()
        for song in ids:
            begin = time.perf_counter()
            store.get_online_features(features=refs, entity_rows=[{"spotify_id": song}]).to_dict()
            latencies.append(time.perf_counter() - begin)
        return summary(latencies, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    options = parser.parse_args()
    rng = np.random.default_rng(SEED)
    scratch = Path(tempfile.mkdtemp(prefix="serving-benchmark-"))
    try:
        print("Training a model and filling a feature store…", file=sys.stderr)
        model = train(scratch)
        songs = pd.read_parquet(DATA_PREP / "song_properties.parquet")
        repo = make_feature_repo(scratch / "store", DATA_PREP / "song_properties.parquet")
        ids = rng.choice(songs["spotify_id"].to_numpy(), size=options.requests).tolist()
        scaled = rng.normal(size=(options.requests, len(FEATURES)))
        by_id = [json.dumps(ids_request(song)).encode() for song in ids]
        properties = songs.drop_duplicates("spotify_id", keep="last").set_index("spotify_id")[FEATURES]
        sliders = [
            json.dumps(features_request({name: [float(properties.at[song, name])] for name in FEATURES})).encode()
            for song in ids
        ]
        by_features = [
            json.dumps(features_request({name: [row[i]] for i, name in enumerate(FEATURES)})).encode() for row in scaled
        ]
        folder = ["--model_dir", str(model)]
        env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_", "FEAST_"))}
        logs = scratch / "logs"
        logs.mkdir()
        with Server.serving("predictor", folder, env, logs / "predictor.log") as predictor:
            store_env = {**env, "username": USER, "FEAST_FS_YAML_FILE_PATH": str(repo / "feature_store.yaml")}
            arguments = ["--predictor_host", f"127.0.0.1:{predictor.port}", *folder]
            with Server.serving("transformer", arguments, store_env, logs / "transformer.log") as transformer:
                predictor.ready(), transformer.ready()
                rows = []
                for name, server, bodies in (
                    ("by song id (transformer)", transformer, by_id),
                    ("predictor alone", predictor, by_features),
                ):
                    measure(server.url, bodies[:200], 1)  # warm up: connections, caches, first calls
                    for clients in CLIENTS:
                        rows.append((name, clients, measure(server.url, bodies, clients)))
                measure(transformer.url, sliders[:200], 1)  # warm up
                rows.append(("sliders (transformer)", 1, measure(transformer.url, sliders, 1)))
        rows.append(("Feast online read alone", 1, feast_read(repo, ids)))
        print(f"\n{'path':<26} {'clients':>7} {'requests':>8} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7}")
        for name, clients, r in rows:
            print(f"{name:<26} {clients:>7} {r['n']:>8,} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['rate']:>7.0f}")
        goal = rows[0][2]["p99"]
        print(f"\nGoal p99 <= 10 ms by song id, one client: {goal:.2f} ms ({'met' if goal <= 10 else 'missed'}).")
        by_id, slider = rows[0][2], next(r for name, _, r in rows if name.startswith("sliders"))
        ratios = {key: slider[key] / by_id[key] for key in ("p50", "p99")}
        within = all(ratio <= 2 for ratio in ratios.values())
        print(
            f"Sliders against by song id, one client: p50 {ratios['p50']:.2f}×, p99 {ratios['p99']:.2f}× "
            f"({'within' if within else 'over'} 2×)."
        )
        print(f"(seed {SEED}; {len(songs):,} songs in the online store; machine: {os.cpu_count()} cores)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
