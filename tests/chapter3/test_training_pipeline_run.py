"""The whole chapter-3 pipeline, run on this machine with kfp.local, as the play button does."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from mlflow import MlflowClient
from pipelinetools import TRAINING_STEPS

from jukebox import local_run
from jukebox.data_server import serve_folder
from jukebox.paths import DATA_PREP, REPO_ROOT

CHAPTER_3 = REPO_ROOT / "3-prod_datascience"


def pip_freeze() -> str:
    return subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_play_button_trains_and_registers_a_model_and_installs_nothing(tmp_path):
    before = pip_freeze()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["JUKEBOX_LAB_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "prod_train_save_pipeline.py"],
        cwd=CHAPTER_3,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Outputs: registered_version = 1" in result.stdout, "the run gives back the version it registered"
    assert "Registered model jukebox version 1" in result.stdout
    assert pip_freeze() == before, "a local run must not change the installed packages"
    # Quiet: one line per step as it starts and ends; the executor's output is in the full log.
    console = result.stdout.splitlines()
    assert len(console) < 30, result.stdout
    assert sorted(line.split()[1] for line in console if line.startswith("  ✓ ")) == sorted(TRAINING_STEPS)
    (log,) = (tmp_path / "logs" / "pipelines").glob("*-kfp-training-pipeline.log")
    assert f"full log: {log}" in result.stdout and "[KFP Executor" in log.read_text()
    assert "pip install" not in log.read_text(), "the steps start without their pip prelude"

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    version = client.get_model_version("jukebox", "1")
    rankings_md5 = hashlib.md5((DATA_PREP / "song_rankings.parquet").read_bytes()).hexdigest()
    assert version.tags["data_rankings_md5"] == rankings_md5
    assert version.tags["version"] == json.loads((CHAPTER_3 / "default_parameters.json").read_text())["version"]
    assert float(version.tags["accuracy"]) > 3 / 72, "clearly better than guessing among 72 countries"


@pytest.fixture
def training_pipeline():
    from prod_train_save_pipeline import training_pipeline

    return lambda **changes: local_run.run(training_pipeline, changes)


@pytest.fixture
def lab_data(tmp_path, small_data, monkeypatch):
    """The folder a local run reads the workshop's data files from (the lab's ``JUKEBOX_RAW_URL``), to break."""
    folder = tmp_path / "raw"
    shutil.copytree(small_data, folder)
    with serve_folder(folder) as url:
        monkeypatch.setenv("JUKEBOX_RAW_URL", url)
        yield folder, url


@pytest.mark.slow
def test_unreachable_rankings_fail_at_fetch_and_register_nothing(training_pipeline, lab_data, mlflow_registry):
    folder, url = lab_data
    (folder / "song_rankings.parquet").unlink()
    with pytest.raises(local_run.PipelineFailed) as failure:
        training_pipeline()
    assert failure.value.step == "fetch-data"
    assert failure.value.reason == f"Cannot download the song rankings from {url}/song_rankings.parquet: HTTP 404."
    assert MlflowClient(mlflow_registry).search_model_versions() == []


@pytest.mark.slow
def test_out_of_range_properties_fail_at_validation_and_register_nothing(training_pipeline, lab_data, mlflow_registry):
    folder, _ = lab_data
    songs = pd.read_parquet(folder / "song_properties.parquet")
    songs.loc[songs.index[:40], "energy"] = 7.5
    songs.to_parquet(folder / "song_properties.parquet", index=False)
    with pytest.raises(local_run.PipelineFailed) as failure:
        training_pipeline()
    assert failure.value.step == "validate-data"
    assert failure.value.reason.startswith("The training data break a rule of the data contract: energy must be ≤ 1: ")
    assert MlflowClient(mlflow_registry).search_model_versions() == []
