"""Benchmark: wall time of the local training pipeline, and the share spent outside the steps.

    python benchmarks/training_pipeline.py            # CI size (the shipped charts) and full size
    python benchmarks/training_pipeline.py --sizes ci

For each size it runs the chapter 3 pipeline with kfp.local (fixed seeds: the charts generator's
and the training's) in a fresh lab folder and prints:
- the wall time of the whole run;
- the steps' own work: for each step, from the moment kfp's executor loads the step's code to
  the moment it writes the step's outputs (imports, reading, training, writing);
- the rest, "outside the steps": the one check of the pins, each step's process start-up,
  kfp's executor start-up and orchestration.
"""

import argparse
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "3-prod_datascience"))

from jukebox import local_run  # noqa: E402
from jukebox.data_server import serve_folder  # noqa: E402
from jukebox.paths import DATA_PREP  # noqa: E402
from jukebox.rankings import CI_DAYS, FULL_DAYS, generate_rankings  # noqa: E402

_STAMP = re.compile(r"\[KFP Executor (\S+ \S+) INFO\]: (Loading KFP component|Wrote executor output file)")


def steps_own_seconds(log: str) -> float:
    """Sum over steps of (outputs written − code loaded), from the kfp executor's log lines."""
    total, started = 0.0, None
    for match in _STAMP.finditer(log):
        moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if match.group(2).startswith("Loading"):
            started = moment
        elif started is not None:
            total += (moment - started).total_seconds()
            started = None
    return total


def run_once(data_folder: Path) -> tuple[float, float]:
    from prod_train_save_pipeline import training_pipeline

    with tempfile.TemporaryDirectory() as lab, serve_folder(data_folder) as url:
        import os

        os.environ["JUKEBOX_LAB_HOME"] = lab
        os.environ["JUKEBOX_RAW_URL"] = url  # the steps' data URLs point at this folder, as at the lab's
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_LOCATION"):
            os.environ.pop(name, None)
        started = time.perf_counter()
        log_path = local_run.run(training_pipeline, {}).log_path
        wall = time.perf_counter() - started
        return wall, steps_own_seconds(log_path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=["ci", "full"], default=["ci", "full"])
    options = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in options.sizes:
            folder = Path(scratch) / size  # the data files under the workshop's names
            folder.mkdir()
            (folder / "song_properties.parquet").write_bytes((DATA_PREP / "song_properties.parquet").read_bytes())
            (folder / "song_rankings.parquet").write_bytes((DATA_PREP / "song_rankings.parquet").read_bytes())
            if size == "full":
                print(f"Generating the full-size charts ({FULL_DAYS} days)…", file=sys.stderr)
                songs = pd.read_parquet(folder / "song_properties.parquet")
                generate_rankings(songs, days=FULL_DAYS).to_parquet(folder / "song_rankings.parquet", index=False)
            charts = pd.read_parquet(folder / "song_rankings.parquet", columns=["spotify_id", "country"])
            pairs = len(charts.drop_duplicates())
            wall, own = run_once(folder)
            results.append((size, len(charts), pairs, wall, own))
    print("\nsize  chart rows  (song, country) pairs  wall time  steps' own work  outside the steps")
    for size, rows, pairs, wall, own in results:
        days = CI_DAYS if size == "ci" else FULL_DAYS
        print(
            f"{size:<5} {rows:>10,}  {pairs:>21,}  {wall:>8.1f}s  {own:>14.1f}s  "
            f"{wall - own:>8.1f}s ({(wall - own) / wall:.0%})   [{days} days]"
        )


if __name__ == "__main__":
    main()
