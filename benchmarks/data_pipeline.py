"""Benchmark: chapter 5's data pipeline with DVC versioning, in a fresh local lab.

    python benchmarks/data_pipeline.py

Runs ``5-data-versioning/4-data_pipeline_with_dvc_versioning.py --local`` three times against one
lab: the first run (``dvc init``, ``import-url``), a run with changed data (the 2023 songs dropped,
a fixed change), and a run with the same data again. For each it prints the wall time and the
bytes written to S3: the sizes of the objects created or replaced in ``data`` and ``data-cache``
(listings with ETags and modification times, before and after the run).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pandas as pd

from jukebox.data_server import serve_folder
from jukebox.lab import environment, settings
from jukebox.paths import DATA_PREP, REPO_ROOT

SCRIPT = REPO_ROOT / "5-data-versioning" / "4-data_pipeline_with_dvc_versioning.py"


def objects(s3) -> dict[tuple[str, str], tuple[str, object, int]]:
    """Every object of the two buckets: (bucket, key) → (ETag, modified, size)."""
    listing = {}
    for bucket in ("data", "data-cache"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                listing[(bucket, item["Key"])] = (item["ETag"], item["LastModified"], item["Size"])
    return listing


def written(before: dict, after: dict) -> int:
    return sum(info[2] for key, info in after.items() if before.get(key) != info)


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="data-pipeline-benchmark-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_"))}
    env.update(JUKEBOX_LAB_HOME=str(scratch / "lab"), JUKEBOX_LAB_PORT_BASE=str(settings.free_port_base()))
    songs = pd.read_parquet(DATA_PREP / "song_properties.parquet")
    (scratch / "data").mkdir()
    songs[songs["event_timestamp"] >= "2024-01-01"].to_parquet(scratch / "data" / "changed.parquet", index=False)
    results = []
    try:
        subprocess.run([sys.executable, "-m", "jukebox.lab", "up"], env=env, check=True, capture_output=True)
        lab = settings.load(scratch / "lab")
        lab_env = {**env, **environment.lab_environment(lab)}
        creds = settings.s3_keys(lab)
        s3 = boto3.client(
            "s3",
            endpoint_url=lab.url("s3"),
            aws_access_key_id=creds["access_key"],
            aws_secret_access_key=creds["secret_key"],
            region_name="us-east-1",
        )
        for bucket in ("data", "data-cache"):
            s3.create_bucket(Bucket=bucket)
        repo_url = f"{lab.git_url}/{lab.default_user}/jukebox.git"
        with serve_folder(scratch / "data") as changed_url:
            runs = [
                ("first run", f"{lab.raw_url}/song_properties.parquet"),
                ("changed data", f"{changed_url}/changed.parquet"),
                ("unchanged data", f"{changed_url}/changed.parquet"),
            ]
            for label, dataset_url in runs:
                before = objects(s3)
                started = time.perf_counter()
                subprocess.run(
                    [
                        sys.executable,
                        SCRIPT.name,
                        "--local",
                        "--set",
                        f"dataset_url={dataset_url}",
                        "--set",
                        f"repo_url={repo_url}",
                    ],
                    cwd=SCRIPT.parent,
                    env=lab_env,
                    check=True,
                    capture_output=True,
                )
                results.append((label, time.perf_counter() - started, written(before, objects(s3))))
    finally:
        subprocess.run([sys.executable, "-m", "jukebox.lab", "down"], env=env, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'run':<16} {'wall time':>9}  bytes written to S3 (data + data-cache)")
    for label, seconds, size in results:
        print(f"{label:<16} {seconds:>8.1f}s  {size:,}")


if __name__ == "__main__":
    main()
